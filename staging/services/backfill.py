"""Backfill: an account's order history, pulled page by page into staging.

A job lists ``GET /order?filter[created_between]=since,until`` (``created_between`` selects on
``ordered_at``, keycrm-api.md §1.5) in id order, 50 orders a page. ``until`` is fixed when the
job first runs, so the pages keep their contents while the shop keeps selling. After each page
the job saves the next page to read in the same transaction as the page's records: an
interrupted job resumes at the first page it had not finished, and never reads a stored page
again. KeyCRM calls: one per page, ⌈N/50⌉ in all (the first page's envelope gives ``total``
and ``last_page``; there is no separate count call). One page is in memory at a time.

Backfilled records are not enqueued one by one (10,000 tasks at once would flood the broker):
they are queued rows, and ``dispatch_due_records`` sends them to workers 500 at a time.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.crypto import SecretUnreadable
from accounts.models import KeyCrmAccount
from integration.keycrm.client import ORDER_FULL_INCLUDE, KeyCrmClient, KeyCrmError
from staging.models import BackfillJob, RecordSource
from staging.services.exchanges import exchange_store
from staging.services.polling import order_snapshots_store
from staging.services.queue import lock_acquire, lock_release

logger = logging.getLogger(__name__)

# How long a run's claim on its job lasts without a page finishing; a run killed outright
# (SIGKILL, a lost machine) blocks its job this long before it can be resumed.
BACKFILL_LOCK_SECONDS = 900

Progress = Callable[[int, int | None], None]  # (orders stored so far, orders in KeyCRM)


class BackfillBusy(Exception):
    """Another run holds the job; nothing was done."""


def backfill_since(day: dt.date) -> dt.datetime:
    """The start of ``day`` in the portal's time zone (what a person means by "since")."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_default_timezone())


def backfill_unfinished(*, account: KeyCrmAccount, since: dt.datetime) -> BackfillJob | None:
    """The account's latest job for the same ``since`` that is not done, if any."""
    return (BackfillJob.objects.filter(account=account, since=since)
            .exclude(state=BackfillJob.State.DONE).order_by("-created_at", "-id").first())


def backfill_start(*, account: KeyCrmAccount, since: dt.datetime) -> BackfillJob:
    """A new queued job for the account's orders dated from ``since`` (aware) until the moment
    it first runs. It does not look for an unfinished job for the same dates: callers that
    want to resume one ask ``backfill_unfinished`` first."""
    if timezone.is_naive(since):
        raise ValueError("since must be an aware datetime")
    return BackfillJob.objects.create(account=account, since=since)


def backfill_resume(*, job: BackfillJob) -> bool:
    """Make a failed job queued again (for a new run); False when the job is already done.
    A running job is left as it is: a second run of it stops at once if the first is alive
    (``BackfillBusy``) and takes over if it died."""
    if job.state == BackfillJob.State.DONE:
        return False
    BackfillJob.objects.filter(pk=job.pk, state=BackfillJob.State.FAILED).update(
        state=BackfillJob.State.QUEUED,
        message=_("Queued again at %(at)s.") % {"at": f"{timezone.now():%Y-%m-%d %H:%M}"},
        updated_at=timezone.now())
    job.refresh_from_db()
    return True


def backfill_run(*, job: BackfillJob, client: KeyCrmClient | None = None,
                 progress: Progress | None = None,
                 time_budget: float | None = None) -> BackfillJob:
    """Run (or resume) the job from ``job.next_page`` and return it with its new state.

    Queued, running or failed → running → done. A ``KeyCrmError`` (after the client's own
    retries) or an unreadable API key marks it failed with the message; running it again
    resumes at the page that failed. Any other exception (a time limit, Ctrl-C, a database
    error) also marks it failed and is raised again. With ``time_budget`` (seconds) the run
    stops after the page during which the budget ran out and the job stays running: the caller
    runs it again (the task re-queues itself). A done job is returned untouched.
    ``progress(stored, total)`` is called after each page. Raises ``BackfillBusy`` when another
    run holds the job.
    """
    job.refresh_from_db()
    if job.state == BackfillJob.State.DONE:
        return job
    holder = f"backfill-run:{uuid.uuid4().hex}"
    lock = f"backfill:{job.pk}"
    if not lock_acquire(account_id=job.account_id, name=lock, holder=holder,
                        ttl=BACKFILL_LOCK_SECONDS):
        raise BackfillBusy(_("Backfill #%(job)s is being run by another process.")
                           % {"job": job.pk})
    try:
        job.refresh_from_db()  # what the previous run saved before we held the lock
        if job.state == BackfillJob.State.DONE:
            return job
        job.until = job.until or timezone.now().replace(microsecond=0)
        job.state = BackfillJob.State.RUNNING
        job.message = ""
        job.save(update_fields=["until", "state", "message", "updated_at"])
        try:
            _walk(job=job, client=client, progress=progress, time_budget=time_budget,
                  lock=lock, holder=holder)
        except BackfillBusy:
            raise  # another run took the job over; the state is its to keep
        except (KeyCrmError, SecretUnreadable) as exc:
            _fail(job, _("%(error)s — stopped before page %(page)s; run the backfill again "
                         "to continue from there."), error=str(exc))
        except BaseException as exc:
            # The job's boundary: whatever stops the run, the job must not stay "running" with
            # nobody running it. The error goes on to the caller (task, command) unchanged.
            _fail(job, _("Interrupted before page %(page)s: %(error)s"), error=repr(exc))
            raise
    finally:
        lock_release(account_id=job.account_id, name=lock, holder=holder)
    return job


