"""What the webhook endpoint and the pipeline do with input they cannot use: a stranger's
request is refused and stores nothing; a malformed body is refused, stores nothing and is
logged; what is well-formed but useless is stored as ignored with the reason; an order the
mappings cannot place waits for a person and sends nothing to BAS."""

from __future__ import annotations

import json
import logging

import pytest
from django.urls import reverse

from staging.models import Attempt, InboundRecord, RecordState
from staging.services.process import record_process
from staging.services.queue import records_due
from staging.services.receive import MAX_WEBHOOK_BYTES

pytestmark = pytest.mark.django_db

ORDERS = "Document_ЗаказПокупателя"
COUNTERPARTIES = "Catalog_Контрагенты"
STATUS_EVENT = "order.change_order_status"


def _url(account_or_token) -> str:
    token = getattr(account_or_token, "webhook_token", account_or_token)
    return reverse("keycrm_webhook", args=[token])


def _post(client, account_or_token, data: str | bytes, **extra):
    return client.post(_url(account_or_token), data=data, content_type="application/json",
                       **extra)


def _body(keycrm, order_id: int) -> str:
    order = keycrm.store.orders[order_id]
    return json.dumps({"event": STATUS_EVENT, "context": {
        "id": order_id, "status_id": order["status_id"],
        "status_changed_at": order["status_changed_at"].isoformat(),
        "updated_at": order["updated_at"].isoformat()}})


def _work() -> list[InboundRecord]:
    return [record for record_id in records_due()
            if (record := record_process(record_id=record_id, worker="test-worker"))]


# --- refused: nothing stored ------------------------------------------------------------------
def test_a_wrong_token_is_not_found_and_stores_nothing(client, shop, keycrm):
    order_id = shop.order(keycrm)
    response = _post(client, "not-" + shop.account.webhook_token, _body(keycrm, order_id))
    assert response.status_code == 404
    assert response.content == b""  # the same as any unknown URL: nothing to learn from
    assert not InboundRecord.objects.exists()


def test_a_disabled_accounts_token_is_not_found(client, shop, keycrm):
    order_id = shop.order(keycrm)
    shop.account.enabled = False
    shop.account.save(update_fields=["enabled"])
    response = _post(client, shop.account, _body(keycrm, order_id))
    assert response.status_code == 404
    assert not InboundRecord.objects.exists()


def test_get_is_not_allowed(client, shop):
    response = client.get(_url(shop.account))
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert not InboundRecord.objects.exists()


def test_malformed_json_is_refused_stored_nowhere_and_logged(client, shop, caplog):
    with caplog.at_level(logging.WARNING, logger="staging.views"):
        response = _post(client, shop.account, '{"event": "order.change_order_status", ')
    assert response.status_code == 400
    assert response.json()["error"].startswith("body is not JSON")
    assert not InboundRecord.objects.exists()
    [warning] = [r for r in caplog.records if r.name == "staging.views"]
    assert warning.levelno == logging.WARNING
    assert warning.getMessage().startswith(
        f"webhook for account {shop.account.pk} refused: body is not JSON")


def test_a_body_that_is_not_utf8_is_refused(client, shop):
    response = _post(client, shop.account, b'{"event": "\xff\xfe"}')
    assert response.status_code == 400
    assert not InboundRecord.objects.exists()


@pytest.mark.parametrize("body", ["[]", '[{"event": "order.change_order_status"}]', "42",
                                  '"text"', "null"])
def test_json_that_is_not_an_object_is_refused(client, shop, body):
    response = _post(client, shop.account, body)
    assert response.status_code == 400
    assert response.json() == {"error": "body is not a JSON object"}
    assert not InboundRecord.objects.exists()


def test_an_oversized_body_is_refused_with_413(client, shop, caplog):
    padding = "x" * MAX_WEBHOOK_BYTES
    body = json.dumps({"event": STATUS_EVENT, "context": {"id": 1, "comment": padding}})
    assert len(body.encode()) > 256 * 1024
    with caplog.at_level(logging.WARNING, logger="staging.views"):
        response = _post(client, shop.account, body)
    assert response.status_code == 413
    assert not InboundRecord.objects.exists()
    assert f"{len(body)} bytes" in caplog.text


def test_a_content_length_that_is_not_a_number_is_refused_not_a_crash(client, shop, keycrm):
    order_id = shop.order(keycrm)
    client.raise_request_exception = False
    response = _post(client, shop.account, _body(keycrm, order_id), CONTENT_LENGTH="12abc")
    assert response.status_code == 400
    assert not InboundRecord.objects.exists()


