"""Health: the database and broker checks, and each loop's last success per account."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from api import services
from api.services import Loop, loop_register
from config import celery_app
from staging.models import InboundRecord, OutboxMessage, PollCursor

pytestmark = pytest.mark.django_db


def _loops(data: dict) -> dict[str, dict]:
    return {row["key"]: row for row in data["loops"]}


def test_each_loop_reports_its_last_success(keycrm_account, client_as):
    now = timezone.now()
    webhook = InboundRecord.objects.create(account=keycrm_account, source="webhook",
                                           state="queued")
    InboundRecord.objects.create(account=keycrm_account, source="poll", state="waiting")
    InboundRecord.objects.create(account=keycrm_account, source="poll", state="done",
                                 processed_at=now - dt.timedelta(minutes=3))
    InboundRecord.objects.create(account=keycrm_account, source="poll", state="done",
                                 processed_at=now - dt.timedelta(minutes=30))
    PollCursor.objects.create(account=keycrm_account, interval_seconds=300,
                              last_success_at=now - dt.timedelta(minutes=2))
    OutboxMessage.objects.create(account=keycrm_account, kind="keycrm.put", key="a",
                                 state="sent", sent_at=now - dt.timedelta(minutes=7))
    OutboxMessage.objects.create(account=keycrm_account, kind="keycrm.put", key="b",
                                 state="failed")

    response = client_as("operator").get("/api/v1/health/")

    data = response.json()
    assert response.status_code == 200
    assert data["ok"] is True
    assert data["checks"] == [{"name": "database", "ok": True, "message": ""},
                              {"name": "broker", "ok": True, "message": ""}]
    loops = _loops(data)
    assert list(loops) == ["webhooks", "polling", "processing", "outbox"]
    at = {key: dt.datetime.fromisoformat(row["last_success_at"]) for key, row in loops.items()}
    assert at["webhooks"] == webhook.received_at
    assert at["polling"] == now - dt.timedelta(minutes=2)
    assert at["processing"] == now - dt.timedelta(minutes=3)
    assert at["outbox"] == now - dt.timedelta(minutes=7)
    assert loops["polling"]["interval_seconds"] == 300
    assert loops["webhooks"]["interval_seconds"] is None
    assert not any(row["silent"] for row in loops.values())
    assert {row["account_name"] for row in loops.values()} == {"Магазин"}


def test_a_loop_silent_for_three_intervals_is_flagged(keycrm_account, client_as):
    PollCursor.objects.create(account=keycrm_account, interval_seconds=60,
                              last_success_at=timezone.now() - dt.timedelta(minutes=4))

    loops = _loops(client_as("operator").get("/api/v1/health/").json())

    assert loops["polling"]["silent"] is True
    # No rhythm, no verdict: a shop may receive no webhook for hours.
    assert loops["webhooks"] == {**loops["webhooks"], "last_success_at": None, "silent": False}


def test_a_loop_registered_later_appears(keycrm_account, client_as, monkeypatch):
    monkeypatch.setattr(services, "LOOPS", list(services.LOOPS))  # restored after the test
    at = timezone.now() - dt.timedelta(hours=1)
    loop_register(Loop(key="stock_push", name="Stock push", last_success=lambda account: at,
                       interval_seconds=lambda account: 1800.0))

    loops = _loops(client_as("operator").get("/api/v1/health/").json())

    assert loops["stock_push"]["last_success_at"] is not None
    assert dt.datetime.fromisoformat(loops["stock_push"]["last_success_at"]) == at
    assert loops["stock_push"]["silent"] is False


def test_a_broker_that_does_not_answer_is_503(keycrm_account, client_as):
    before = celery_app.conf.broker_url
    celery_app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        response = client_as("operator").get("/api/v1/health/")
    finally:
        celery_app.conf.broker_url = before

    data = response.json()
    assert response.status_code == 503
    assert data["ok"] is False
    broker = next(check for check in data["checks"] if check["name"] == "broker")
    assert broker["ok"] is False
    assert broker["message"].startswith("The message broker does not answer:")
    assert data["loops"]  # the loops are still reported: the database answers


def test_a_disabled_account_is_not_reported(keycrm_account, client_as):
    keycrm_account.enabled = False
    keycrm_account.save()

    assert client_as("operator").get("/api/v1/health/").json()["loops"] == []
