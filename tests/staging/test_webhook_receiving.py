"""The webhook's fast path keeps every promise of the slow one: a rotated or disabled token stops
working at once, the row is committed before the record is sent to a worker and before the
answer, a repeat is stored as a duplicate, the security headers are still set, and only the
webhook's own URL takes the short way."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from celery.signals import before_task_publish
from django.db import DEFAULT_DB_ALIAS, connections
from django.urls import reverse
from django.utils import translation

from accounts.models import KeyCrmAccount
from accounts.services import keycrm_account_rotate_webhook_token
from staging.models import InboundRecord, RecordState
from staging.services.receive import storable

STATUS_EVENT = "order.change_order_status"


def _body(order_id: int, status_changed_at: str = "2026-11-29T10:00:00+02:00") -> str:
    return json.dumps({"event": STATUS_EVENT, "context": {
        "id": order_id, "status_id": 2, "status_changed_at": status_changed_at}})


def _post(client, token: str, body: str, **extra):
    return client.post(reverse("keycrm_webhook", args=[token]), data=body,
                       content_type="application/json", **extra)


@pytest.mark.django_db
def test_a_rotated_token_stops_working_at_once(client, shop):
    old = shop.account.webhook_token
    assert _post(client, old, _body(1)).status_code == 200

    new = keycrm_account_rotate_webhook_token(account=shop.account)

    refused = _post(client, old, _body(2))
    assert refused.status_code == 404
    assert refused.content == b""
    accepted = _post(client, new, _body(3))
    assert accepted.status_code == 200
    assert sorted(InboundRecord.objects.values_list("keycrm_order_id", flat=True)) == [1, 3]


@pytest.mark.django_db
def test_a_token_disabled_by_a_bulk_update_stops_working_at_once(client, shop):
    """No model save, so no signal either: nothing may have cached the token."""
    token = shop.account.webhook_token
    assert _post(client, token, _body(1)).status_code == 200

    KeyCrmAccount.objects.filter(pk=shop.account.pk).update(enabled=False)

    assert _post(client, token, _body(2)).status_code == 404
    assert list(InboundRecord.objects.values_list("keycrm_order_id", flat=True)) == [1]


@pytest.mark.django_db
def test_each_account_receives_on_its_own_token(client, shop):
    other = KeyCrmAccount.objects.create(name="Other shop",
                                         api_base_url="http://127.0.0.1:9/v1")

    assert _post(client, other.webhook_token, _body(7)).status_code == 200
    assert _post(client, shop.account.webhook_token, _body(8)).status_code == 200

    stored = dict(InboundRecord.objects.values_list("keycrm_order_id", "account_id"))
    assert stored == {7: other.pk, 8: shop.account.pk}


@pytest.fixture
def published() -> Iterator[list[tuple[int, int]]]:
    """Each process_record message as it is published: the record id, and how many rows with
    that id another database connection can read at that moment (1: already committed)."""
    seen: list[tuple[int, int]] = []
    other = connections.create_connection(DEFAULT_DB_ALIAS)  # a connection of its own

    def observe(sender=None, body=None, **_):
        if sender != "staging.tasks.process_record":
            return
        [record_id], _kwargs, _embed = body
        with other.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM staging_inboundrecord WHERE id = %s",
                           [record_id])
            [(count,)] = cursor.fetchall()
        seen.append((record_id, count))

    before_task_publish.connect(observe, weak=False)
    yield seen
    before_task_publish.disconnect(observe)
    other.close()


@pytest.mark.django_db(transaction=True)
def test_the_row_is_committed_before_its_record_is_sent_to_a_worker(client, shop, published):
    response = _post(client, shop.account.webhook_token, _body(11))

    assert response.status_code == 200
    record = InboundRecord.objects.get()
    assert response.json() == {"record": record.pk, "state": RecordState.QUEUED}
    assert published == [(record.pk, 1)]


@pytest.mark.django_db(transaction=True)
def test_a_repeat_outside_any_transaction_is_stored_as_a_duplicate(client, shop, published):
    first = _post(client, shop.account.webhook_token, _body(12))
    again = _post(client, shop.account.webhook_token, _body(12))

    assert (first.status_code, again.status_code) == (200, 200)
    original = InboundRecord.objects.get(pk=first.json()["record"])
    repeat = InboundRecord.objects.get(pk=again.json()["record"])
    assert (original.state, repeat.state) == (RecordState.QUEUED, RecordState.DUPLICATE)
    assert repeat.duplicate_of_id == original.pk
    assert [record_id for record_id, _ in published] == [original.pk]  # a repeat is not sent


@pytest.mark.django_db
def test_the_short_way_keeps_the_security_headers_and_sets_no_cookie(client, shop, settings):
    settings.SECURE_CONTENT_TYPE_NOSNIFF = True
    settings.SECURE_REFERRER_POLICY = "same-origin"

    response = _post(client, shop.account.webhook_token, _body(13),
                     HTTP_ACCEPT_LANGUAGE="uk")

    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Content-Length"] == str(len(response.content))
    assert "Set-Cookie" not in response.headers
    assert "Vary" not in response.headers  # no session, no language negotiation


@pytest.mark.django_db
def test_the_short_way_still_redirects_plain_http_when_https_is_required(client, shop, settings):
    settings.SECURE_SSL_REDIRECT = True

    response = _post(client, shop.account.webhook_token, _body(14))

    assert response.status_code == 301
    assert response.headers["Location"].startswith("https://")
    assert not InboundRecord.objects.exists()


@pytest.mark.django_db
def test_other_methods_and_addresses_under_the_prefix_take_the_usual_way(client, shop):
    token = shop.account.webhook_token

    assert client.get(reverse("keycrm_webhook", args=[token])).status_code == 405
    # Without its trailing slash the address is not the view's: the whole stack answers
    # (CommonMiddleware's redirect to the address with the slash).
    no_slash = client.get(f"/hooks/keycrm/{token}")
    assert no_slash.status_code == 301
    assert no_slash.headers["Location"] == f"/hooks/keycrm/{token}/"
    assert client.post("/hooks/keycrm/", data="{}",
                       content_type="application/json").status_code == 404
    assert not InboundRecord.objects.exists()


@pytest.mark.django_db
def test_the_request_chooses_the_language_of_a_stored_reason(client, shop):
    """Not a language an earlier request left active in the same thread."""
    unknown = json.dumps({"event": "order.deleted", "context": {"id": 15}})
    translation.activate("uk")
    english = _post(client, shop.account.webhook_token, unknown, HTTP_ACCEPT_LANGUAGE="en")
    ukrainian = _post(client, shop.account.webhook_token, unknown, HTTP_ACCEPT_LANGUAGE="uk")

    messages = {r.pk: r.message for r in InboundRecord.objects.all()}
    assert messages[english.json()["record"]].startswith("event “order.deleted” is not one")
    assert not messages[ukrainian.json()["record"]].startswith("event ")
    assert "order.deleted" in messages[ukrainian.json()["record"]]


def test_storable_replaces_what_a_database_refuses_and_keeps_the_rest():
    value = {"a\x00b": ["ok", "lone \ud800 surrogate", 1.5, None], "Покупець": "Олена"}

    assert storable(value) == {"a\ufffdb": ["ok", "lone \ufffd surrogate", 1.5, None],
                               "Покупець": "Олена"}