# --- well-formed but not usable: stored as ignored, with the reason -------------------------
def test_an_unknown_event_is_stored_as_ignored_with_the_reason(client, shop):
    body = json.dumps({"event": "order.deleted", "context": {"id": 5}})
    response = _post(client, shop.account, body)
    assert response.status_code == 200
    [record] = InboundRecord.objects.all()
    assert response.json() == {"record": record.pk, "state": RecordState.IGNORED}
    assert (record.state, record.event, record.body) == (RecordState.IGNORED, "order.deleted",
                                                         body)
    assert record.message == ("event “order.deleted” is not one the portal handles "
                              "(order.change_order_status, order.change_payment_status)")
    assert records_due() == []


@pytest.mark.parametrize("context", [{}, {"id": None}, {"id": "not a number"}, "12", None])
def test_a_status_event_without_an_order_id_is_stored_as_ignored(client, shop, context):
    body = json.dumps({"event": STATUS_EVENT, "context": context})
    response = _post(client, shop.account, body)
    assert response.status_code == 200
    [record] = InboundRecord.objects.all()
    assert (record.state, record.keycrm_order_id, record.body) == (RecordState.IGNORED, None,
                                                                   body)
    assert record.message == "the webhook's context carries no order id"
    assert records_due() == []


@pytest.mark.parametrize("text", ["\\u0000", "\\ud800"], ids=["nul", "lone-surrogate"])
def test_text_the_database_cannot_hold_as_json_is_not_a_crash(client, shop, keycrm, text):
    """A buyer's comment may carry anything a web form lets through; the body is ASCII (JSON
    escapes), so it can always be kept verbatim. Whatever the database thinks of the decoded
    payload (PostgreSQL's jsonb refuses NUL and lone surrogates), the answer is never a 500:
    KeyCRM would repeat the webhook a few times and then drop it."""
    order_id = shop.order(keycrm)
    body = _body(keycrm, order_id)[:-2] + f', "client_comment": "a{text}b"}}}}'
    json.loads(body)  # valid JSON
    client.raise_request_exception = False
    response = _post(client, shop.account, body)
    assert response.status_code in (200, 400), response.content[:300]
    if response.status_code == 200:
        record = InboundRecord.objects.get()
        assert record.body == body


# --- accepted, but the mappings cannot place the order ---------------------------------------
def test_an_unknown_sku_waits_naming_it_and_sends_nothing_to_bas(client, shop, keycrm, bas):
    order_id = shop.order(keycrm, skus=("TSH-BLK", "NO-SUCH-42"))
    _post(client, shop.account, _body(keycrm, order_id))
    [record] = _work()
    assert record.state == RecordState.WAITING
    assert "NO-SUCH-42" in record.message
    assert "Артикул = NO-SUCH-42: none found" in record.message
    assert "TSH-BLK" not in record.message  # the known one is no problem
    assert bas.objects("sb", ORDERS) == []
    assert [r["method"] for r in bas.requests() if r["method"] != "GET"] == []
    [attempt] = Attempt.objects.filter(record=record)
    assert (attempt.outcome, attempt.message) == (RecordState.WAITING, record.message)
    assert records_due() == []  # waits for a person, not for a timer


def test_a_buyer_without_phone_or_email_gets_a_counterparty_by_name(client, shop, keycrm,
                                                                      bas):
    order_id = shop.order(keycrm, phone="", email="", name="Іван Без Контактів")
    _post(client, shop.account, _body(keycrm, order_id))
    [record] = _work()
    assert record.state == RecordState.DONE, record.message
    [counterparty] = bas.objects("sb", COUNTERPARTIES)
    assert counterparty["Description"] == "Іван Без Контактів"
    assert counterparty["КонтактнаяИнформация"] == []
    [document] = bas.objects("sb", ORDERS)
    assert document["Контрагент_Key"] == counterparty["Ref_Key"]
    # Nothing could be searched by, so a new counterparty was made: the attempt says so, and
    # says why, for the person who later finds a second "Іван" in BAS.
    [attempt] = Attempt.objects.filter(record=record)
    assert attempt.outcome == RecordState.DONE
    assert "Іван Без Контактів" in attempt.message
    assert "buyer.phone" in attempt.message
    assert "buyer.email" in attempt.message
