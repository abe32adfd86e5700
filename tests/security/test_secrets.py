"""Secrets never leave the portal: the API key, the BAS password (also as HTTP Basic
credentials), the webhook token and the encryption key are planted (conftest.py), the portal
does real work with them against the emulators — connection checks that pass and fail, an
order processed, a BAS failure, refused webhooks — and then every output is scanned: the log,
the exchange log, the stored records, every admin page, the configuration exports."""

from __future__ import annotations

import contextlib
import io
import json
import logging

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import NoReverseMatch, reverse

from accounts.models import BasConnection, KeyCrmAccount
from accounts.services import bas_connection_check, keycrm_account_check
from emulators.keycrm import render
from mappings.services.transfer import configuration_dumps, configuration_export
from staging.models import Exchange, InboundRecord
from staging.services.process import record_process
from staging.services.queue import records_due

pytestmark = pytest.mark.django_db

OBJECTS_PER_ADMIN = 5


def _webhook(client, account, keycrm, order_id: int | None = None, *, raw: bytes = b""):
    if order_id is not None:
        with keycrm.lock:
            raw = json.dumps({"event": "order.change_order_status", "context": render.
                              webhook_context(keycrm.store, keycrm.store.orders[order_id])})
    return client.post(reverse("keycrm_webhook", args=[account.webhook_token]), data=raw,
                       content_type="application/json")


def _work() -> None:
    for record_id in records_due():
        record_process(record_id=record_id, worker="security")


@pytest.fixture
def worked(client, shop, keycrm, bas, planted, caplog):
    """The portal after a day's work with the planted secrets; the log it wrote is on
    ``caplog``."""
    caplog.set_level(logging.DEBUG)
    account, connection = shop.account, BasConnection.objects.get()
    assert keycrm_account_check(account=account).ok
    assert bas_connection_check(connection=connection).ok
    # An order made into a BAS document, and one that meets a BAS failure (logged, retried).
    _webhook(client, account, keycrm, shop.order(keycrm))
    _work()
    bas.set_faults(error_count=50, error_status=500)
    _webhook(client, account, keycrm, shop.order(keycrm, phone="050 1"))
    _work()
    bas.set_faults()
    # Refused webhooks: malformed, and an unknown token.
    _webhook(client, account, keycrm, raw=b'{"event": ')
    client.post("/hooks/keycrm/not-a-token/", data="{}", content_type="application/json")
    # Checks that fail: KeyCRM no longer accepts the key, BAS no longer the password.
    keycrm.set_keys(["another-key"])
    bas.add_user("sb", connection.username, "another-password")
    assert not keycrm_account_check(account=KeyCrmAccount.objects.get()).ok
    assert not bas_connection_check(connection=connection).ok
    assert Exchange.objects.filter(status__gte=400).exists()
    return shop


def _log_records(caplog) -> list[logging.LogRecord]:
    """What was logged while ``worked`` ran (the fixture's setup phase) and since."""
    return [*caplog.get_records("setup"), *caplog.records]


def _log_text(caplog) -> str:
    return "\n".join(f"{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ''}"
                     for r in _log_records(caplog))


def test_the_log_holds_no_secret(worked, planted, caplog):
    text = _log_text(caplog)
    assert len(_log_records(caplog)) > 10, "the work above should have logged something"
    # The webhook token is checked on its own below.
    assert planted.found_in(text, allow=("webhook token",)) == []


def test_the_log_holds_no_webhook_token(worked, planted, caplog):
    assert "webhook token" not in planted.found_in(_log_text(caplog))


def test_the_exchange_log_holds_no_secret(worked, planted):
    rows = list(Exchange.objects.values())
    assert len(rows) > 5
    text = json.dumps(rows, default=str, ensure_ascii=False)
    assert planted.found_in(text) == []


def test_stored_records_and_check_results_hold_no_secret(worked, planted):
    records = json.dumps(list(InboundRecord.objects.values()), default=str, ensure_ascii=False)
    checks = json.dumps([*KeyCrmAccount.objects.values("last_check_message"),
                         *BasConnection.objects.values("last_check_message")],
                        ensure_ascii=False)
    assert planted.found_in(records) == []
    assert planted.found_in(checks) == []


def _admin_urls() -> list[str]:
    urls = []
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        urls.append(reverse("admin:{}_{}_changelist".format(*info)))
        with contextlib.suppress(NoReverseMatch):  # an admin may have no add view
            urls.append(reverse("admin:{}_{}_add".format(*info)))
        for pk in model._default_manager.values_list("pk", flat=True)[:OBJECTS_PER_ADMIN]:
            urls.append(reverse("admin:{}_{}_change".format(*info), args=[pk]))
            urls.append(reverse("admin:{}_{}_history".format(*info), args=[pk]))
    return urls


def test_no_admin_page_shows_a_secret(worked, planted, client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-1")
    client.force_login(user)
    account_page = reverse("admin:accounts_keycrmaccount_change", args=[worked.account.pk])
    pages = _admin_urls()
    assert len(pages) > 20
    leaks = {}
    for url in pages:
        response = client.get(url)
        # Mirrored directories are written by the sync only: their add view is forbidden.
        assert response.status_code == 200 or (
            response.status_code == 403 and url.endswith("/add/")), (url, response.status_code)
        text = response.content.decode()
        # The account's own page shows its webhook address: the operator pastes it into
        # KeyCRM's trigger. No other page may.
        allow = ("webhook token",) if url == account_page else ()
        if found := planted.found_in(text, allow=allow):
            leaks[url] = found
    assert leaks == {}


def test_configuration_exports_hold_no_secret(worked, planted):
    data = configuration_export()
    assert data["accounts"]
    assert data["connections"]
    for fmt in ("json", "yaml"):
        assert planted.found_in(configuration_dumps(data, fmt=fmt)) == [], fmt
    out = io.StringIO()
    call_command("config_export", "--format", "yaml", stdout=out)
    assert worked.account.name in out.getvalue()
    assert planted.found_in(out.getvalue()) == []
