"""The staging queue: claiming a record atomically, one worker per KeyCRM order, finishing with
a visible state, retrying with capped back-off, sweeping stuck records, re-queuing.

Everything here is a short database operation; the HTTP work happens between ``record_claim``
and ``record_finish``, outside any transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Iterable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from staging.models import PENDING_STATES, Attempt, InboundRecord, ProcessingLock, RecordState

# Re-processing leaves these alone: a worker has it, or there is nothing to process.
NOT_REQUEUED = (RecordState.PROCESSING, RecordState.DUPLICATE, RecordState.IGNORED)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How processing a record ended. ``state`` is DONE, RETRY, WAITING or FAILED."""

    state: str
    message: str = ""
    problem_kind: str = ""
    document_set: str = ""
    document_ref: str | None = None
    document_number: str = ""


def records_due(*, limit: int = 100, now: dt.datetime | None = None) -> list[int]:
    """Ids of records that may be processed now, oldest first."""
    now = now or timezone.now()
    return list(
        InboundRecord.objects.filter(state__in=PENDING_STATES)
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
        .order_by("id").values_list("id", flat=True)[:limit])


def record_claim(*, record_id: int, worker: str) -> InboundRecord | None:
    """Take the record for processing, or None if another worker has it, it is done, or its
    time has not come. One conditional UPDATE: two workers can never both win."""
    now = timezone.now()
    won = InboundRecord.objects.filter(pk=record_id, state__in=PENDING_STATES).filter(
        Q(not_before__isnull=True) | Q(not_before__lte=now),
    ).update(state=RecordState.PROCESSING, claimed_at=now, claimed_by=worker[:100],
             attempts=F("attempts") + 1)
    return InboundRecord.objects.select_related("account").get(pk=record_id) if won else None


def record_release(*, record: InboundRecord, delay: float) -> None:
    """Give a claimed record back untouched (its order is locked by another worker); the
    attempt does not count."""
    InboundRecord.objects.filter(pk=record.pk, state=RecordState.PROCESSING,
                                 claimed_by=record.claimed_by).update(
        state=RecordState.QUEUED, attempts=F("attempts") - 1,
        not_before=timezone.now() + dt.timedelta(seconds=delay), claimed_by="")


def record_deferred(*, record_id: int) -> bool:
    """Whether the record was given back to wait a moment (its order was busy)."""
    return InboundRecord.objects.filter(pk=record_id, state=RecordState.QUEUED,
                                        not_before__gt=timezone.now()).exists()


def record_finish(*, record: InboundRecord, outcome: Outcome, worker: str) -> InboundRecord:
    """Store the outcome and the attempt. A RETRY past the last attempt becomes FAILED; a
    RETRY gets its next time with exponential back-off."""
    now = timezone.now()
    state, message = outcome.state, outcome.message
    not_before = None
    if state == RecordState.RETRY:
        if record.attempts >= settings.STAGING_MAX_ATTEMPTS:
            state = RecordState.FAILED
            message = gettext("gave up after %(count)d attempts: %(message)s") % {
                "count": record.attempts, "message": message}
        else:
            not_before = now + dt.timedelta(seconds=retry_delay(record.attempts))
    fields = {"state": state, "message": message, "problem_kind": outcome.problem_kind,
              "not_before": not_before, "processed_at": now, "claimed_by": ""}
    if outcome.document_ref:
        fields.update(bas_document_set=outcome.document_set,
                      bas_document_ref=outcome.document_ref,
                      bas_document_number=outcome.document_number)
    with transaction.atomic():
        # Only the worker that still holds the claim may finish it: a claim the sweeper gave
        # to another worker is that worker's to finish.
        owned = InboundRecord.objects.filter(
            pk=record.pk, state=RecordState.PROCESSING, claimed_by=worker[:100],
        ).update(**fields)
        Attempt.objects.create(
            record=record, worker=worker[:100], finished_at=now, outcome=state,
            message=message if owned else gettext(
                "finished after the claim was taken over: %(message)s") % {"message": message})
    record.refresh_from_db()
    return record


