"""Fiscal receipts into BAS retail receipts (``Document_ЧекККМ``), where the account sends them
there: one posted receipt per fiscalised payment, based on the order, with the fiscal number,
date and link; a repeated webhook and a retry after a lost answer make nothing twice; fiscal
data that arrives later is patched in once; BAS Accounting, which has no such document, says
why nothing ran — in the follow-up log and in the admin."""

# ruff: noqa: F811 - the acc_shop fixture of test_accounting is imported to be used by name

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from documents.models import DocumentAction, FiscalTarget, FollowupSettings
from integration.pipelines.retail_receipts import receipt_link_id
from mappings.models import Correspondence, KeyCrmDirectory
from staging.services.queue import records_requeue
from tests.documents.helpers import PAYMENT_EVENT, set_up_followups, webhook, work
from tests.documents.test_accounting import acc_shop  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db

ORDERS = "Document_ЗаказПокупателя"
RECEIPTS = "Document_ЧекККМ"
BANK = "Document_ПоступлениеНаСчет"
RECEIPT = {"fiscal_code": "FN-0001", "fiscal_date": "2025-03-14 09:16:00",
           "receipt_url": "https://check.example/FN-0001", "payment_cash": False}


@pytest.fixture
def receipts(shop, keycrm, bas):
    """Fiscal data into retail receipts on a fiscal register (payments not into BAS)."""
    ref = bas.reference("sb")
    ids = keycrm.seed({"payment_methods": [{"name": "Картка"}, {"name": "Готівка"}]})
    methods = dict(zip(("card", "cash"), ids["payment_methods"], strict=True))
    set_up_followups(account=shop.account, ref=ref, methods=methods, statuses=shop.statuses,
                     shipped="Відправлено", cancelled="Скасовано")
    org = ref["Catalog_Организации"]["main"]
    seeded = bas.seed("sb", {
        "Catalog_СтруктурныеЕдиницы": [{"Description": "Магазин", "Организация_Key": org,
                                         "ТипСтруктурнойЕдиницы": "Розница"}],
        "Catalog_КассыККМ": [{"Description": "ПРРО магазину", "Организация_Key": org}]})
    [store], [register] = seeded["Catalog_СтруктурныеЕдиницы"], seeded["Catalog_КассыККМ"]
    settings = FollowupSettings.objects.get(account=shop.account)
    # A retail receipt books the money too: payment documents stay off (the settings refuse
    # both at once).
    settings.payments_to_bas = False
    settings.fiscal_target = FiscalTarget.RETAIL_RECEIPT
    settings.receipt_cash_register_ref, settings.receipt_store_ref = register, store
    settings.full_clean()
    settings.save()
    return methods, register, store


def _paid_order(shop, keycrm, methods, **payment) -> tuple[int, int]:
    order_id = shop.order(keycrm, status="Підтверджено", payments=[
        {"amount": 500, "payment_method_id": methods["card"], "status": "paid",
         "transaction_uuid": "tx-500", **payment}])
    [payment_id] = [p["id"] for p in keycrm.store.orders[order_id]["payments"]]
    return order_id, payment_id


def _fiscalise(keycrm, order_id: int, status: str, result: dict) -> None:
    """What KeyCRM does when its fiscalisation service answers: the payment gets its status
    and result (no public API call sets them)."""
    with keycrm.lock:
        order = keycrm.store.orders[order_id]
        [payment] = order["payments"]
        payment["fiscal_status"], payment["fiscal_result"] = status, dict(result)
        # The change is newer than anything before it, as KeyCRM's updated_at says.
        moment = max(order["updated_at"], keycrm.store.now()) + dt.timedelta(seconds=1)
        order["updated_at"] = payment["updated_at"] = moment


def _receipt_posts(bas) -> int:
    return len([r for r in bas.requests(method="POST", path_contains=RECEIPTS)
                if not r["path"].endswith(("/Post", "/Post()"))])


