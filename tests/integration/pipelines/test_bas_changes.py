"""Order states changed in BAS reach KeyCRM within one check, and nothing echoes back: not the
KeyCRM webhook that follows our write, not our own KeyCRM → BAS write on the next check."""

from __future__ import annotations

import datetime as dt

import pytest

from integration.keycrm.client import KeyCrmClient
from integration.models import BasDocumentState
from staging.models import RecordSource
from staging.services.polling import order_snapshots_store
from tests.integration.pipelines.helpers import (
    ORDERS,
    bas_writes,
    check,
    keycrm_writes,
    send_outbox,
    set_state,
    webhook,
    work,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def order_in_bas(client, shop, keycrm, bas):
    """An order the KeyCRM → BAS pipeline has written (state «Нове»), and the check's first
    look at it."""
    order_id = shop.order(keycrm)
    webhook(client, shop.account, keycrm, order_id)
    [record] = work()
    assert record.state == "done", record.message
    [document] = bas.objects("sb", ORDERS)
    return order_id, document["Ref_Key"]


def test_a_state_changed_in_bas_reaches_keycrm_within_one_check(shop, keycrm, bas,
                                                                order_in_bas):
    order_id, ref = order_in_bas
    set_state(bas, ref, shop.states["Відправлено"])
    keycrm.clear_log()
    summary = check(shop.account)
    assert summary.statuses == 1
    [message] = send_outbox()
    assert message.state == "sent", message.message
    assert keycrm.store.orders[order_id]["status_id"] == shop.statuses["Відправлено"]
    assert keycrm_writes(keycrm) == [("PUT", f"/v1/order/{order_id}")]
    row = BasDocumentState.objects.get(bas_ref=ref)
    assert row.echo_status_id == shop.statuses["Відправлено"]
    assert row.state_value == shop.states["Відправлено"]


def test_the_webhook_that_follows_our_status_write_writes_nothing_to_bas(client, shop, keycrm,
                                                                        bas, order_in_bas):
    order_id, ref = order_in_bas
    set_state(bas, ref, shop.states["Підтверджено"])
    check(shop.account)
    send_outbox()
    bas.clear_log()
    response = webhook(client, shop.account, keycrm, order_id)
    assert response.status_code == 200
    [record] = work()
    assert record.state == "done", record.message
    assert "nothing was written" in record.message
    assert bas_writes(bas) == []
    [document] = bas.objects("sb", ORDERS)
    assert document["СостояниеЗаказа"] == shop.states["Підтверджено"]


def test_our_own_write_to_bas_is_not_echoed_back_to_keycrm(client, shop, keycrm, bas,
                                                          order_in_bas):
    order_id, ref = order_in_bas
    # A manager changes the status in KeyCRM; the pipeline writes it into BAS.
    keycrm.set_order_status(order_id, shop.statuses["Відправлено"])
    webhook(client, shop.account, keycrm, order_id)
    [record] = work()
    assert record.state == "done", record.message
    keycrm.clear_log()
    summary = check(shop.account)
    assert summary.statuses == 0
    assert summary.own_writes == 1
    assert send_outbox() == []
    assert keycrm_writes(keycrm) == []
    assert BasDocumentState.objects.get(bas_ref=ref).data_version == \
        bas.get_object("sb", ORDERS, ref)["DataVersion"]


def test_a_later_manager_change_in_keycrm_is_still_written_to_bas(client, shop, keycrm, bas,
                                                                 order_in_bas):
    order_id, ref = order_in_bas
    set_state(bas, ref, shop.states["Підтверджено"])
    check(shop.account)
    send_outbox()
    keycrm.set_order_status(order_id, shop.statuses["Скасовано"])
    webhook(client, shop.account, keycrm, order_id)
    [record] = work()
    assert record.state == "done", record.message
    assert bas.get_object("sb", ORDERS, ref)["СостояниеЗаказа"] == shop.states["Скасовано"]


def test_a_check_with_nothing_changed_sends_nothing(shop, keycrm, bas, order_in_bas):
    check(shop.account)
    keycrm.clear_log()
    summary = check(shop.account)
    assert (summary.documents, summary.statuses, summary.orders) == (1, 0, 0)
    assert send_outbox() == []
    assert keycrm_writes(keycrm) == []


def test_a_state_without_a_keycrm_status_is_reported_and_sent_once_mapped(shop, keycrm, bas,
                                                                          order_in_bas):
    from mappings.models import StatusCorrespondence

    order_id, ref = order_in_bas
    [unmapped] = bas.seed("sb", {"Catalog_СостоянияЗаказовПокупателей": [
        {"Description": "Архів"}]})["Catalog_СостоянияЗаказовПокупателей"]
    set_state(bas, ref, unmapped)
    summary = check(shop.account)
    assert summary.statuses == 0
    assert "has no KeyCRM status" in summary.problems[0]
    keycrm.seed({"statuses": [{"name": "Архів"}]})
    archived = max(keycrm.store.statuses)
    StatusCorrespondence.objects.create(account=shop.account, keycrm_status_id=archived,
                                        bas_value=unmapped,
                                        bas_entity_set="Catalog_СостоянияЗаказовПокупателей")
    assert check(shop.account).statuses == 1
    send_outbox()
    assert keycrm.store.orders[order_id]["status_id"] == archived


def test_a_webhook_that_only_repeats_a_status_bas_already_has_writes_nothing(
        client, shop, keycrm, bas, order_in_bas):
    order_id, ref = order_in_bas
    set_state(bas, ref, shop.states["Відправлено"])
    check(shop.account)  # seen, but the status write has not gone out yet
    # Meanwhile a manager sets the same status in KeyCRM by hand.
    keycrm.set_order_status(order_id, shop.statuses["Відправлено"])
    bas.clear_log()
    webhook(client, shop.account, keycrm, order_id)
    [record] = work()
    assert record.state == "done", record.message
    assert "already has the state" in record.message
    assert bas_writes(bas) == []


def _edit_quantity(shop, order_id: int, sku: str, quantity: int) -> None:
    """A manager changes a line's quantity in KeyCRM (``PUT /order`` as the UI does)."""
    client = KeyCrmClient.for_account(shop.account)
    try:
        client.update_order(order_id, {"products": [{"sku": sku, "quantity": quantity}]})
    finally:
        client.close()


def _document_quantities(bas, ref: str) -> list[float]:
    return [line["Количество"] for line in bas.get_object("sb", ORDERS, ref)["Запасы"]]


def test_a_product_edit_in_the_same_second_as_the_portals_status_write_still_reaches_bas(
        client, shop, keycrm, bas, order_in_bas):
    order_id, ref = order_in_bas
    second = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=5)
    with keycrm.lock:
        keycrm.store.clock = lambda: second  # the edit and our write share KeyCRM's second
    _edit_quantity(shop, order_id, "CAP-1", 7)
    set_state(bas, ref, shop.states["Відправлено"])
    check(shop.account)
    [message] = send_outbox()
    assert message.state == "sent", message.message
    webhook(client, shop.account, keycrm, order_id)  # the status change, carrying our marker
    [record] = work()
    assert record.state == "done", record.message
    assert _document_quantities(bas, ref) == [1, 7]
    assert bas.get_object("sb", ORDERS, ref)["СостояниеЗаказа"] == shop.states["Відправлено"]


