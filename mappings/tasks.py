"""Celery tasks of the mappings app: thin wrappers that load rows and call one service."""

from __future__ import annotations

import functools
import logging

from celery import shared_task
from django.db import transaction
from django.utils.translation import gettext

from accounts.crypto import SecretUnreadable
from accounts.models import KeyCrmAccount
from mappings.models import MIRRORED_DIRECTORIES, KeyCrmDirectory
from mappings.services.directories import Progress, SyncResult, directories_sync
from runs.models import Run, RunState
from runs.services import run_begin, run_finish, run_progress, run_start

logger = logging.getLogger(__name__)

# A big catalogue is 1,000+ pages at 60 requests a minute shared with the order flows: give a
# sync hours, not the default ten minutes. (With a Redis broker, its visibility_timeout must
# exceed this, or acks_late makes the broker hand a running sync to a second worker.)
DIRECTORY_SYNC_SOFT_LIMIT = 3 * 60 * 60
DIRECTORY_SYNC_HARD_LIMIT = DIRECTORY_SYNC_SOFT_LIMIT + 5 * 60
RETRY_DELAY_SECONDS = 15 * 60
MAX_RETRIES = 3
RUN_KIND = "directory_sync"


def directories_sync_run_start(*, account: KeyCrmAccount) -> Run:
    """A run showing the sync of the account's directories (done / total in directories, the
    one being read and how many of its elements in the message), and the task that does it,
    sent after the commit."""
    run = run_start(kind=RUN_KIND, account=account, queued=True,
                    total=len(MIRRORED_DIRECTORIES),
                    title=gettext("KeyCRM directories of %(account)s") % {"account": account})
    transaction.on_commit(functools.partial(sync_account_directories.delay, account.pk,
                                            None, run.pk))
    return run


@shared_task(bind=True, acks_late=True, soft_time_limit=DIRECTORY_SYNC_SOFT_LIMIT,
             time_limit=DIRECTORY_SYNC_HARD_LIMIT, max_retries=MAX_RETRIES)
def sync_account_directories(self, account_id: int, directories: list[str] | None = None,
                             run_id: int | None = None) -> None:
    """Refresh one account's KeyCRM directory mirrors (all, or the named ones).

    Idempotent. Directories that failed with a retryable error (network, 429, 5xx) are tried
    again, alone, after ``RETRY_DELAY_SECONDS``, at most ``MAX_RETRIES`` times; the others wait
    for the next scheduled run. A deleted or disabled account is skipped. With ``run_id`` the
    progress and the outcome of this first pass are reported into that run.
    """
    run = Run.objects.filter(pk=run_id).first() if run_id else None
    account = KeyCrmAccount.objects.filter(pk=account_id, enabled=True).first()
    if account is None:
        logger.info("KeyCRM account %s is gone or disabled; directory sync skipped", account_id)
        if run is not None:
            run_finish(run, state=RunState.FAILED,
                       message=gettext("The account is gone or disabled."))
        return
    wanted = list(directories or MIRRORED_DIRECTORIES)
    if run is not None:
        run_begin(run, total=len(wanted))
    try:
        result = directories_sync(account=account, directories=wanted,
                                  progress=_run_progress(run, wanted) if run else None)
    except SecretUnreadable as exc:
        if run is None:
            raise
        run_finish(run, state=RunState.FAILED, message=str(exc))
        return
    if run is not None:
        _run_finish(run, result, total=len(wanted))
    logger.log(logging.INFO if result.ok else logging.WARNING, "KeyCRM directories of %s: %s",
               account, result.summary())
    retry = [counts.directory for counts in result.failed if counts.retryable]
    if retry and self.request.retries < MAX_RETRIES:
        raise self.retry(kwargs={"account_id": account_id, "directories": retry},
                         countdown=RETRY_DELAY_SECONDS)


def _run_progress(run: Run, wanted: list[str]) -> Progress:
    def progress(directory: str, read: int) -> None:
        run_progress(run, done=wanted.index(directory), force=read == 0,
                     message=gettext("%(directory)s: %(read)d read")
                     % {"directory": KeyCrmDirectory(directory).label, "read": read})
    return progress


def _run_finish(run: Run, result: SyncResult, *, total: int) -> None:
    # Some directories read is a result worth keeping; none read is a failed run.
    run_progress(run, done=total, force=True)
    run_finish(run, state=RunState.DONE if result.succeeded else RunState.FAILED,
               message=result.summary(), result={"failed": [c.directory for c in result.failed]})


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def sync_all_directories() -> None:
    """Queue one directory sync per enabled account (for the beat schedule)."""
    for account_id in KeyCrmAccount.objects.filter(enabled=True).values_list("pk", flat=True):
        transaction.on_commit(functools.partial(sync_account_directories.delay, account_id))
