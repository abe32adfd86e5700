"""Celery tasks of the staging queue: thin, idempotent, ids in, one service call each."""

from __future__ import annotations

import socket

from celery import shared_task
from django.conf import settings
from django.db import transaction

from staging.services.exchanges import exchanges_prune
from staging.services.process import record_process
from staging.services.queue import records_due, records_sweep

WORKER = f"celery@{socket.gethostname()}"


@shared_task(acks_late=True, soft_time_limit=540, time_limit=600)
def process_record(record_id: int) -> str | None:
    record = record_process(record_id=record_id, worker=WORKER)
    return record.state if record else None


def enqueue_record(record_id: int) -> None:
    """Send the record to a worker once the current transaction has committed."""
    transaction.on_commit(lambda: process_record.delay(record_id))


@shared_task(acks_late=True, time_limit=120)
def dispatch_due_records() -> int:
    """Every record whose time has come goes to a worker: retries, released records, and
    anything whose message was lost with the broker."""
    due = records_due(limit=500)
    for record_id in due:
        process_record.delay(record_id)
    return len(due)


@shared_task(acks_late=True, time_limit=120)
def sweep_stuck_records() -> int:
    return records_sweep()


@shared_task(acks_late=True, time_limit=600)
def prune_exchange_log() -> int:
    return exchanges_prune(older_than_days=settings.EXCHANGE_LOG_KEEP_DAYS)
