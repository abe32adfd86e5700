"""Every endpoint for every kind of caller: the three roles get an answer that matches the
OpenAPI document; anonymous callers get 401, and staff without a role, or a role member who is
not staff, get 403 and change nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from api.roles import CONFIGURATOR, OPERATOR
from staging.models import (
    Attempt,
    Exchange,
    InboundRecord,
    OutboxMessage,
    OutboxState,
    RecordState,
)
from tests.api.conftest import ALLOWED, PASSWORD, WHO, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(keycrm_account) -> dict[str, int]:
    record = InboundRecord.objects.create(
        account=keycrm_account, source="webhook", event="order.change_order_status",
        keycrm_order_id=17, state=RecordState.WAITING, body='{"id": 17}',
        message="Status «Відправлено» has no BAS state")
    Attempt.objects.create(record=record, worker="w1", outcome=RecordState.WAITING,
                           message=record.message)
    Exchange.objects.create(system="keycrm", method="GET", url="https://x/v1/order/17",
                            status=200, record=record)
    message = OutboxMessage.objects.create(account=keycrm_account, kind="keycrm.put",
                                           key="order:17:status", state=OutboxState.WAITING,
                                           payload={"path": "/order/17", "body": {}})
    return {"record": record.pk, "message": message.pk}


def _call(client, endpoint: str, rows: dict[str, int]):
    record, message = rows["record"], rows["message"]
    calls = {
        "schema": ("GET", "/api/schema/", None),
        "health": ("GET", "/api/v1/health/", None),
        "records": ("GET", "/api/v1/records/", None),
        "record": ("GET", f"/api/v1/records/{record}/", None),
        "reprocess": ("POST", "/api/v1/records/reprocess/", {"ids": [record]}),
        "record_reprocess": ("POST", f"/api/v1/records/{record}/reprocess/", None),
        "outbox_resend": ("POST", "/api/v1/outbox/resend/", {"ids": [message]}),
        "configuration": ("GET", "/api/v1/configuration/", None),
    }
    method, path, body = calls[endpoint]
    if method == "GET":
        return method, path, client.get(path)
    return method, path, client.post(path, body, format="json")


ENDPOINTS = ("schema", "health", "records", "record", "reprocess", "record_reprocess",
             "outbox_resend", "configuration")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("who", WHO)
def test_every_endpoint_for_every_caller(who, endpoint, rows, client_as, api_schema):
    method, path, response = _call(client_as(who), endpoint, rows)

    if who in ALLOWED:
        assert response.status_code == 200, response.content[:300]
        if endpoint != "schema":
            assert api_schema.response_errors(method, path, response.status_code,
                                              response["Content-Type"], response.content) == []
    else:
        expected = 401 if who == "anonymous" else 403
        assert response.status_code == expected, response.content[:300]
        if expected == 401:
            assert response["WWW-Authenticate"] == "Token"
        # A refused write changed nothing.
        assert InboundRecord.objects.get(pk=rows["record"]).state == RecordState.WAITING
        assert OutboxMessage.objects.get(pk=rows["message"]).state == OutboxState.WAITING


@pytest.mark.parametrize("who", sorted(ALLOWED))
def test_writes_by_allowed_callers_take_effect(who, rows, client_as):
    client = client_as(who)

    reprocessed = client.post(f"/api/v1/records/{rows['record']}/reprocess/")
    resent = client.post("/api/v1/outbox/resend/", {"ids": [rows["message"]]}, format="json")

    assert reprocessed.json() == {"matched": 1, "requeued": 1, "skipped": 0}
    assert resent.json() == {"queued": 1, "skipped": 0}
    record = InboundRecord.objects.get(pk=rows["record"])
    assert record.state == RecordState.QUEUED
    assert record.message.startswith(f"queued again by {who} (API) at ")
    assert OutboxMessage.objects.get(pk=rows["message"]).state == OutboxState.QUEUED


def test_session_login_works_like_a_token(rows, client_as):
    make_user("operator")
    client = APIClient()
    assert client.login(username="operator", password=PASSWORD)

    assert client.get("/api/v1/records/").json()["count"] == 1


def test_an_invalid_token_is_refused(rows):
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")

    response = client.get("/api/v1/health/")

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


def test_the_roles_differ_only_in_changing_configuration():
    operator = set(Group.objects.get(name=OPERATOR).permissions.values_list(
        "content_type__app_label", "codename"))
    configurator = set(Group.objects.get(name=CONFIGURATOR).permissions.values_list(
        "content_type__app_label", "codename"))

    assert operator < configurator
    for permission in [("staging", "view_inboundrecord"), ("staging", "view_exchange"),
                       ("staging", "view_outboxmessage"), ("accounts", "view_keycrmaccount"),
                       ("mappings", "view_fieldmapping"), ("api", "reprocess_records"),
                       ("api", "resend_outbox"), ("api", "view_health"),
                       ("api", "export_configuration")]:
        assert permission in operator
    for permission in [("accounts", "change_keycrmaccount"), ("accounts", "add_basconnection"),
                       ("accounts", "delete_basconnection"), ("mappings", "change_fieldmapping"),
                       ("mappings", "add_statuscorrespondence"),
                       ("mappings", "delete_documentprofile"), ("staging", "change_pollcursor")]:
        assert permission in configurator
        assert permission not in operator
    # Nobody in a role edits what was received or the exchange log.
    assert not {p for p in configurator
                if p[0] == "staging" and p[1].split("_", 1)[0] in {"add", "delete"}
                and p[1] not in {"add_pollcursor", "add_backfilljob"}}
