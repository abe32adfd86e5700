"""The exchange log: every HTTP call to KeyCRM or BAS becomes a row, linked to the record
being processed when there is one."""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
from collections.abc import Iterator

from django.utils import timezone

from integration.http import Exchange as HttpExchange
from staging.models import Exchange

_current_record: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "current_record", default=None)
_current_outbox: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "current_outbox", default=None)


@contextlib.contextmanager
def exchanges_for(record_id: int | None) -> Iterator[None]:
    """Calls made inside the block are logged against ``record_id``."""
    token = _current_record.set(record_id)
    try:
        yield
    finally:
        _current_record.reset(token)


@contextlib.contextmanager
def exchanges_for_outbox(message_id: int | None) -> Iterator[None]:
    """Calls made inside the block are logged against the outbox message ``message_id``."""
    token = _current_outbox.set(message_id)
    try:
        yield
    finally:
        _current_outbox.reset(token)


def exchange_store(exchange: HttpExchange) -> None:
    """The clients' observer. Bodies arrive truncated and with secrets masked."""
    Exchange.objects.create(
        system=exchange.system, method=exchange.method, url=exchange.url,
        request_body=exchange.request_body, status=exchange.status,
        response_body=exchange.response_body, duration_ms=exchange.duration_ms,
        error=exchange.error[:500], record_id=_current_record.get(),
        outbox_message_id=_current_outbox.get())


def exchanges_prune(*, older_than_days: int) -> int:
    """Delete successful exchanges older than the given age; failures are kept for the
    person who will look into them. Returns the number deleted."""
    cutoff = timezone.now() - dt.timedelta(days=older_than_days)
    deleted, _ = Exchange.objects.filter(created_at__lt=cutoff, status__lt=400).delete()
    return deleted
