"""The staging admin: received records in every state, read in plain words, with their attempts
and exchanges; "Re-process" queues them again without touching what was received; the exchange
log shows the failures and never a secret."""

from __future__ import annotations

import datetime as dt
import html
import json
import re

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from staging import tasks
from staging.models import Exchange, InboundRecord
from staging.services.process import record_process
from staging.services.queue import records_due

pytestmark = pytest.mark.django_db

ORDERS = "Document_ЗаказПокупателя"
RECORDS = reverse("admin:staging_inboundrecord_changelist")
EXCHANGES = reverse("admin:staging_exchange_changelist")
SECRETS = ("test-key", "secret")  # the KeyCRM API key and the BAS password of tests/conftest.py


def _post(client, account, body: dict):
    return client.post(reverse("keycrm_webhook", args=[account.webhook_token]),
                       data=json.dumps(body), content_type="application/json")


def _webhook(client, account, keycrm, order_id: int):
    order = keycrm.store.orders[order_id]
    return _post(client, account, {"event": "order.change_order_status", "context": {
        "id": order_id, "status_id": order["status_id"],
        "status_changed_at": str(order["status_changed_at"]),
        "updated_at": str(order["updated_at"])}})


def _work() -> None:
    for record_id in records_due():
        record_process(record_id=record_id, worker="test-worker")


def _page(client, url: str, **params) -> str:
    response = client.get(url, params)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def _listed(client, url: str, **params) -> list[int]:
    response = client.get(url, params)
    assert response.status_code == 200
    return sorted(obj.pk for obj in response.context["cl"].result_list)


def _change(record: InboundRecord) -> str:
    return reverse("admin:staging_inboundrecord_change", args=[record.pk])


@pytest.fixture
def records(client, shop, keycrm, bas) -> dict[str, InboundRecord]:
    """One record in each state an operator meets: done, waiting, duplicate, ignored."""
    done_order = shop.order(keycrm)
    _webhook(client, shop.account, keycrm, done_order)
    _webhook(client, shop.account, keycrm, done_order)  # the same event again: a duplicate
    _webhook(client, shop.account, keycrm, shop.order(keycrm, skus=("NO-SUCH",)))
    _post(client, shop.account, {"event": "order.deleted", "context": {"id": done_order}})
    _work()
    found = {r.state: r for r in InboundRecord.objects.all()}
    assert sorted(found) == ["done", "duplicate", "ignored", "waiting"], found
    return found


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    """Ids handed to the Celery task (after commit), instead of a broker."""

    class Sent(list):
        def delay(self, record_id: int) -> None:
            self.append(record_id)

    ids = Sent()
    monkeypatch.setattr(tasks, "process_record", ids)
    return ids


def test_the_list_shows_every_state_and_its_filters_narrow_it(admin_client, records):
    page = _page(admin_client, RECORDS)
    for label in ("Done", "Waiting for a person", "Duplicate", "Ignored"):
        assert f">{label}</strong>" in page
    done, waiting = records["done"], records["waiting"]
    assert done.bas_document_number in page
    assert "Артикул = NO-SUCH: none found" in page
    everything = sorted(r.pk for r in records.values())
    assert _listed(admin_client, RECORDS) == everything
    assert _listed(admin_client, RECORDS, state__exact="waiting") == [waiting.pk]
    assert _listed(admin_client, RECORDS, state__exact="ignored") == [records["ignored"].pk]
    assert _listed(admin_client, RECORDS, source__exact="webhook") == everything
    assert _listed(admin_client, RECORDS, source__exact="poll") == []
    assert _listed(admin_client, RECORDS, account__id__exact=done.account_id) == everything
    assert _listed(admin_client, RECORDS, received_at__year=done.received_at.year) == everything
    # An order id is found exactly (messages that merely contain the digits match too).
    assert waiting.pk in _listed(admin_client, RECORDS, q=str(waiting.keycrm_order_id))
    assert _listed(admin_client, RECORDS, q="NO-SUCH") == [waiting.pk]
    assert _listed(admin_client, RECORDS, q=done.bas_document_number) == [done.pk]


def test_the_lists_cost_the_same_queries_for_more_rows(admin_client, records):
    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(url).status_code == 200
        return len(captured)

    before = queries(RECORDS), queries(EXCHANGES)
    done = records["done"]
    for _ in range(5):
        record = InboundRecord.objects.create(account=done.account, source="poll",
                                              state="waiting", message="x")
        Exchange.objects.create(system="bas", method="GET", url="http://bas/x", status=200,
                                record=record)
    assert (queries(RECORDS), queries(EXCHANGES)) == before


