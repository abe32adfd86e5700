"""Celery tasks of the stock export: thin, ids in, one service call each."""

from __future__ import annotations

from celery import shared_task
from django.db import transaction

from accounts.models import KeyCrmAccount
from staging.tasks import worker_name
from stock.services import stock_due_accounts, stock_push_run, stock_push_start


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def dispatch_due_stock_pushes() -> int:
    """Run by beat every minute: a push (with its run) for each account whose interval has
    passed."""
    due = stock_due_accounts()
    for account in KeyCrmAccount.objects.filter(pk__in=due):
        enqueue_stock_push(stock_push_start(account=account).pk)
    return len(due)


# A push reads every balance of the chosen warehouses from BAS, which can take minutes.
@shared_task(bind=True, acks_late=True, soft_time_limit=540, time_limit=600)
def push_stock(self, run_id: int) -> str:
    """Idempotent: a finished run is not done again, and a repeated push queues only what
    KeyCRM has not confirmed."""
    return stock_push_run(run_id=run_id, worker=worker_name(self.request.id)).state


def enqueue_stock_push(run_id: int) -> None:
    transaction.on_commit(lambda: push_stock.delay(run_id))