def test_a_polled_edit_older_than_the_portals_status_write_is_written_with_bas_state(
        shop, keycrm, bas, order_in_bas):
    order_id, ref = order_in_bas
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=5)
    with keycrm.lock:
        keycrm.store.clock = lambda: start
    _edit_quantity(shop, order_id, "CAP-1", 7)
    client = KeyCrmClient.for_account(shop.account)
    try:  # the poll stores the edit (10:00:00) …
        order_snapshots_store(account=shop.account, orders=[client.get_order(order_id)],
                              source=RecordSource.POLL)
    finally:
        client.close()
    with keycrm.lock:
        keycrm.store.clock = lambda: start + dt.timedelta(seconds=2)
    set_state(bas, ref, shop.states["Відправлено"])
    check(shop.account)
    send_outbox()  # … before the portal writes BAS's state, answered at 10:00:02
    [record] = work()
    assert record.state == "done", record.message
    document = bas.get_object("sb", ORDERS, ref)
    assert _document_quantities(bas, ref) == [1, 7]
    assert document["СостояниеЗаказа"] == shop.states["Відправлено"]


def test_a_failed_posting_is_posted_by_the_retry_and_not_sent_to_keycrm(
        client, shop, keycrm, bas, order_in_bas, settings):
    settings.STAGING_RETRY_BASE_SECONDS = 0
    order_id, ref = order_in_bas
    keycrm.set_order_status(order_id, shop.statuses["Відправлено"])
    webhook(client, shop.account, keycrm, order_id)
    bas.set_faults(error_count=1, only_methods=["POST"], path_contains="/Post")
    [record] = work()
    assert record.state == "retry", record.message
    assert "posting" in record.message
    assert bas.get_object("sb", ORDERS, ref)["СостояниеЗаказа"] == shop.states["Відправлено"]
    keycrm.clear_log()
    summary = check(shop.account)  # the saved state is the portal's own: nothing to send
    assert summary.statuses == 0
    assert send_outbox() == []
    assert keycrm_writes(keycrm) == []
    bas.clear_log()
    [record] = work()
    assert record.state == "done", record.message
    assert "posted" in record.message
    assert bas_writes(bas) == [("PATCH", f"/sb/odata/standard.odata/{ORDERS}(guid'{ref}')"),
                               ("POST", f"/sb/odata/standard.odata/{ORDERS}(guid'{ref}')/Post")]
