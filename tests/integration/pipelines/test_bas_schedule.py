"""Scheduling and the faces of the BAS → KeyCRM check: which accounts are due, the task with
its run, the admin's "run now", the command, and a failure left visible on the settings."""

from __future__ import annotations

import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from integration.models import BasChangesSettings, BasDocumentState
from integration.pipelines.bas_changes import accounts_due_for_bas_changes
from integration.tasks import bas_changes_account
from runs.models import Run
from tests.integration.pipelines.helpers import check, webhook, work

pytestmark = pytest.mark.django_db


def test_an_account_is_due_when_its_interval_has_passed_and_the_check_is_enabled(shop):
    assert accounts_due_for_bas_changes(now=timezone.now()) == [shop.account]
    check(shop.account)
    assert accounts_due_for_bas_changes(now=timezone.now()) == []
    row = BasChangesSettings.objects.get(account=shop.account)
    later = row.last_started_at + dt.timedelta(seconds=row.interval_seconds)
    assert accounts_due_for_bas_changes(now=later) == [shop.account]
    BasChangesSettings.objects.filter(pk=row.pk).update(enabled=False)
    assert accounts_due_for_bas_changes(now=later) == []


def test_the_task_runs_one_check_and_finishes_its_run(client, shop, keycrm, bas):
    order_id = shop.order(keycrm)
    webhook(client, shop.account, keycrm, order_id)
    work()
    run = Run.objects.create(kind="bas.changes", title="test", account=shop.account,
                             state="queued")
    result = bas_changes_account.apply(args=(shop.account.pk, run.pk)).get()
    assert "1 documents read" in result
    run.refresh_from_db()
    assert (run.state, run.done, run.total) == ("done", 1, 1)
    row = BasChangesSettings.objects.get(account=shop.account)
    assert row.last_success_at is not None
    assert row.last_error == ""
    assert "1 documents read" in row.last_summary


def test_a_failing_check_leaves_the_error_on_the_settings_and_the_run(shop, bas):
    bas.set_users("sb", {"someone-else": "x"})
    run = Run.objects.create(kind="bas.changes", title="test", account=shop.account,
                             state="queued")
    assert bas_changes_account.apply(args=(shop.account.pk, run.pk)).get() == "failed"
    row = BasChangesSettings.objects.get(account=shop.account)
    assert row.last_error
    assert row.last_success_at is None
    run.refresh_from_db()
    assert run.state == "failed"
    assert run.message == row.last_error


def test_run_now_in_the_admin_queues_a_run_and_shows_its_page(admin_client, shop):
    row = BasChangesSettings.objects.create(account=shop.account)
    response = admin_client.post(
        reverse("admin:integration_baschangessettings_changelist"),
        {"action": "run_now", "_selected_action": [row.pk]})
    run = Run.objects.get(kind="bas.changes")
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:runs_run_change", args=[run.pk])
    assert (run.state, run.account_id) == ("queued", shop.account.pk)


def test_the_document_rows_are_listed_read_only(admin_client, client, shop, keycrm, bas):
    order_id = shop.order(keycrm)
    webhook(client, shop.account, keycrm, order_id)
    work()
    [row] = BasDocumentState.objects.all()
    listing = admin_client.get(reverse("admin:integration_basdocumentstate_changelist"))
    assert listing.status_code == 200
    assert row.number in listing.content.decode()
    assert admin_client.get(reverse("admin:integration_basdocumentstate_add")).status_code == 403


def test_the_command_checks_the_given_account(shop, bas):
    out = io.StringIO()
    call_command("bas_changes", account=shop.account.pk, stdout=out)
    assert "0 documents read" in out.getvalue()
    assert BasChangesSettings.objects.get(account=shop.account).last_success_at is not None


def test_a_crashing_check_fails_its_run_and_leaves_the_error_on_the_settings(shop, bas):
    # A number no database column holds, typed into a BAS document: not a BAS error, a crash.
    ref = bas.reference("sb")
    now = dt.datetime.now(ZoneInfo("Europe/Kyiv")).strftime("%Y-%m-%dT%H:%M:%S")
    bas.seed("sb", {"Document_ЗаказПокупателя": [{
        "Date": now, "Posted": False, "Организация_Key": ref["Catalog_Организации"]["main"],
        "НомерВходящегоДокумента": "KC-99999999999999999999999"}]})
    run = Run.objects.create(kind="bas.changes", title="test", account=shop.account,
                             state="queued")
    result = bas_changes_account.apply(args=(shop.account.pk, run.pk))
    assert result.failed()
    run.refresh_from_db()
    row = BasChangesSettings.objects.get(account=shop.account)
    assert run.state == "failed"
    assert row.last_error
    assert run.message == row.last_error
    assert row.last_success_at is None
