"""An order's life in BAS Small Business: paid (bank and cash receipts with the order in the
payment breakdown, fiscal receipt in the chosen attributes) → shipped (a sales invoice based on
the order) → cancelled (a return based on the invoice, the order closed as cancelled), and a
cancelled payment un-posted. Repeated webhooks and retries create nothing twice."""

from __future__ import annotations

import pytest

from documents.models import DocumentAction
from integration.keycrm.client import KeyCrmClient
from mappings.models import Correspondence, KeyCrmDirectory
from staging.services.queue import records_requeue
from tests.documents.helpers import PAYMENT_EVENT, set_up_followups, webhook, work

pytestmark = pytest.mark.django_db

ORDERS = "Document_ЗаказПокупателя"
BANK = "Document_ПоступлениеНаСчет"
CASH = "Document_ПоступлениеВКассу"
INVOICES = "Document_РасходнаяНакладная"
RETURNS = "Document_ПриходнаяНакладная"
RECEIPT = {"fiscal_code": "FN-0001", "fiscal_date": "2025-03-14 09:16:00",
           "receipt_url": "https://check.example/FN-0001"}


@pytest.fixture
def sb(shop, keycrm, bas):
    ref = bas.reference("sb")
    ids = keycrm.seed({"payment_methods": [{"name": "Картка"}, {"name": "Готівка"}]})
    methods = dict(zip(("card", "cash"), ids["payment_methods"], strict=True))
    set_up_followups(account=shop.account, ref=ref, methods=methods, statuses=shop.statuses,
                     shipped="Відправлено", cancelled="Скасовано")
    return ref, methods


def _one(bas, entity_set):
    [document] = bas.objects("sb", entity_set)
    return document


def test_paid_shipped_cancelled_in_small_business(client, shop, sb, keycrm, bas):
    ref, methods = sb
    order_id = shop.order(keycrm, status="Підтверджено", payments=[
        {"amount": 400, "payment_method_id": methods["card"], "status": "paid",
         "fiscal_status": "done", "fiscal_result": RECEIPT},
        {"amount": 100, "payment_method_id": methods["cash"], "status": "paid"}])
    card_id, cash_id = (p["id"] for p in keycrm.store.orders[order_id]["payments"])
    webhook(client, shop.account, keycrm, order_id)
    [record] = work()
    assert record.state == "done", record.message
    order = _one(bas, ORDERS)
    bank, cash = _one(bas, BANK), _one(bas, CASH)
    assert (bank["Posted"], bank["СуммаДокумента"], bank["ВидОперации"]) == (True, 400,
                                                                            "ОтПокупателя")
    assert bank["БанковскийСчет_Key"] == ref["Catalog_БанковскиеСчета"]["main"]
    assert bank["Контрагент_Key"] == order["Контрагент_Key"]
    assert bank["Комментарий"] == f"KeyCRM payment #{card_id}"
    assert [(r["Заказ"], r["Заказ_Type"], r["СуммаПлатежа"]) for r in bank["РасшифровкаПлатежа"]
            ] == [(order["Ref_Key"], f"StandardODATA.{ORDERS}", 400)]
    assert (bank["НомерВходящегоДокумента"], bank["НазначениеПлатежа"]) == (
        "FN-0001", "https://check.example/FN-0001")
    assert bank["ДатаВходящегоДокумента"].startswith("2025-03-14")
    assert (cash["Posted"], cash["СуммаДокумента"], cash["Касса_Key"]) == (
        True, 100, ref["Catalog_Кассы"]["main"])
    assert cash["Комментарий"] == f"KeyCRM payment #{cash_id}"
    assert cash["РасшифровкаПлатежа"][0]["Заказ"] == order["Ref_Key"]

    # A payment webhook for the same order writes no payment again.
    webhook(client, shop.account, keycrm, order_id, event=PAYMENT_EVENT)
    assert [r.state for r in work()] == ["done"]
    assert len(bas.objects("sb", BANK)) == len(bas.objects("sb", CASH)) == 1

    keycrm.set_order_status(order_id, shop.statuses["Відправлено"])
    webhook(client, shop.account, keycrm, order_id)
    [record] = work()
    assert record.state == "done", record.message
    invoice = _one(bas, INVOICES)
    assert invoice["Posted"] is True
    assert (invoice["ДокументОснование"], invoice["ДокументОснование_Type"]) == (
        order["Ref_Key"], f"StandardODATA.{ORDERS}")
    assert invoice["Заказ"] == order["Ref_Key"]
    assert invoice["ВидОперации"] == "ПродажаПокупателю"
    assert (invoice["Контрагент_Key"], invoice["Организация_Key"]) == (
        order["Контрагент_Key"], order["Организация_Key"])
    assert invoice["СтруктурнаяЕдиница_Key"] == ref["Catalog_СтруктурныеЕдиницы"]["warehouse"]
    assert [(r["Номенклатура_Key"], r["Количество"], r["Цена"], r["Сумма"], r["Заказ"])
            for r in invoice["Запасы"]] == [
        (shop.items["TSH-BLK"], 1, 100, 100, order["Ref_Key"]),
        (shop.items["CAP-1"], 2, 200, 400, order["Ref_Key"])]
    assert invoice["СуммаДокумента"] == order["СуммаДокумента"] == 500

    # A retry after a crash between the create and the log finds the invoice in BAS.
    DocumentAction.objects.filter(action="ship").update(outcome="started")
    records_requeue(records=[record], who="test")
    [again] = work()
    assert again.state == "done", again.message
    assert len(bas.objects("sb", INVOICES)) == 1
    ship = DocumentAction.objects.get(action="ship")
    assert (ship.outcome, ship.document_number) == ("skipped", invoice["Number"])
    assert "already exists" in ship.reason

    keycrm.set_order_status(order_id, shop.statuses["Скасовано"])
    webhook(client, shop.account, keycrm, order_id)
    [record] = work()
    assert record.state == "done", record.message
    returned = _one(bas, RETURNS)
    assert (returned["Posted"], returned["ВидОперации"]) == (
        True, "ВозвратОтПокупателя")
    assert (returned["ДокументОснование"], returned["ДокументОснование_Type"]) == (
        invoice["Ref_Key"], f"StandardODATA.{INVOICES}")
    assert returned["СуммаДокумента"] == 500
    assert [(r["Номенклатура_Key"], r["Количество"]) for r in returned["Запасы"]] == [
        (shop.items["TSH-BLK"], 1), (shop.items["CAP-1"], 2)]
    closed = _one(bas, ORDERS)
    assert closed["СостояниеЗаказа"] == ref["Catalog_СостоянияЗаказовПокупателей"]["Завершен"]
    assert (closed["ВариантЗавершения"], closed["ПричинаОтмены_Key"], closed["Posted"]) == (
        "Отменен", ref["Catalog_ПричиныОтменыЗаказа"]["refused"], True)

    # The card payment is cancelled in KeyCRM: its document is un-posted and marked.
    keycrm_client = KeyCrmClient.for_account(shop.account)
    keycrm_client.update_order_payment(order_id, card_id, {"status": "canceled"})
    keycrm_client.close()
    webhook(client, shop.account, keycrm, order_id, event=PAYMENT_EVENT)
    [record] = work()
    assert record.state == "done", record.message
    bank = _one(bas, BANK)
    assert bank["Posted"] is False
    assert bank["Комментарий"].startswith("[скасовано в KeyCRM]")
    assert _one(bas, CASH)["Posted"] is True
    assert len(bas.objects("sb", RETURNS)) == len(bas.objects("sb", INVOICES)) == 1
    assert sorted(DocumentAction.objects.values_list("action", "outcome")) == sorted([
        ("payment", "done"), ("payment", "done"), ("fiscal", "done"), ("ship", "skipped"),
        ("return", "done"), ("close", "done"), ("payment_cancel", "done")])


