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
def check_bas_payments(run_id: int, account_id: int | None = None,
                       account_ids: list[int] | None = None) -> None:
    """The admin's "check now" of the chosen accounts (all when none), reporting on its run.
    ``account_id``: one account, as messages queued before several could be chosen say."""
    run = Run.objects.filter(pk=run_id).first()
    if account_ids is None and account_id is not None:
        account_ids = [account_id]
    if run is not None and not run.finished:
        bas_payments_check_run(run=run, account_ids=account_ids)