def test_a_fiscalised_payment_becomes_one_posted_receipt(client, shop, receipts, keycrm, bas):
    methods, register, store = receipts
    order_id, payment_id = _paid_order(shop, keycrm, methods, fiscal_status="done",
                                       fiscal_result=RECEIPT)
    webhook(client, shop.account, keycrm, order_id)
    [record] = work()
    assert record.state == "done", record.message
    [order] = bas.objects("sb", ORDERS)
    [receipt] = bas.objects("sb", RECEIPTS)
    assert (receipt["Posted"], receipt["СуммаДокумента"], receipt["Статус"]) == (
        True, 500, "Пробит")
    assert (receipt["НомерЧекаККМ"], receipt["СсылкаНаЧек"]) == (
        "FN-0001", "https://check.example/FN-0001")
    assert receipt["Date"] == "2025-03-14T11:16:00"  # KeyCRM's UTC in the base's Kyiv time
    assert (receipt["ДокументОснование"], receipt["ДокументОснование_Type"]) == (
        order["Ref_Key"], f"StandardODATA.{ORDERS}")
    assert (receipt["КассаККМ_Key"], receipt["СтруктурнаяЕдиница_Key"]) == (register, store)
    assert (receipt["Организация_Key"], receipt["ВалютаДокумента_Key"]) == (
        order["Организация_Key"], order["ВалютаДокумента_Key"])
    assert [(r["Номенклатура_Key"], r["Количество"], r["Цена"], r["Сумма"])
            for r in receipt["Запасы"]] == [(shop.items["TSH-BLK"], 1, 100, 100),
                                            (shop.items["CAP-1"], 2, 200, 400)]
    assert [(r["Сумма"], r["СсылочныйНомер"]) for r in receipt["ОплатаПлатежнымиКартами"]] == [
        (500, "tx-500")]
    assert receipt["Комментарий"] == f"KeyCRM payment #{payment_id}"
    link = Correspondence.objects.get(account=shop.account, directory=KeyCrmDirectory.PAYMENT,
                                      keycrm_id=receipt_link_id(payment_id))
    assert (link.bas_entity_set, str(link.bas_ref)) == (RECEIPTS, receipt["Ref_Key"])
    # The receipt books the money: no payment document counts it a second time.
    assert bas.objects("sb", BANK) == []
    assert not Correspondence.objects.filter(account=shop.account, keycrm_id=payment_id,
                                             directory=KeyCrmDirectory.PAYMENT).exists()
    assert sorted(DocumentAction.objects.values_list("action", "outcome", "key")) == sorted([
        ("retail_receipt", "done", f"retail_receipt:{payment_id}"),
        ("fiscal", "done", DocumentAction.objects.get(action="fiscal").key)])
    assert DocumentAction.objects.get(action="fiscal").key.startswith(
        f"receipt_fiscal:{payment_id}:")

    # A repeated webhook writes nothing again.
    webhook(client, shop.account, keycrm, order_id, event=PAYMENT_EVENT)
    assert [r.state for r in work()] == ["done"]
    assert len(bas.objects("sb", RECEIPTS)) == 1
    assert bas.objects("sb", BANK) == []
    assert _receipt_posts(bas) == 1
    assert bas.requests(method="PATCH", path_contains=RECEIPTS) == []


def test_a_lost_answer_and_a_retry_make_one_receipt(client, shop, receipts, keycrm, bas):
    methods, _register, _store = receipts
    order_id, payment_id = _paid_order(shop, keycrm, methods, fiscal_status="done",
                                       fiscal_result=RECEIPT)
    # The create commits and its answer is lost; then the posting's answer is lost too.
    bas.set_faults(drop_after_commit_count=2, only_methods=["POST"], path_contains=RECEIPTS)
    webhook(client, shop.account, keycrm, order_id)
    [record] = work()
    assert record.state == "retry", record.message
    action = DocumentAction.objects.get(action="retail_receipt")
    assert (action.outcome, action.attempts) == ("retry", 1)
    [receipt] = bas.objects("sb", RECEIPTS)
    assert not Correspondence.objects.filter(keycrm_id=receipt_link_id(payment_id)).exists()

    bas.set_faults()
    records_requeue(records=[record], who="test")
    [again] = work()
    assert again.state == "done", again.message
    [receipt] = bas.objects("sb", RECEIPTS)
    assert receipt["Posted"] is True
    assert _receipt_posts(bas) == 1
    action.refresh_from_db()
    assert (action.outcome, action.attempts, action.document_number) == (
        "done", 2, receipt["Number"])
    assert "found in BAS after an earlier attempt" in action.reason
    assert str(Correspondence.objects.get(keycrm_id=receipt_link_id(payment_id)).bas_ref) == \
        receipt["Ref_Key"]


