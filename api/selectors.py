"""Reads behind the API's record endpoints."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from staging.models import Attempt, Exchange, InboundRecord

EXCHANGES_ON_RECORD = 50  # the newest ones; the exchange log in the admin has them all


def records_filtered(*, ids: Iterable[int] = (), account_id: int | None = None,
                     states: Iterable[str] = (), source: str | None = None,
                     event: str | None = None, order_id: int | None = None,
                     received_from: dt.date | None = None,
                     received_until: dt.date | None = None,
                     without_bodies: bool = False) -> QuerySet[InboundRecord]:
    """Records matching every filter given (an empty one does not narrow), newest first.
    ``received_from`` and ``received_until`` are whole days in the portal's time zone, both
    included, as in ``manage.py reprocess``. ``without_bodies`` leaves the big text columns (what
    was received) in the database, for a list that never shows them."""
    records = InboundRecord.objects.select_related("account")
    ids, states = list(ids), list(states)
    if ids:
        records = records.filter(pk__in=ids)
    if account_id is not None:
        records = records.filter(account_id=account_id)
    if states:
        records = records.filter(state__in=states)
    if source:
        records = records.filter(source=source)
    if event:
        records = records.filter(event=event)
    if order_id is not None:
        records = records.filter(keycrm_order_id=order_id)
    if received_from is not None:
        records = records.filter(received_at__gte=_day_start(received_from))
    if received_until is not None:
        records = records.filter(
            received_at__lt=_day_start(received_until + dt.timedelta(days=1)))
    if without_bodies:
        records = records.defer("body", "payload", "headers")
    return records.order_by("-received_at", "-id")


def record_with_history(*, record_id: int) -> InboundRecord | None:
    """One record with its attempts and its newest exchanges, or None."""
    newest = Exchange.objects.filter(
        pk__in=Exchange.objects.filter(record_id=record_id)
        .order_by("-created_at", "-id").values("pk")[:EXCHANGES_ON_RECORD],
    ).order_by("-created_at", "-id")
    return (InboundRecord.objects.select_related("account")
            .prefetch_related(Prefetch("attempt_set", queryset=Attempt.objects.order_by("id")),
                              Prefetch("exchanges", queryset=newest, to_attr="newest_exchanges"))
            .filter(pk=record_id).first())


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))