def _walk(*, job: BackfillJob, client: KeyCrmClient | None, progress: Progress | None,
          time_budget: float | None, lock: str, holder: str) -> None:
    if job.last_page is not None and job.next_page > job.last_page:
        _done(job)  # every page was stored; only the state was not saved
        return
    own_client = client is None
    client = client or KeyCrmClient.for_account(job.account, observer=exchange_store)
    started = time.monotonic()
    try:
        pages = client.pages("/order", filters={"created_between": (job.since, job.until)},
                             include=ORDER_FULL_INCLUDE, sort="id", start_page=job.next_page)
        for envelope in pages:
            if not lock_acquire(account_id=job.account_id, name=lock, holder=holder,
                                ttl=BACKFILL_LOCK_SECONDS):
                raise BackfillBusy(_("Backfill #%(job)s was taken over by another process.")
                                   % {"job": job.pk})
            last = _is_last_page(envelope, job.next_page)
            _store_page(job, envelope, last=last)
            if progress is not None:
                progress(job.stored, job.total)
            if last:
                return
            if time_budget is not None and time.monotonic() - started >= time_budget:
                job.message = _("Paused before page %(page)s; continues in the next run.") % {
                    "page": job.next_page}
                job.save(update_fields=["message", "updated_at"])
                return
    finally:
        if own_client:
            client.close()
    _done(job)  # the pages ended without a last-page envelope (an empty list)


def _store_page(job: BackfillJob, envelope: dict[str, Any], *, last: bool) -> None:
    """The page's orders and the job's position change together, or not at all."""
    orders = envelope.get("data") or []
    with transaction.atomic():
        order_snapshots_store(account=job.account, orders=orders, source=RecordSource.BACKFILL)
        job.stored += len(orders)
        job.total = _int(envelope.get("total"), job.total)
        job.last_page = _int(envelope.get("last_page"), job.last_page)
        job.next_page += 1
        fields = ["stored", "total", "last_page", "next_page", "updated_at"]
        if last:
            job.state = BackfillJob.State.DONE
            job.message = _done_message(job)
            fields += ["state", "message"]
        job.save(update_fields=fields)


def _is_last_page(envelope: dict[str, Any], asked: int) -> bool:
    # The client's own stopping rule (``KeyCrmClient.pages``), so no page is asked for twice.
    last = envelope.get("last_page")
    current = _int(envelope.get("current_page"), asked)
    return (not envelope.get("data") or not envelope.get("next_page_url")
            or (last is not None and current >= int(last)))


def _done(job: BackfillJob) -> None:
    job.state = BackfillJob.State.DONE
    job.message = _done_message(job)
    job.save(update_fields=["state", "message", "updated_at"])


def _done_message(job: BackfillJob) -> str:
    return _("%(stored)s order(s) stored from %(pages)s page(s).") % {
        "stored": job.stored, "pages": job.next_page - 1}


def _fail(job: BackfillJob, template: str, *, error: str) -> None:
    # A page interrupted half-way was rolled back: its counts in memory are not the saved ones.
    job.refresh_from_db()
    message = template % {"error": error, "page": job.next_page}
    logger.warning("backfill %s failed: %s", job.pk, message)
    job.state = BackfillJob.State.FAILED
    job.message = message
    job.save(update_fields=["state", "message", "updated_at"])


def _int(value: Any, default: int | None) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
