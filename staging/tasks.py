"""Celery tasks of the staging queue: thin, idempotent, ids in, one service call each."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterable

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from runs.models import Run, RunState
from runs.services import run_begin, run_finish, run_progress, run_start
from staging.models import BackfillJob, InboundRecord, PollCursor
from staging.services.backfill import BackfillBusy, backfill_run
from staging.services.exchanges import exchanges_prune
from staging.services.outbox import (
    LOCKED_DELAY,
    outbox_deferred,
    outbox_due,
    outbox_send,
    outbox_sweep,
)
from staging.services.polling import (
    POLL_LOCK_SECONDS,
    PollError,
    account_poll,
    accounts_due_for_poll,
)
from staging.services.process import LOCKED_ORDER_DELAY, record_process
from staging.services.queue import (
    record_deferred,
    records_due,
    records_requeue,
    records_sweep,
)
from staging.services.selectors import record_ids_queued

logger = logging.getLogger(__name__)

def worker_name(task_id: str | None = None) -> str:
    """A name for lock and claim ownership that is unique to this process and call: the pool
    processes of one Celery worker are forked from one parent and must not share a name."""
    return f"celery@{socket.gethostname()}:{os.getpid()}:{(task_id or '')[:8]}"

# Re-processing more records than this at once runs in a task with a progress page (the
# request would otherwise send thousands of broker messages before it answers).
REPROCESS_IN_REQUEST_MAX = 100
REPROCESS_CHUNK = 500
RUN_KIND_REPROCESS = "reprocess"
RUN_KIND_BACKFILL = "backfill"

# A backfill task works this long, then hands the rest of the job to a fresh task: every task
# stays well inside its time limit however long the history is.
BACKFILL_SLICE_SECONDS = 180


@shared_task(bind=True, acks_late=True, soft_time_limit=540, time_limit=600)
def process_record(self, record_id: int) -> str | None:
    record = record_process(record_id=record_id, worker=worker_name(self.request.id))
    if record is None and record_deferred(record_id=record_id):
        # Its order was busy with another worker: again shortly, on the same queue.
        raise self.retry(countdown=LOCKED_ORDER_DELAY + 0.5, max_retries=None)
    return record.state if record else None


def enqueue_record(record_id: int) -> None:
    """Send the record to a worker once the current transaction has committed."""
    transaction.on_commit(lambda: process_record.delay(record_id))


def records_reprocess_now(*, record_ids: list[int], who: str) -> tuple[int, int]:
    """Queue the records again and send the queued ones to workers after the commit.
    Returns (re-queued, skipped)."""
    requeued, skipped = records_requeue(
        records=InboundRecord.objects.filter(pk__in=record_ids).only("id"), who=who)
    for record_id in record_ids_queued(ids=record_ids):
        enqueue_record(record_id)
    return requeued, skipped


def records_reprocess_start(*, record_ids: list[int], who: str) -> Run:
    """A run that re-queues the records in a task (``reprocess_records``), sent after the
    commit; its page shows how far it got."""
    run = run_start(kind=RUN_KIND_REPROCESS, total=len(record_ids), queued=True,
                    title=gettext("Re-process %(count)d records") % {"count": len(record_ids)})
    transaction.on_commit(lambda: reprocess_records.delay(run.pk, record_ids, who))
    return run


def reprocess_message(requeued: int, skipped: int) -> str:
    return gettext("%(requeued)d re-queued, %(skipped)d skipped (in processing, duplicates or "
                   "ignored)") % {"requeued": requeued, "skipped": skipped}


@shared_task(acks_late=True, soft_time_limit=540, time_limit=600)
def reprocess_records(run_id: int, record_ids: list[int], who: str) -> str:
    """Re-queue the records in chunks, reporting into the run. Idempotent: a second delivery
    re-queues what is still not queued and finishes the run again."""
    run = Run.objects.filter(pk=run_id).first()
    if run is None:
        return "no such run"
    run_begin(run, total=len(record_ids))
    requeued = skipped = 0
    try:
        for start in range(0, len(record_ids), REPROCESS_CHUNK):
            chunk = record_ids[start:start + REPROCESS_CHUNK]
            with transaction.atomic():
                chunk_requeued, chunk_skipped = records_reprocess_now(record_ids=list(chunk),
                                                                      who=who)
            requeued, skipped = requeued + chunk_requeued, skipped + chunk_skipped
            run_progress(run, add=len(chunk))
    except Exception as exc:
        # The queue boundary of the task: its run must not stay "running" for ever.
        logger.exception("Re-processing run %s stopped by an unexpected error", run.pk)
        run_finish(run, state=RunState.FAILED, result={"requeued": requeued, "skipped": skipped},
                   message=gettext("Stopped by an unexpected error after %(requeued)d re-queued: "
                                   "%(error)s") % {"requeued": requeued,
                                                   "error": str(exc) or type(exc).__name__})
        raise
    message = reprocess_message(requeued, skipped)
    run_finish(run, message=message, result={"requeued": requeued, "skipped": skipped})
    return message


@shared_task(acks_late=True, soft_time_limit=100, time_limit=120)
def dispatch_due_records() -> int:
    """Every record whose time has come goes to a worker: retries, released records, and
    anything whose message was lost with the broker."""
    due = records_due(limit=500)
    for record_id in due:
        process_record.delay(record_id)
    return len(due)


@shared_task(acks_late=True, soft_time_limit=100, time_limit=120)
def sweep_stuck_records() -> int:
    return records_sweep() + outbox_sweep()


# --- the outbox ----------------------------------------------------------------------------
@shared_task(bind=True, acks_late=True, soft_time_limit=540, time_limit=600)
def send_outbox_message(self, message_id: int) -> str | None:
    message = outbox_send(message_id=message_id, worker=worker_name(self.request.id))
    if message is None and outbox_deferred(message_id=message_id):
        # Behind a busy lock or an older message about the same thing: again shortly.
        raise self.retry(countdown=LOCKED_DELAY + 0.5, max_retries=None)
    return message.state if message else None


def enqueue_outbox_message(message_id: int) -> None:
    """Send the message once the current transaction has committed."""
    transaction.on_commit(lambda: send_outbox_message.delay(message_id))


@shared_task(acks_late=True, soft_time_limit=100, time_limit=120)
def dispatch_due_outbox() -> int:
    """Every message whose time has come goes to a worker: retries, and anything whose task
    was lost with the broker."""
    due = outbox_due(limit=500)
    for message_id in due:
        send_outbox_message.delay(message_id)
    return len(due)


@shared_task(acks_late=True, soft_time_limit=540, time_limit=600)
def prune_exchange_log() -> int:
    return exchanges_prune(older_than_days=settings.EXCHANGE_LOG_KEEP_DAYS)


# --- polling and backfill --------------------------------------------------------------------
def _enqueue_all(record_ids: Iterable[int]) -> None:
    for record_id in record_ids:
        enqueue_record(record_id)


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def poll_due_accounts() -> int:
    """Run by beat every minute: a poll task for each account whose interval has passed."""
    due = accounts_due_for_poll(now=timezone.now())
    for account in due:
        poll_account.delay(account.pk)
    return len(due)


@shared_task(acks_late=True, soft_time_limit=POLL_LOCK_SECONDS - 60,
             time_limit=POLL_LOCK_SECONDS)
def poll_account(account_id: int) -> str:
    """Poll one account. No retry here: a failed poll leaves the cursor where it was and the
    next due poll covers the same window."""
    cursor = PollCursor.objects.select_related("account").filter(
        account_id=account_id, enabled=True, account__enabled=True).first()
    if cursor is None:
        return "not polled: the account or its polling is disabled"
    try:
        result = account_poll(account=cursor.account)
    except PollError as exc:
        _enqueue_all(exc.result.new_record_ids)  # what was stored before it stopped
        logger.warning("poll of account %s failed: %s", account_id, exc.message)
        return exc.message
    _enqueue_all(result.new_record_ids)
    return result.summary()


def _backfill_progress(run: Run, job: BackfillJob) -> Callable[[int, int | None], None]:
    run_progress(run, done=job.stored, total=job.total, force=True)
    return lambda stored, total: run_progress(run, done=stored, total=total)


def backfill_run_start(*, job: BackfillJob) -> Run:
    """A run showing the job's progress, and the task that does the job, sent after the
    commit."""
    run = run_start(kind=RUN_KIND_BACKFILL, account=job.account, queued=True, total=job.total,
                    title=gettext("Backfill #%(job)s: orders of %(account)s since %(since)s")
                    % {"job": job.pk, "account": job.account,
                       "since": f"{timezone.localtime(job.since):%Y-%m-%d}"})
    transaction.on_commit(lambda: run_backfill.delay(job.pk, run.pk))
    return run


@shared_task(acks_late=True, soft_time_limit=540, time_limit=600)
def run_backfill(job_id: int, run_id: int | None = None) -> str:
    """Run a slice of a backfill job; a job that is not finished continues in a new task.
    Idempotent: a done job is left alone, a job held by a live run is not touched. With
    ``run_id`` the orders stored so far and the total are reported into that run."""
    job = BackfillJob.objects.filter(pk=job_id).first()
    if job is None:
        return "no such backfill job"
    run = Run.objects.filter(pk=run_id).first() if run_id else None
    if run is not None and run.state == RunState.QUEUED:
        run_begin(run, total=job.total)
    progress = _backfill_progress(run, job) if run is not None else None
    try:
        job = backfill_run(job=job, time_budget=BACKFILL_SLICE_SECONDS, progress=progress)
    except BackfillBusy as exc:
        return str(exc)
    except BaseException:
        # The job was marked failed with the reason; the run must not stay "running".
        if run is not None:
            job.refresh_from_db()
            run_finish(run, state=RunState.FAILED, message=job.message)
        raise
    if run is not None:  # the slice's last page, whenever the last write was
        run_progress(run, done=job.stored, total=job.total, force=True)
    if job.state == BackfillJob.State.RUNNING:
        run_backfill.delay(job.pk, run_id)
    elif run is not None:
        run_finish(run, message=job.message,
                   state=RunState.DONE if job.state == BackfillJob.State.DONE
                   else RunState.FAILED)
    return job.state
