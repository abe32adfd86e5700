"""The record list filters and pages, the detail carries attempts and exchanges, and
re-processing re-queues exactly what was selected and sends each record to a worker."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from accounts.models import KeyCrmAccount
from staging.models import Attempt, Exchange, InboundRecord, RecordState

pytestmark = pytest.mark.django_db

KYIV = ZoneInfo("Europe/Kyiv")  # the portal's TIME_ZONE: date filters are its days


@pytest.fixture
def records(keycrm_account) -> dict[str, InboundRecord]:
    other = KeyCrmAccount.objects.create(name="Другий", api_base_url="https://other.example/v1")
    rows = {  # name: (account, source, event, order, state, received in Kyiv)
        "waiting": (keycrm_account, "webhook", "order.change_order_status", 101, "waiting",
                    dt.datetime(2025, 3, 1, 10, tzinfo=KYIV)),
        "failed": (keycrm_account, "poll", "", 102, "failed",
                   dt.datetime(2025, 3, 2, 23, 30, tzinfo=KYIV)),
        "done": (keycrm_account, "webhook", "order.change_payment_status", 101, "done",
                 dt.datetime(2025, 3, 3, 0, 10, tzinfo=KYIV)),  # the 2nd in UTC
        "other": (other, "webhook", "order.change_order_status", 101, "waiting",
                  dt.datetime(2025, 3, 2, 12, tzinfo=KYIV)),
        "duplicate": (keycrm_account, "webhook", "order.change_order_status", 103,
                      "duplicate", dt.datetime(2025, 3, 2, 12, tzinfo=KYIV)),
        "processing": (keycrm_account, "backfill", "", 104, "processing",
                       dt.datetime(2025, 3, 2, 13, tzinfo=KYIV)),
    }
    made = {}
    for name, (account, source, event, order, state, received) in rows.items():
        record = InboundRecord.objects.create(account=account, source=source, event=event,
                                              keycrm_order_id=order, state=state,
                                              body=f'{{"name": "{name}"}}', message=name)
        InboundRecord.objects.filter(pk=record.pk).update(received_at=received)
        made[name] = record
    return made


def _names(response, records) -> list[str]:
    by_id = {record.pk: name for name, record in records.items()}
    assert response.status_code == 200, response.content[:300]
    return [by_id[row["id"]] for row in response.json()["results"]]


@pytest.mark.parametrize(("query", "expected"), [
    ({}, ["done", "failed", "processing", "duplicate", "other", "waiting"]),
    ({"state": "waiting"}, ["other", "waiting"]),
    ({"state": ["waiting", "failed"]}, ["failed", "other", "waiting"]),
    ({"source": "poll"}, ["failed"]),
    ({"event": "order.change_payment_status"}, ["done"]),
    ({"order": 101}, ["done", "other", "waiting"]),
    ({"received_from": "2025-03-02", "received_until": "2025-03-02"},
     ["failed", "processing", "duplicate", "other"]),
    ({"received_from": "2025-03-03"}, ["done"]),
    ({"received_until": "2025-03-01"}, ["waiting"]),
    ({"order": 101, "state": "waiting", "source": "webhook"}, ["other", "waiting"]),
])
def test_filters(query, expected, records, client_as):
    response = client_as("operator").get("/api/v1/records/", query)

    assert _names(response, records) == expected


def test_filter_by_account(records, client_as, keycrm_account):
    other = KeyCrmAccount.objects.get(name="Другий")
    client = client_as("operator")

    assert _names(client.get("/api/v1/records/", {"account": other.pk}), records) == ["other"]
    assert len(client.get("/api/v1/records/", {"account": keycrm_account.pk}).json()[
        "results"]) == 5


@pytest.mark.parametrize(("query", "field"), [
    ({"state": "lost"}, "state"),
    ({"source": "email"}, "source"),
    ({"order": "abc"}, "order"),
    ({"received_from": "1 March"}, "received_from"),
    ({"received_from": "2025-03-03", "received_until": "2025-03-01"}, "received_until"),
])
def test_a_bad_filter_is_a_400_naming_the_field(query, field, records, client_as):
    response = client_as("operator").get("/api/v1/records/", query)

    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_pages(records, client_as):
    client = client_as("operator")

    first = client.get("/api/v1/records/", {"page_size": 4}).json()
    second = client.get("/api/v1/records/", {"page_size": 4, "page": 2}).json()

    assert first["count"] == second["count"] == 6
    assert len(first["results"]) == 4
    assert len(second["results"]) == 2
    assert second["next"] is None
    assert {r["id"] for r in first["results"]}.isdisjoint(r["id"] for r in second["results"])


def test_the_list_carries_no_received_bodies(records, client_as):
    row = client_as("operator").get("/api/v1/records/").json()["results"][0]

    assert "body" not in row
    assert "payload" not in row
    assert row["account_name"] == "Магазин"


def test_detail_has_what_was_received_its_attempts_and_exchanges(records, client_as):
    record = records["waiting"]
    Attempt.objects.create(record=record, worker="w1", outcome="retry", message="timeout")
    Attempt.objects.create(record=record, worker="w2", outcome="waiting", message="no status")
    Exchange.objects.create(system="bas", method="POST", url="https://bas/odata", status=400,
                            response_body='{"odata.error": {}}', record=record)
    Exchange.objects.create(system="keycrm", method="GET", url="https://k/v1/order/101",
                            status=200, record=records["done"])

    data = client_as("operator").get(f"/api/v1/records/{record.pk}/").json()

    assert data["body"] == '{"name": "waiting"}'
    assert [(a["worker"], a["outcome"], a["message"]) for a in data["attempts_made"]] == [
        ("w1", "retry", "timeout"), ("w2", "waiting", "no status")]
    assert [(e["system"], e["status"], e["response_body"]) for e in data["exchanges"]] == [
        ("bas", 400, '{"odata.error": {}}')]


def test_detail_of_a_missing_record_is_404(client_as, db):
    response = client_as("operator").get("/api/v1/records/999999/")

    assert response.status_code == 404


def test_reprocess_by_filter_requeues_and_sends_each_to_a_worker(
        records, client_as, sent_tasks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_as("operator").post(
            "/api/v1/records/reprocess/",
            {"state": ["waiting", "failed", "duplicate", "processing"],
             "account": records["waiting"].account_id}, format="json")

    # duplicate and processing are matched but left alone; "other" is another account's.
    assert response.json() == {"matched": 4, "requeued": 2, "skipped": 2}
    now = dict(InboundRecord.objects.values_list("id", "state"))
    states = {name: now[record.pk] for name, record in records.items()}
    assert states["waiting"] == states["failed"] == RecordState.QUEUED
    assert states["duplicate"] == RecordState.DUPLICATE
    assert states["processing"] == RecordState.PROCESSING
    assert states["other"] == RecordState.WAITING
    assert sorted(sent_tasks()) == sorted([
        ("staging.tasks.process_record", [records["waiting"].pk]),
        ("staging.tasks.process_record", [records["failed"].pk])])


def test_reprocess_by_ids(records, client_as, sent_tasks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_as("configurator").post(
            "/api/v1/records/reprocess/", {"ids": [records["done"].pk]}, format="json")

    assert response.json() == {"matched": 1, "requeued": 1, "skipped": 0}
    assert InboundRecord.objects.get(pk=records["done"].pk).state == RecordState.QUEUED
    assert sent_tasks() == [("staging.tasks.process_record", [records["done"].pk])]


def test_reprocess_refuses_an_empty_selection(records, client_as, sent_tasks):
    response = client_as("operator").post("/api/v1/records/reprocess/", {}, format="json")

    assert response.status_code == 400
    assert "Refusing to re-queue every record" in response.json()["non_field_errors"][0]
    assert InboundRecord.objects.filter(state=RecordState.QUEUED).count() == 0
    assert sent_tasks() == []


def test_reprocess_one_record_that_a_worker_holds_is_skipped(records, client_as, sent_tasks):
    response = client_as("operator").post(
        f"/api/v1/records/{records['processing'].pk}/reprocess/")

    assert response.json() == {"matched": 1, "requeued": 0, "skipped": 1}
    assert InboundRecord.objects.get(pk=records["processing"].pk).state == "processing"
    assert sent_tasks() == []


def test_reprocess_a_missing_record_is_404(client_as, db):
    assert client_as("operator").post("/api/v1/records/999999/reprocess/").status_code == 404