def test_fiscal_data_arriving_later_is_patched_in_once(client, shop, receipts, keycrm, bas):
    methods, _register, _store = receipts
    order_id, _payment_id = _paid_order(shop, keycrm, methods)
    webhook(client, shop.account, keycrm, order_id, event=PAYMENT_EVENT)
    [record] = work()
    assert record.state == "done", record.message
    assert bas.objects("sb", RECEIPTS) == []  # paid, not fiscalised yet: no receipt
    assert not DocumentAction.objects.filter(action="retail_receipt").exists()

    # The fiscal service answered with the receipt's link first …
    _fiscalise(keycrm, order_id, "pending", {"receipt_url": RECEIPT["receipt_url"]})
    webhook(client, shop.account, keycrm, order_id, event=PAYMENT_EVENT)
    assert [r.state for r in work()] == ["done"]
    [receipt] = bas.objects("sb", RECEIPTS)
    assert (receipt["СсылкаНаЧек"], receipt["НомерЧекаККМ"], receipt["Posted"]) == (
        RECEIPT["receipt_url"], "", True)

    # … its fiscal number and date later.
    _fiscalise(keycrm, order_id, "done", RECEIPT)
    webhook(client, shop.account, keycrm, order_id, event=PAYMENT_EVENT)
    [record] = work()
    assert record.state == "done", record.message
    [receipt] = bas.objects("sb", RECEIPTS)
    assert (receipt["НомерЧекаККМ"], receipt["СсылкаНаЧек"], receipt["Posted"]) == (
        "FN-0001", RECEIPT["receipt_url"], True)
    assert receipt["Date"] == "2025-03-14T11:16:00"
    assert len(bas.requests(method="PATCH", path_contains=RECEIPTS)) == 1
    patched = DocumentAction.objects.filter(action="fiscal", outcome="done").latest("id")
    assert "НомерЧекаККМ" in patched.reason

    # The same webhook again is dropped as a duplicate; processing its record again patches
    # nothing.
    webhook(client, shop.account, keycrm, order_id, event=PAYMENT_EVENT)
    records_requeue(records=[record], who="test")
    assert [r.state for r in work()] == ["done"]
    assert len(bas.requests(method="PATCH", path_contains=RECEIPTS)) == 1
    assert _receipt_posts(bas) == 1


def test_a_part_payment_is_not_needed_and_the_log_says_why(client, shop, receipts, keycrm,
                                                           bas):
    """No person can make the portal split an order's goods: the record ends, and the
    follow-up log keeps the reason (no row waiting for ever)."""
    methods, _register, _store = receipts
    order_id = shop.order(keycrm, status="Підтверджено", payments=[
        {"amount": 200, "payment_method_id": methods["card"], "status": "paid",
         "fiscal_status": "done", "fiscal_result": RECEIPT}])
    webhook(client, shop.account, keycrm, order_id)
    [record] = work()
    assert record.state == "done", record.message
    assert bas.objects("sb", RECEIPTS) == []
    action = DocumentAction.objects.get(action="retail_receipt")
    assert (action.outcome, action.attempts) == ("skipped", 1)
    assert "covers only part of the order (500.0)" in action.reason
    records_requeue(records=[record], who="test")
    assert [r.state for r in work()] == ["done"]
    action.refresh_from_db()
    assert action.attempts == 1
    assert bas.requests(path_contains=RECEIPTS) == []


def test_accounting_has_no_retail_receipt_and_says_why(client, shop, acc_shop, keycrm, bas):
    _ref, methods, _items, _contract = acc_shop
    # Chosen while the account still used a Small Business base (the admin refuses it now).
    FollowupSettings.objects.filter(account=shop.account).update(
        fiscal_target=FiscalTarget.RETAIL_RECEIPT)
    order_id = shop.order(keycrm, status="Підтверджено", payments=[
        {"amount": 500, "payment_method_id": methods["card"], "status": "paid",
         "fiscal_status": "done", "fiscal_result": RECEIPT}])
    webhook(client, shop.account, keycrm, order_id)
    [record] = work()
    assert record.state == "waiting"
    action = DocumentAction.objects.get(action="retail_receipt")
    assert action.outcome == "waiting"
    assert "BAS Accounting (PROF/CORP) configuration has no retail receipt document" in \
        action.reason
    assert "send fiscal data to the payment document instead" in action.reason
    [bank] = bas.objects("acc", "Document_ПоступлениеНаРасчетныйСчет")
    assert (bank["Posted"], bank["НомерВходящегоДокумента"]) == (True, "")
    assert bas.requests(path_contains=RECEIPTS) == []


def test_the_admin_says_retail_receipts_are_not_available_in_accounting(admin_client, shop,
                                                                         acc_shop):
    settings = FollowupSettings.objects.get(account=shop.account)
    url = reverse("admin:documents_followupsettings_change", args=[settings.pk])
    form = {"account": shop.account.pk, "payments_to_bas": "on",
            "fiscal_target": FiscalTarget.RETAIL_RECEIPT,
            "fiscal_number_attribute": "", "fiscal_date_attribute": "",
            "fiscal_link_attribute": "", "receipt_number_attribute": "НомерЧекаККМ",
            "receipt_date_attribute": "Date", "receipt_link_attribute": "СсылкаНаЧек",
            "receipt_cash_register_ref": "", "receipt_store_ref": "", "post_receipts": "on"}
    response = admin_client.post(url, form)
    assert response.status_code == 200
    assert "Retail receipts are not available for BAS Accounting (PROF/CORP)" in \
        response.content.decode()
    settings.refresh_from_db()
    assert settings.fiscal_target == FiscalTarget.PAYMENT_DOCUMENT
    form["fiscal_target"] = FiscalTarget.PAYMENT_DOCUMENT
    assert admin_client.post(url, form).status_code == 302
