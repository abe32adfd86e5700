"""A payment entered in BAS for an order linked to KeyCRM appears in KeyCRM once: the check
queues it once, the sender adds it once (also after a lost answer), and the order's own
payment flow never writes it back into BAS."""

from __future__ import annotations

import pytest

from documents.models import DocumentAction
from documents.payment_check import bas_payments_check_run
from mappings.models import Correspondence
from staging.models import OutboxMessage
from staging.services.outbox import outbox_requeue
from tests.documents.helpers import PAYMENT_EVENT, send_outbox, set_up_followups, webhook, work

pytestmark = pytest.mark.django_db

ORDERS = "Document_ЗаказПокупателя"
BANK = "Document_ПоступлениеНаСчет"


@pytest.fixture
def linked_order(client, shop, keycrm, bas):
    ref = bas.reference("sb")
    ids = keycrm.seed({"payment_methods": [{"name": "Картка"}, {"name": "Готівка"}]})
    methods = dict(zip(("card", "cash"), ids["payment_methods"], strict=True))
    set_up_followups(account=shop.account, ref=ref, methods=methods, statuses=shop.statuses,
                     shipped="Відправлено", cancelled="Скасовано")
    order_id = shop.order(keycrm)
    webhook(client, shop.account, keycrm, order_id)
    [record] = work()
    assert record.state == "done", record.message
    [order] = bas.objects("sb", ORDERS)
    [payment_ref] = bas.seed("sb", {BANK: [{
        "Date": order["Date"], "Posted": True, "ВидОперации": "ОтПокупателя",
        "Организация_Key": order["Организация_Key"],
        "БанковскийСчет_Key": ref["Catalog_БанковскиеСчета"]["main"],
        "Контрагент_Key": order["Контрагент_Key"], "СуммаДокумента": 250,
        "ВалютаДенежныхСредств_Key": ref["Catalog_Валюты"]["UAH"],
        "Статья_Key": ref["Catalog_СтатьиДвиженияДенежныхСредств"]["from_customers"],
        "РасшифровкаПлатежа": [{"LineNumber": "1", "Заказ": order["Ref_Key"],
                                "Заказ_Type": f"StandardODATA.{ORDERS}",
                                "СуммаРасчетов": 250, "СуммаПлатежа": 250}]}]})[BANK]
    return order_id, payment_ref, methods


def test_a_bas_payment_appears_once_in_keycrm(client, shop, keycrm, bas, linked_order):
    order_id, payment_ref, methods = linked_order
    [result] = bas_payments_check_run()
    assert (result.read, result.queued) == (1, 1)
    [again] = bas_payments_check_run()
    assert (again.queued, again.known) == (0, 1)
    [message] = send_outbox()
    assert message.state == "sent", message.message
    payments = keycrm.store.orders[order_id]["payments"]
    assert [(float(p["amount"]), p["payment_method_id"], p["status"]) for p in payments] == [
        (250.0, methods["card"], "paid")]
    assert payment_ref in payments[0]["description"]
    link = Correspondence.objects.get(account=shop.account, directory="payment",
                                      keycrm_id=payments[0]["id"])
    assert (link.bas_entity_set, str(link.bas_ref), link.origin) == (BANK, payment_ref,
                                                                     "imported")
    [third] = bas_payments_check_run()
    assert (third.queued, third.known) == (0, 1)
    assert OutboxMessage.objects.count() == 1

    # KeyCRM tells the portal about the new payment: nothing is written back into BAS.
    webhook(client, shop.account, keycrm, order_id, event=PAYMENT_EVENT)
    [record] = work()
    assert record.state == "done", record.message
    assert len(bas.objects("sb", BANK)) == 1


def test_a_lost_answer_adds_the_payment_once(client, shop, keycrm, bas, linked_order):
    order_id, _, _ = linked_order
    bas_payments_check_run()
    keycrm.set_faults(drop_after_commit_count=1, only_methods=["POST"],
                      path_contains="/payment")
    [first] = send_outbox()
    assert first.state == "retry", first.message
    OutboxMessage.objects.filter(pk=first.pk).update(not_before=None)
    [second] = send_outbox()
    assert second.state == "sent", second.message
    assert second.result["found"] is True
    assert len(keycrm.store.orders[order_id]["payments"]) == 1


def test_the_portals_own_payment_document_is_not_sent_back_without_its_link(shop, keycrm, bas,
                                                                            linked_order):
    """A document the portal wrote for a KeyCRM payment whose link was never stored (the
    answer was lost, the worker died) is known by its comment, not sent as a new payment."""
    _order_id, payment_ref, _ = linked_order
    [seeded] = bas.objects("sb", BANK)
    copy = {k: v for k, v in seeded.items()
            if k not in ("Ref_Key", "Number", "DataVersion", "Posted", "Комментарий")}
    bas.seed("sb", {BANK: [{**copy, "Posted": True, "Комментарий": "KeyCRM payment #77"}]})
    [result] = bas_payments_check_run()
    assert (result.read, result.queued, result.known) == (2, 1, 1)
    [message] = OutboxMessage.objects.all()
    assert message.payload["bas_ref"] == payment_ref


def test_a_bas_payment_is_not_written_back_before_its_link_is_stored(client, shop, keycrm, bas,
                                                                     linked_order):
    """KeyCRM has the payment (the answer to the POST was lost, so no link yet) when the
    order's payment webhook is processed: no second BAS document is written for it."""
    order_id, payment_ref, _ = linked_order
    bas_payments_check_run()
    keycrm.set_faults(drop_after_commit_count=1, only_methods=["POST"],
                      path_contains="/payment")
    [first] = send_outbox()
    assert first.state == "retry", first.message
    [payment] = keycrm.store.orders[order_id]["payments"]
    assert not Correspondence.objects.filter(directory="payment",
                                             keycrm_id=payment["id"]).exists()

    webhook(client, shop.account, keycrm, order_id, event=PAYMENT_EVENT)
    [record] = work()
    assert record.state == "done", record.message
    assert [d["Ref_Key"] for d in bas.objects("sb", BANK)] == [payment_ref]
    action = DocumentAction.objects.get(key=f"payment:{payment['id']}")
    assert action.outcome == "skipped"
    assert "came from BAS" in action.reason

    OutboxMessage.objects.filter(pk=first.pk).update(not_before=None)
    [second] = send_outbox()
    assert second.state == "sent", second.message
    assert str(Correspondence.objects.get(directory="payment", keycrm_id=payment["id"]).bas_ref
               ) == payment_ref


def test_a_send_counted_afresh_after_a_lost_answer_adds_the_payment_once(shop, keycrm, bas,
                                                                        linked_order):
    """The sender looks for the payment before every POST, whatever the attempt count says:
    a message whose count starts afresh ("Send again" reset it) may have reached KeyCRM."""
    order_id, _, _ = linked_order
    bas_payments_check_run()
    keycrm.set_faults(drop_after_commit_count=1, only_methods=["POST"],
                      path_contains="/payment")
    [first] = send_outbox()
    assert first.state == "retry", first.message
    assert outbox_requeue(messages=[first], who="operator") == (1, 0)
    OutboxMessage.objects.filter(pk=first.pk).update(attempts=0)
    [second] = send_outbox()
    assert second.state == "sent", second.message
    assert second.result["found"] is True
    assert len(keycrm.store.orders[order_id]["payments"]) == 1
