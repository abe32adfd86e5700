"""Reads of the staging queue shared by its entry points (the admin, the ``reprocess``
command): which records a selection means, and what re-queuing them would do."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import KeyCrmAccount
from staging.models import InboundRecord, RecordState
from staging.services.queue import NOT_REQUEUED


class UnknownAccount(Exception):
    """No KeyCRM account has the name the operator gave."""


def records_matching(*, ids: Iterable[int] = (), states: Iterable[str] = (),
                     account_name: str | None = None, since: dt.date | None = None,
                     until: dt.date | None = None) -> QuerySet[InboundRecord]:
    """Records matching every selector given; an empty selector does not narrow. ``since`` and
    ``until`` are whole days of ``received_at`` in the portal's time zone, both included.
    Raises UnknownAccount for an account name nobody has."""
    records = InboundRecord.objects.all()
    ids, states = list(ids), list(states)
    if ids:
        records = records.filter(pk__in=ids)
    if states:
        records = records.filter(state__in=states)
    if account_name is not None:
        account = KeyCrmAccount.objects.filter(name=account_name).first()
        if account is None:
            known = ", ".join(KeyCrmAccount.objects.values_list("name", flat=True)) or "none"
            raise UnknownAccount(f"no KeyCRM account is named “{account_name}” "
                                 f"(accounts: {known})")
        records = records.filter(account=account)
    if since is not None:
        records = records.filter(received_at__gte=_day_start(since))
    if until is not None:
        records = records.filter(received_at__lt=_day_start(until + dt.timedelta(days=1)))
    return records.order_by("id")


def records_requeue_preview(*, records: QuerySet[InboundRecord]) -> tuple[int, int]:
    """What ``records_requeue`` would answer for these records now: (re-queued, skipped)."""
    total = records.count()
    skipped = records.filter(state__in=NOT_REQUEUED).count()
    return total - skipped, skipped


def record_ids_queued(*, ids: Iterable[int]) -> list[int]:
    """Those of ``ids`` that are queued now: after ``records_requeue``, the ones to send to a
    worker (a record a worker claimed in between is already being processed)."""
    return list(InboundRecord.objects.filter(pk__in=list(ids), state=RecordState.QUEUED)
                .order_by("id").values_list("id", flat=True))


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))