def test_a_payment_method_without_correspondence_waits_and_says_why(client, shop, sb, keycrm,
                                                                    bas):
    other = keycrm.seed({"payment_methods": [{"name": "Бонуси"}]})["payment_methods"][0]
    order_id = shop.order(keycrm, payments=[{"amount": 50, "payment_method_id": other,
                                             "status": "paid"}])
    webhook(client, shop.account, keycrm, order_id)
    [record] = work()
    assert record.state == "waiting"
    assert f"No payment method correspondence for KeyCRM payment method {other}" in \
        record.message
    assert len(bas.objects("sb", ORDERS)) == 1
    assert bas.objects("sb", BANK) == bas.objects("sb", CASH) == []
    action = DocumentAction.objects.get(action="payment")
    assert action.outcome == "waiting"


def test_a_payment_whose_posting_failed_is_posted_on_the_retry(client, shop, sb, keycrm, bas):
    _ref, methods = sb
    order_id = shop.order(keycrm, status="Підтверджено", payments=[
        {"amount": 400, "payment_method_id": methods["card"], "status": "paid"}])
    [payment_id] = [p["id"] for p in keycrm.store.orders[order_id]["payments"]]
    # BAS refuses the payment's posting once (the document itself was written).
    bas.set_faults(error_count=1, error_status=500, only_methods=["POST"],
                   path_contains=f"{BANK}(")
    webhook(client, shop.account, keycrm, order_id)
    [record] = work()
    assert record.state == "retry", record.message
    assert _one(bas, BANK)["Posted"] is False
    assert not Correspondence.objects.filter(directory=KeyCrmDirectory.PAYMENT,
                                             keycrm_id=payment_id).exists()

    bas.set_faults()
    records_requeue(records=[record], who="test")
    [again] = work()
    assert again.state == "done", again.message
    bank = _one(bas, BANK)  # still one document: found by its marker, then posted
    assert bank["Posted"] is True
    assert str(Correspondence.objects.get(directory=KeyCrmDirectory.PAYMENT,
                                          keycrm_id=payment_id).bas_ref) == bank["Ref_Key"]