def test_a_waiting_record_says_why_in_words_with_payload_attempts_and_exchanges(
        admin_client, records):
    waiting = records["waiting"]
    page = _page(admin_client, _change(waiting))
    assert ">Waiting for a person</strong>: fix the cause below, then select the record" in page
    assert "Артикул = NO-SUCH: none found" in page
    assert page.index("Артикул = NO-SUCH") < page.index("Payload")  # at the top
    assert json.dumps(waiting.payload, ensure_ascii=False, indent=2) in page
    assert waiting.body in page  # verbatim, in the collapsed "As received"
    assert '"content-type": "application/json"' in page
    # One attempt, and the exchanges it made, each with a link to its bodies.
    [attempt] = waiting.attempt_set.all()
    assert attempt.worker == "test-worker"
    assert page.count("test-worker") == 1
    exchanges = list(waiting.exchanges.all())
    assert {e.system for e in exchanges} == {"keycrm", "bas"}
    for exchange in exchanges:
        assert reverse("admin:staging_exchange_change", args=[exchange.pk]) in page
    assert f"{EXCHANGES}?record__id__exact={waiting.pk}" in page
    assert _listed(admin_client, EXCHANGES, record__id__exact=waiting.pk) == sorted(
        e.pk for e in exchanges)
    # Read-only: nothing to save, no form field for what was received.
    assert 'name="_save"' not in page
    assert 'name="body"' not in page
    assert admin_client.post(_change(waiting), {"body": "{}"}).status_code == 403


def test_a_done_record_shows_its_bas_document_and_an_odata_link(admin_client, records, bas):
    done = records["done"]
    [document] = bas.objects("sb", ORDERS)
    assert done.bas_document_number == document["Number"]
    page = _page(admin_client, _change(done))
    assert ">Done</strong>: the order is in BAS." in page
    assert f"<div class=\"readonly\">{ORDERS}</div>" in page
    assert document["Number"] in page
    assert (f'href="{bas.url}/sb/odata/standard.odata/{ORDERS}'
            f"(guid'{document['Ref_Key']}')?$format=json\"") in page


def test_a_duplicate_links_to_the_record_it_repeats(admin_client, records):
    duplicate, done = records["duplicate"], records["done"]
    page = _page(admin_client, _change(duplicate))
    assert ">Duplicate</strong>: a repeat of a record received earlier" in page
    assert f'<a href="{_change(done)}" id="duplicate-of">#{done.pk} ' in page


