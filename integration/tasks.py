"""Celery tasks of the BAS → KeyCRM check: thin, idempotent, ids in, one service call each."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from accounts.models import KeyCrmAccount
from integration.bas.client import BasError
from integration.pipelines.bas_changes import (
    CHECK_LOCK_SECONDS,
    BasChangesBusy,
    BasChangesError,
    accounts_due_for_bas_changes,
    bas_changes_check,
)
from runs.models import Run, RunState
from runs.services import run_begin, run_finish
from staging.tasks import worker_name

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def bas_changes_dispatch() -> int:
    """Run by beat every minute: a check task for each account whose interval has passed."""
    due = accounts_due_for_bas_changes(now=timezone.now())
    for account in due:
        bas_changes_account.delay(account.pk)
    return len(due)


@shared_task(bind=True, acks_late=True, soft_time_limit=CHECK_LOCK_SECONDS - 60,
             time_limit=CHECK_LOCK_SECONDS)
def bas_changes_account(self, account_id: int, run_id: int | None = None) -> str:
    """One check of one account. A failure is stored on the account's settings (and run) and
    waits for the next interval: the check repeats by itself, so no Celery retry is needed."""
    account = KeyCrmAccount.objects.select_related("bas_connection").get(pk=account_id)
    run = Run.objects.filter(pk=run_id).first() if run_id else None
    if run is not None:
        run_begin(run)
    try:
        summary = bas_changes_check(account=account, worker=worker_name(self.request.id),
                                    run=run)
    except BasChangesBusy as exc:
        if run is not None:
            run_finish(run, state=RunState.FAILED, message=str(exc))
        return "busy"
    except (BasChangesError, BasError) as exc:
        logger.warning("BAS changes of account %s failed: %s", account_id, exc)
        if run is not None:
            run_finish(run, state=RunState.FAILED, message=str(exc))
        return "failed"
    except Exception as exc:
        # The queue boundary: a crash must not leave the run "running" for ever. The check
        # has stored it as the settings' last_error; Celery records the traceback.
        logger.exception("BAS changes of account %s crashed", account_id)
        if run is not None:
            run_finish(run, state=RunState.FAILED, message=str(exc) or type(exc).__name__)
        raise
    if run is not None:
        run_finish(run, message=summary.text())
    return summary.text()
