"""Celery tasks of the catalogue flows: thin, ids in, one service call each."""

from __future__ import annotations

from celery import shared_task
from django.db import transaction

from catalogue.services import catalogue_flows_due, catalogue_run, catalogue_run_start


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def dispatch_due_catalogue() -> int:
    """Run by beat every minute: a run for each (account, flow) whose interval has passed."""
    due = catalogue_flows_due()
    for account, flow in due:
        with transaction.atomic():
            enqueue_catalogue_run(catalogue_run_start(account=account, flow=flow).pk)
    return len(due)


# A catalogue of tens of thousands of items takes a while to read and compare.
@shared_task(acks_late=True, soft_time_limit=1700, time_limit=1800)
def run_catalogue_flow(run_id: int) -> str:
    """Idempotent: a finished run is not done again; a repeated run writes only what changed."""
    return catalogue_run(run_id=run_id).state


def enqueue_catalogue_run(run_id: int) -> None:
    transaction.on_commit(lambda: run_catalogue_flow.delay(run_id))
