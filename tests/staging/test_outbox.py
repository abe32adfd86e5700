"""The outbox against the KeyCRM emulator: a stored write is sent once, survives failures,
keeps the order of writes about one thing, and shows in the admin what happened."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from integration.keycrm.client import KeyCrmError
from staging.models import Exchange, OutboxMessage, OutboxState
from staging.services.outbox import (
    KEYCRM_PUT,
    OutboxRefused,
    Sender,
    outbox_due,
    outbox_put,
    outbox_requeue,
    outbox_send,
    outbox_sweep,
    register_sender,
)
from staging.services.queue import lock_acquire, lock_release

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def order(keycrm):
    ids = keycrm.seed({"statuses": [{"name": "Нове"}, {"name": "Відправлено"}],
                       "orders": [{"buyer": {"full_name": "Олена"}}]})
    return {"id": ids["orders"][0], "new": ids["statuses"][0], "sent": ids["statuses"][1]}


def _status_put(account, order, status_id, **kwargs) -> OutboxMessage:
    return outbox_put(account=account, kind=KEYCRM_PUT, key=f"order:{order['id']}:status",
                      payload={"path": f"/order/{order['id']}",
                               "body": {"status_id": status_id}},
                      cause="test", enqueue=False, **kwargs)


def test_a_stored_write_is_sent_once_and_its_calls_are_logged_against_it(
        keycrm, keycrm_account, order):
    message = _status_put(keycrm_account, order, order["sent"])
    assert outbox_due() == [message.pk]
    sent = outbox_send(message_id=message.pk, worker="w1")
    assert sent.state == OutboxState.SENT
    assert sent.sent_at is not None
    assert keycrm.store.orders[order["id"]]["status_id"] == order["sent"]
    assert outbox_send(message_id=message.pk, worker="w1") is None  # done is done
    assert len(keycrm.requests(method="PUT")) == 1
    logged = Exchange.objects.get(outbox_message=message)
    assert logged.method == "PUT"
    assert logged.status == 202


def test_a_newer_write_about_the_same_thing_replaces_the_queued_one(keycrm_account, order):
    first = _status_put(keycrm_account, order, order["new"])
    second = _status_put(keycrm_account, order, order["sent"])
    assert second.pk == first.pk
    assert OutboxMessage.objects.get().payload["body"] == {"status_id": order["sent"]}


@override_settings(KEYCRM_MAX_RETRIES=0)  # the client's own retries are tested elsewhere
def test_a_message_waiting_for_a_retry_is_superseded_by_a_newer_one(
        keycrm, keycrm_account, order):
    keycrm.set_faults(error_count=100, error_status=503)
    first = _status_put(keycrm_account, order, order["new"])
    assert outbox_send(message_id=first.pk, worker="w1").state == OutboxState.RETRY
    keycrm.set_faults()
    second = _status_put(keycrm_account, order, order["sent"])
    first.refresh_from_db()
    assert first.state == OutboxState.SUPERSEDED
    assert outbox_send(message_id=second.pk, worker="w1").state == OutboxState.SENT
    assert keycrm.store.orders[order["id"]]["status_id"] == order["sent"]


@override_settings(STAGING_MAX_ATTEMPTS=2, STAGING_RETRY_BASE_SECONDS=0, KEYCRM_MAX_RETRIES=0)
def test_a_server_error_is_retried_and_gives_up_after_the_last_attempt(
        keycrm, keycrm_account, order):
    keycrm.set_faults(error_count=1000, error_status=500)
    message = _status_put(keycrm_account, order, order["sent"])
    first = outbox_send(message_id=message.pk, worker="w1")
    assert first.state == OutboxState.RETRY
    assert "500" in first.message
    assert first.not_before is not None
    assert len(keycrm.requests(method="PUT")) == 1
    last = outbox_send(message_id=message.pk, worker="w1")
    assert last.state == OutboxState.FAILED
    assert last.message.startswith("gave up after 2 attempts")


def test_a_refusal_waits_for_a_person_with_keycrm_s_words_and_can_be_sent_again(
        keycrm, keycrm_account, order):
    message = _status_put(keycrm_account, order, 999_999)  # no such status
    refused = outbox_send(message_id=message.pk, worker="w1")
    assert refused.state == OutboxState.WAITING
    assert refused.message.startswith("KeyCRM refused: KeyCRM 422")
    OutboxMessage.objects.filter(pk=message.pk).update(
        payload={"path": f"/order/{order['id']}", "body": {"status_id": order["sent"]}})
    assert outbox_requeue(messages=[refused], who="operator") == (1, 0)
    assert outbox_send(message_id=message.pk, worker="w1").state == OutboxState.SENT
    assert keycrm.store.orders[order["id"]]["status_id"] == order["sent"]


def test_writes_about_one_thing_go_in_the_order_they_were_made(keycrm_account, order):
    first = _status_put(keycrm_account, order, order["new"])
    OutboxMessage.objects.filter(pk=first.pk).update(state=OutboxState.SENDING,
                                                     claimed_by="other")
    second = _status_put(keycrm_account, order, order["sent"])
    assert second.pk != first.pk
    assert outbox_send(message_id=second.pk, worker="w1") is None  # the older one is in flight
    OutboxMessage.objects.filter(pk=first.pk).update(state=OutboxState.SENT)
    assert outbox_send(message_id=second.pk, worker="w1").state == OutboxState.SENT


def test_a_sender_s_lock_held_elsewhere_puts_the_message_back_without_using_an_attempt(
        keycrm, keycrm_account, order):
    register_sender("test.locked", Sender(send=lambda client, m: client.request(
        "PUT", m.payload["path"], json_body=m.payload["body"]),
        lock=lambda m: f"order:{m.payload['order_id']}"))
    message = outbox_put(account=keycrm_account, kind="test.locked", key="x", enqueue=False,
                         payload={"path": f"/order/{order['id']}", "order_id": order["id"],
                                  "body": {"status_id": order["sent"]}})
    assert lock_acquire(account_id=keycrm_account.pk, name=f"order:{order['id']}",
                        holder="pipeline")
    assert outbox_send(message_id=message.pk, worker="w1") is None
    message.refresh_from_db()
    assert message.state == OutboxState.RETRY  # shortly again; the attempt did not count
    assert message.attempts == 0
    assert keycrm.requests(method="PUT") == []
    lock_release(account_id=keycrm_account.pk, name=f"order:{order['id']}", holder="pipeline")
    OutboxMessage.objects.filter(pk=message.pk).update(not_before=None)
    assert outbox_send(message_id=message.pk, worker="w1").state == OutboxState.SENT


def test_confirm_runs_with_the_sent_state_and_a_failing_confirm_keeps_the_message(
        keycrm, keycrm_account, order):
    seen = []

    def confirm(message, result):
        seen.append((message.state, result["status_id"]))
        if len(seen) == 1:
            raise RuntimeError("the database went away")

    register_sender("test.confirmed", Sender(
        send=lambda client, m: client.request("PUT", m.payload["path"],
                                              json_body=m.payload["body"]) or
        client.get_order(order["id"], include=()),
        confirm=confirm))
    message = outbox_put(account=keycrm_account, kind="test.confirmed", key="y", enqueue=False,
                         payload={"path": f"/order/{order['id']}",
                                  "body": {"status_id": order["sent"]}})
    failed = outbox_send(message_id=message.pk, worker="w1")
    assert failed.state == OutboxState.RETRY  # not SENT: what the write means was not stored
    OutboxMessage.objects.filter(pk=message.pk).update(not_before=None)
    assert outbox_send(message_id=message.pk, worker="w1").state == OutboxState.SENT
    assert seen == [(OutboxState.SENT, order["sent"])] * 2


def test_a_sender_may_refuse_and_an_unknown_kind_waits(keycrm_account):
    def refuse(client, message):
        raise OutboxRefused("the offer has no SKU")

    register_sender("test.refused", Sender(send=refuse))
    refused = outbox_put(account=keycrm_account, kind="test.refused", key="a", payload={},
                         enqueue=False)
    unknown = outbox_put(account=keycrm_account, kind="no.such.kind", key="b", payload={},
                         enqueue=False)
    assert outbox_send(message_id=refused.pk, worker="w").message == "the offer has no SKU"
    unknown = outbox_send(message_id=unknown.pk, worker="w")
    assert unknown.state == OutboxState.WAITING
    assert "no.such.kind" in unknown.message


def test_a_message_left_sending_by_a_dead_worker_is_sent_again(keycrm, keycrm_account, order):
    message = _status_put(keycrm_account, order, order["sent"])
    OutboxMessage.objects.filter(pk=message.pk).update(
        state=OutboxState.SENDING, claimed_by="dead", attempts=1,
        claimed_at=timezone.now() - dt.timedelta(hours=1))
    assert outbox_sweep(stale_after=600) == 1
    assert outbox_send(message_id=message.pk, worker="w2").state == OutboxState.SENT


def test_nothing_is_stored_when_the_change_that_caused_it_rolls_back(keycrm_account, order):
    def change_that_fails() -> None:
        with transaction.atomic():
            _status_put(keycrm_account, order, order["sent"])
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        change_that_fails()
    assert not OutboxMessage.objects.exists()


def test_the_admin_shows_the_message_and_sends_it_again(admin_client, keycrm, keycrm_account,
                                                        order):
    message = _status_put(keycrm_account, order, 999_999)
    outbox_send(message_id=message.pk, worker="w1")
    listing = admin_client.get("/admin/staging/outboxmessage/?state__exact=waiting")
    assert f"order:{order['id']}:status" in listing.content.decode()
    page = admin_client.get(f"/admin/staging/outboxmessage/{message.pk}/change/")
    text = page.content.decode()
    assert "KeyCRM refused" in text
    assert "/admin/staging/exchange/" in text  # the call it made, one click away
    answer = admin_client.post("/admin/staging/outboxmessage/", {
        "action": "send_again", "_selected_action": [message.pk]}, follow=True)
    assert "1 queued to be sent again" in answer.content.decode()
    message.refresh_from_db()
    assert message.state == OutboxState.QUEUED


def test_an_older_message_that_fails_while_a_newer_one_waits_is_superseded(keycrm_account):
    def fails_after_a_newer_write(client, message):
        # While this is in flight, the order changes again: a newer message is written.
        outbox_put(account=keycrm_account, kind="test.racing", key="order:1:status",
                   payload={"status": "newer"}, enqueue=False)
        raise KeyCrmError("KeyCRM is busy", status=503, retryable=True)

    register_sender("test.racing", Sender(send=fails_after_a_newer_write))
    older = outbox_put(account=keycrm_account, kind="test.racing", key="order:1:status",
                       payload={"status": "older"}, enqueue=False)
    assert outbox_send(message_id=older.pk, worker="w1").state == OutboxState.SUPERSEDED
    newer = OutboxMessage.objects.get(key="order:1:status", state=OutboxState.QUEUED)
    assert newer.payload == {"status": "newer"}
    assert outbox_due() == [newer.pk]  # the newer one is not held behind a retry of the older


def test_send_again_refuses_a_message_a_newer_one_has_replaced(keycrm, keycrm_account, order):
    old = _status_put(keycrm_account, order, 999_999)
    assert outbox_send(message_id=old.pk, worker="w1").state == OutboxState.WAITING
    new = _status_put(keycrm_account, order, order["sent"])
    assert outbox_send(message_id=new.pk, worker="w1").state == OutboxState.SENT
    assert outbox_requeue(messages=[old], who="operator") == (0, 1)
    old.refresh_from_db()
    assert old.state == OutboxState.WAITING


def test_send_again_keeps_the_attempts_so_a_creating_sender_searches_first(
        keycrm, keycrm_account, order):
    seen = []
    register_sender("test.attempts", Sender(
        send=lambda client, m: seen.append(m.attempts) or {"ok": True}))
    message = outbox_put(account=keycrm_account, kind="test.attempts", key="z", payload={},
                         enqueue=False)
    OutboxMessage.objects.filter(pk=message.pk).update(state=OutboxState.FAILED, attempts=8)
    assert outbox_requeue(messages=[message], who="operator") == (1, 0)
    assert outbox_send(message_id=message.pk, worker="w1").state == OutboxState.SENT
    assert seen == [9]  # > 1: a sender that creates looks for an earlier success first
