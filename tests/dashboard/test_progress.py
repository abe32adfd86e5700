"""Every long action reports into a run whose page shows done / total: a backfill started in the
admin, a directory sync, a bulk re-process; the commands show a bar in the terminal."""

from __future__ import annotations

import io
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from mappings import tasks as mapping_tasks
from mappings.models import MIRRORED_DIRECTORIES, DirectoryEntry
from runs.models import Run
from runs.services import run_url
from staging import tasks
from staging.models import BackfillJob, InboundRecord, RecordSource, RecordState

pytestmark = pytest.mark.django_db


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _status(client, run: Run) -> dict:
    return client.get(reverse("admin:runs_run_status", args=[run.pk])).json()


def test_a_backfill_started_in_the_admin_opens_its_run_and_the_task_fills_it(
        admin_client, keycrm, keycrm_account, monkeypatch, django_capture_on_commit_callbacks):
    keycrm.seed({"orders": [{"ordered_at": "2024-03-01 10:00:00"} for _ in range(120)]})
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(reverse("admin:staging_backfilljob_add"),
                                     {"account": keycrm_account.pk, "since": "2024-01-01"})
    job, run = BackfillJob.objects.get(), Run.objects.get()
    assert response.status_code == 302
    assert response["Location"] == run_url(run)
    assert (run.kind, run.state, run.account) == ("backfill", "queued", keycrm_account)
    assert len(callbacks) == 1  # the task, after the commit

    # One page per task, as a long history goes: the page can be left and come back to.
    monkeypatch.setattr(tasks, "BACKFILL_SLICE_SECONDS", 0)
    seen = []
    for _slice in range(3):
        state = tasks.run_backfill.run(job.pk, run.pk)
        status = _status(admin_client, run)
        seen.append((state, status["state"], status["done"], status["total"]))
    assert seen == [("running", "running", 50, 120), ("running", "running", 100, 120),
                    ("done", "done", 120, 120)]
    status = _status(admin_client, run)
    assert (status["state"], status["done"], status["total"], status["percent"]) == (
        "done", 120, 120, 100.0)
    assert status["message"] == "120 order(s) stored from 3 page(s)."
    page = admin_client.get(run_url(run)).content.decode()
    assert 'id="run-done">120<' in page
    assert InboundRecord.objects.filter(source="backfill").count() == 120


def test_a_failed_backfill_fails_its_run_with_the_reason(admin_client, keycrm, keycrm_account,
                                                         settings):
    settings.KEYCRM_MAX_RETRIES = 0
    keycrm.seed({"orders": [{"ordered_at": "2024-03-01 10:00:00"} for _ in range(3)]})
    keycrm.set_faults(error_count=5, error_status=500, path_contains="/order")
    admin_client.post(reverse("admin:staging_backfilljob_add"),
                      {"account": keycrm_account.pk, "since": "2024-01-01"})
    job, run = BackfillJob.objects.get(), Run.objects.get()
    assert tasks.run_backfill.run(job.pk, run.pk) == "failed"
    run.refresh_from_db()
    assert run.state == "failed"
    assert "KeyCRM 500" in run.message
    assert "run the backfill again" in run.message


