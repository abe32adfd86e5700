"""Celery tasks of follow-up documents: thin, ids in, one service call each."""

from __future__ import annotations

from celery import shared_task

from documents.payment_check import bas_payments_check_run
from runs.models import Run


@shared_task(acks_late=True, soft_time_limit=540, time_limit=600)
def check_bas_payments_all() -> int:
    """The scheduled BAS → KeyCRM payments check of every account that switched it on.
    Idempotent: a payment already queued or linked is not queued again."""
    return sum(r.queued for r in bas_payments_check_run())


@shared_task(acks_late=True, soft_time_limit=540, time_limit=600)
def check_bas_payments(run_id: int, account_id: int | None = None) -> None:
    """The admin's "check now", reporting on its run."""
    run = Run.objects.filter(pk=run_id).first()
    if run is not None and not run.finished:
        bas_payments_check_run(run=run, account_id=account_id)