def record_heartbeat(*, record_id: int, account_id: int, worker: str) -> bool:
    """The worker is alive: renew its claim and its locks so the sweeper leaves them alone.
    False when the claim is no longer this worker's."""
    now = timezone.now()
    alive = InboundRecord.objects.filter(
        pk=record_id, state=RecordState.PROCESSING, claimed_by=worker[:100],
    ).update(claimed_at=now)
    ProcessingLock.objects.filter(account_id=account_id, holder=worker[:100]).update(
        expires_at=now + dt.timedelta(seconds=settings.STAGING_STALE_SECONDS))
    return bool(alive)


def retry_delay(attempts: int) -> float:
    base = settings.STAGING_RETRY_BASE_SECONDS
    return min(settings.STAGING_RETRY_MAX_SECONDS, base * 2 ** max(0, attempts - 1))


def records_sweep(*, stale_after: float | None = None) -> int:
    """Records left in PROCESSING by a worker that died are given back to the queue (the
    attempt counts). Returns how many."""
    stale_after = stale_after if stale_after is not None else settings.STAGING_STALE_SECONDS
    cutoff = timezone.now() - dt.timedelta(seconds=stale_after)
    stuck = InboundRecord.objects.filter(state=RecordState.PROCESSING, claimed_at__lt=cutoff)
    count = 0
    for record in stuck:
        count += InboundRecord.objects.filter(
            pk=record.pk, state=RecordState.PROCESSING, claimed_at=record.claimed_at,
        ).update(state=RecordState.RETRY, not_before=None, claimed_by="",
                 message=gettext("the worker %(worker)s stopped while processing; queued "
                                 "again") % {"worker": record.claimed_by})
        ProcessingLock.objects.filter(account_id=record.account_id,
                                      holder=record.claimed_by).delete()
    return count


def records_requeue(*, records: QuerySet[InboundRecord] | Iterable[InboundRecord],
                    who: str) -> tuple[int, int]:
    """Queue records again for processing (the received payload is not touched). Returns
    (re-queued, skipped: in processing, duplicates or ignored)."""
    ids = [r.pk for r in records]
    requeued = InboundRecord.objects.filter(pk__in=ids).exclude(
        state__in=NOT_REQUEUED,
    ).update(state=RecordState.QUEUED, not_before=None,
             message=gettext("queued again by %(who)s at %(time)s") % {
                 "who": who, "time": f"{timezone.now():%Y-%m-%d %H:%M}"})
    return requeued, len(ids) - requeued


# --- named locks: one worker per order, one creation per buyer -------------------------------
def lock_acquire(*, account_id: int, name: str, holder: str, ttl: float | None = None) -> bool:
    """True if ``holder`` now holds the lock. An expired lock (its worker died) is taken over;
    a live one is not."""
    ttl = ttl if ttl is not None else settings.STAGING_STALE_SECONDS
    now = timezone.now()
    expires = now + dt.timedelta(seconds=ttl)
    try:
        with transaction.atomic():
            ProcessingLock.objects.create(account_id=account_id, name=name,
                                          holder=holder[:100], expires_at=expires)
        return True
    except IntegrityError:
        return bool(ProcessingLock.objects.filter(account_id=account_id, name=name).filter(
            Q(expires_at__lt=now) | Q(holder=holder[:100]),
        ).update(holder=holder[:100], expires_at=expires))


def lock_release(*, account_id: int, name: str, holder: str) -> None:
    ProcessingLock.objects.filter(account_id=account_id, name=name, holder=holder[:100]).delete()


def lock_wait(*, account_id: int, name: str, holder: str, timeout: float) -> bool:
    """Acquire, waiting up to ``timeout`` seconds for another worker to finish."""
    deadline = time.monotonic() + timeout
    while not lock_acquire(account_id=account_id, name=name, holder=holder):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