def test_the_directory_sync_action_queues_a_run_and_the_task_reports_each_directory(
        admin_client, keycrm, keycrm_account, shop, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(
            reverse("admin:accounts_keycrmaccount_changelist"),
            {"action": "sync_directories_action", "_selected_action": [keycrm_account.pk]})
    run = Run.objects.get()
    assert response["Location"] == run_url(run)
    assert (run.kind, run.state, run.total) == ("directory_sync", "queued",
                                                len(MIRRORED_DIRECTORIES))
    assert len(callbacks) == 1
    assert not keycrm.requests()  # nothing was read in the request

    mapping_tasks.sync_account_directories.apply(args=[keycrm_account.pk, None, run.pk])
    status = _status(admin_client, run)
    assert (status["state"], status["done"], status["total"]) == (
        "done", len(MIRRORED_DIRECTORIES), len(MIRRORED_DIRECTORIES))
    assert status["message"].startswith("Order statuses: 4 (4 new);")
    assert DirectoryEntry.objects.filter(account=keycrm_account, directory="order_status"
                                         ).count() == 4


def test_re_processing_many_records_runs_in_a_task_with_a_run(admin_client, keycrm_account,
                                                               django_capture_on_commit_callbacks):
    InboundRecord.objects.bulk_create([
        InboundRecord(account=keycrm_account, source=RecordSource.POLL,
                      state=RecordState.WAITING, message="x") for _ in range(120)]
        + [InboundRecord(account=keycrm_account, source=RecordSource.POLL,
                         state=RecordState.DUPLICATE)])
    ids = list(InboundRecord.objects.values_list("id", flat=True))
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(reverse("admin:staging_inboundrecord_changelist"),
                                     {"action": "reprocess", "_selected_action": ids})
    run = Run.objects.get()
    assert response["Location"] == run_url(run)
    assert (run.kind, run.state, run.total) == ("reprocess", "queued", 121)
    assert len(callbacks) == 1
    assert InboundRecord.objects.filter(state="waiting").count() == 120  # not yet

    with django_capture_on_commit_callbacks(execute=True):
        message = tasks.reprocess_records.run(run.pk, ids, "admin")
    assert message == "120 re-queued, 1 skipped (in processing, duplicates or ignored)"
    assert InboundRecord.objects.filter(state="queued").count() == 120
    run.refresh_from_db()
    assert (run.state, run.done, run.total, run.result) == (
        "done", 121, 121, {"requeued": 120, "skipped": 1})


def test_a_few_records_are_still_re_processed_in_the_request(admin_client, keycrm_account):
    record = InboundRecord.objects.create(account=keycrm_account, source=RecordSource.POLL,
                                          state=RecordState.WAITING)
    admin_client.post(reverse("admin:staging_inboundrecord_changelist"),
                      {"action": "reprocess", "_selected_action": [record.pk]})
    record.refresh_from_db()
    assert record.state == "queued"
    assert not Run.objects.exists()


def test_the_reprocess_command_shows_a_bar_for_many_records(keycrm_account):
    InboundRecord.objects.bulk_create([
        InboundRecord(account=keycrm_account, source=RecordSource.POLL,
                      state=RecordState.WAITING) for _ in range(150)])
    out = StringIO()
    call_command("reprocess", "--state", "waiting", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[-2].startswith(f"re-queue [{'#' * 30}] 150/150 ")
    assert lines[-1] == ("150 record(s) match: 150 re-queued, 0 skipped (in processing, "
                         "duplicates or ignored).")
    assert InboundRecord.objects.filter(state="queued").count() == 150


def test_the_directory_command_draws_a_bar_on_a_terminal(keycrm, keycrm_account, shop):
    out = Tty()
    call_command("keycrm_sync_directories", "--account", "Магазин",
                 "--directory", "order_status", "--directory", "source", stdout=out)
    first, bar, summary, end = out.getvalue().split("\n")
    assert first == "Магазин:"
    # One line redrawn in place: each state starts with a carriage return, no line feed.
    assert bar.startswith(f"\rOrder statuses: 0 [{'.' * 30}] 0/2 ")
    assert bar.split("\r")[-1].startswith(f"Sources (sales channels): 1 [{'#' * 30}] 2/2 ")
    assert (summary, end) == ("Order statuses: 4 (4 new); Sources (sales channels): "
                              "1 (1 new).", "")


def test_an_unexpected_error_fails_the_re_processing_run_with_what_was_done(keycrm_account,
                                                                           monkeypatch):
    monkeypatch.setattr(tasks, "REPROCESS_CHUNK", 2)
    records = InboundRecord.objects.bulk_create([
        InboundRecord(account=keycrm_account, source=RecordSource.POLL,
                      state=RecordState.WAITING) for _ in range(2)])
    run = tasks.records_reprocess_start(record_ids=[r.pk for r in records], who="admin")
    ids = [r.pk for r in records] + ["not-a-record-id"]  # a message the database refuses

    with pytest.raises(ValueError, match="not-a-record-id"):
        tasks.reprocess_records.run(run.pk, ids, "admin")

    run.refresh_from_db()
    assert (run.state, run.result) == ("failed", {"requeued": 2, "skipped": 0})
    assert "not-a-record-id" in run.message
    assert InboundRecord.objects.filter(state="queued").count() == 2