def test_a_record_page_shows_the_newest_50_exchanges_and_when_a_retry_comes(admin_client,
                                                                           records):
    record = records["waiting"]
    Exchange.objects.bulk_create(
        Exchange(system="bas", method="GET", url=f"http://bas/{n}", status=200, record=record)
        for n in range(60))
    InboundRecord.objects.filter(pk=record.pk).update(
        state="retry", not_before=dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    page = _page(admin_client, _change(record))
    assert len(re.findall(r'id="exchanges-\d+"', page)) == 50
    assert "http://bas/59" in page
    assert "http://bas/9<" not in page
    assert "it will be tried again by itself. Next attempt after 2030-01-02 05:04:05." in page


def test_nobody_adds_or_deletes_records(admin_client, records):
    assert admin_client.get(reverse("admin:staging_inboundrecord_add")).status_code == 403
    record = records["done"]
    url = reverse("admin:staging_inboundrecord_delete", args=[record.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert InboundRecord.objects.filter(pk=record.pk).exists()


def test_reprocess_requeues_waiting_and_done_and_skips_the_rest(
        admin_client, records, sent, bas, django_capture_on_commit_callbacks):
    waiting = records["waiting"]
    body, payload, headers = waiting.body, waiting.payload, waiting.headers
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(RECORDS, {
            "action": "reprocess", "_selected_action": [r.pk for r in records.values()]})
    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "2 re-queued, 2 skipped (in processing, duplicates or ignored)"]
    assert sorted(sent) == sorted([records["done"].pk, waiting.pk])
    states = dict(InboundRecord.objects.values_list("id", "state"))
    assert {name: states[r.pk] for name, r in records.items()} == {
        "done": "queued", "waiting": "queued", "duplicate": "duplicate", "ignored": "ignored"}

    # The cause fixed in BAS, the worker takes the queued records again.
    bas.seed("sb", {"Catalog_Номенклатура": [{"Description": "X", "Артикул": "NO-SUCH"}]})
    _work()
    waiting.refresh_from_db()
    assert waiting.state == "done", waiting.message
    assert waiting.attempts == 2
    assert (waiting.body, waiting.payload, waiting.headers) == (body, payload, headers)
    assert waiting.body.encode() == body.encode()
    assert InboundRecord.objects.get(pk=records["done"].pk).state == "done"
    assert len(bas.objects("sb", ORDERS)) == 2  # the done order's document was updated
    page = _page(admin_client, _change(waiting))
    assert ">Done</strong>: the order is in BAS." in page
    assert waiting.bas_document_number in page


def test_reprocess_of_only_skipped_records_warns(admin_client, records, sent):
    response = admin_client.post(RECORDS, {
        "action": "reprocess",
        "_selected_action": [records["duplicate"].pk, records["ignored"].pk]})
    [message] = get_messages(response.wsgi_request)
    assert str(message) == "0 re-queued, 2 skipped (in processing, duplicates or ignored)"
    assert message.level_tag == "warning"
    assert sent == []


def test_a_viewer_sees_records_but_cannot_reprocess(client, records, sent):
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(
        codename__in=["view_inboundrecord", "view_attempt", "view_exchange"]))
    client.force_login(viewer)
    assert client.get(_change(records["waiting"])).status_code == 200
    response = client.post(RECORDS, {"action": "reprocess",
                                     "_selected_action": [records["waiting"].pk]})
    assert response.status_code == 200  # "No action selected": the action is not offered
    assert InboundRecord.objects.get(pk=records["waiting"].pk).state == "waiting"
    assert sent == []


def test_exchange_log_filters_failures_and_shows_bodies(admin_client, records):
    record = records["waiting"]
    server_error = Exchange.objects.create(
        system="bas", method="POST", url="http://bas.example/sb/odata/x", status=500,
        request_body='{"a": 1}', response_body="<html>boom</html>", record=record)
    no_answer = Exchange.objects.create(system="keycrm", method="GET",
                                        url="http://keycrm.example/v1/order/1",
                                        error="connection refused")
    logged = list(Exchange.objects.exclude(pk__in=[server_error.pk, no_answer.pk])
                  .values_list("pk", flat=True))
    assert logged  # processing wrote the successful ones
    assert _listed(admin_client, EXCHANGES, outcome="failed") == sorted(
        [server_error.pk, no_answer.pk])
    assert _listed(admin_client, EXCHANGES, outcome="succeeded") == sorted(logged)
    assert _listed(admin_client, EXCHANGES, system__exact="keycrm", outcome="failed") == [
        no_answer.pk]
    assert _listed(admin_client, EXCHANGES, q="bas.example") == [server_error.pk]
    # URLs are stored percent-encoded; a person searches and reads them in Cyrillic.
    lookups = list(Exchange.objects.filter(
        url__contains="%D0%90%D1%80%D1%82%D0%B8%D0%BA%D1%83%D0%BB%20eq%20'NO-SUCH'",
    ).values_list("pk", flat=True))
    assert len(lookups) == 1
    assert _listed(admin_client, EXCHANGES, q="Артикул eq 'NO-SUCH'") == sorted(lookups)
    assert "$filter=Артикул eq 'NO-SUCH'" in _page(
        admin_client, reverse("admin:staging_exchange_change", args=[lookups[0]]))
    page = _page(admin_client, reverse("admin:staging_exchange_change",
                                       args=[server_error.pk]))
    assert '<pre style="white-space:pre-wrap;max-height:40em;overflow:auto">{\n  "a": 1\n}' \
        in page
    assert "<html>boom</html>" in page
    assert f'href="{_change(record)}"' in page
    assert 'name="_save"' not in page


def test_only_a_superuser_deletes_exchanges_and_nobody_adds_them(admin_client, client,
                                                                  records):
    exchange = Exchange.objects.filter(record=records["done"]).first()
    assert admin_client.get(reverse("admin:staging_exchange_add")).status_code == 403
    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(
        codename__in=["view_exchange", "delete_exchange"]))
    client.force_login(staff)
    delete = reverse("admin:staging_exchange_delete", args=[exchange.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert admin_client.post(delete, {"post": "yes"}).status_code == 302
    assert not Exchange.objects.filter(pk=exchange.pk).exists()


def test_no_secret_appears_on_record_or_exchange_pages(admin_client, records):
    pages = [_page(admin_client, RECORDS), _page(admin_client, EXCHANGES)]
    pages += [_page(admin_client, _change(r)) for r in records.values()]
    exchanges = Exchange.objects.all()
    assert {e.system for e in exchanges} == {"keycrm", "bas"}
    pages += [_page(admin_client, reverse("admin:staging_exchange_change", args=[e.pk]))
              for e in exchanges]
    for page in pages:
        for secret in SECRETS:
            assert secret not in page
    for exchange in exchanges:  # not in the stored rows either
        stored = f"{exchange.url} {exchange.request_body} {exchange.response_body}"
        assert not any(secret in stored for secret in SECRETS)
