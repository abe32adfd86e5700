"""Celery tasks of the mappings app: thin wrappers that load rows and call one service."""

from __future__ import annotations

import functools
import logging

from celery import shared_task
from django.db import transaction

from accounts.models import KeyCrmAccount
from mappings.services.directories import directories_sync

logger = logging.getLogger(__name__)

# A big catalogue is 1,000+ pages at 60 requests a minute shared with the order flows: give a
# sync hours, not the default ten minutes. (With a Redis broker, its visibility_timeout must
# exceed this, or acks_late makes the broker hand a running sync to a second worker.)
DIRECTORY_SYNC_SOFT_LIMIT = 3 * 60 * 60
DIRECTORY_SYNC_HARD_LIMIT = DIRECTORY_SYNC_SOFT_LIMIT + 5 * 60
RETRY_DELAY_SECONDS = 15 * 60
MAX_RETRIES = 3


@shared_task(bind=True, acks_late=True, soft_time_limit=DIRECTORY_SYNC_SOFT_LIMIT,
             time_limit=DIRECTORY_SYNC_HARD_LIMIT, max_retries=MAX_RETRIES)
def sync_account_directories(self, account_id: int,
                             directories: list[str] | None = None) -> None:
    """Refresh one account's KeyCRM directory mirrors (all, or the named ones).

    Idempotent. Directories that failed with a retryable error (network, 429, 5xx) are tried
    again, alone, after ``RETRY_DELAY_SECONDS``, at most ``MAX_RETRIES`` times; the others wait
    for the next scheduled run. A deleted or disabled account is skipped.
    """
    account = KeyCrmAccount.objects.filter(pk=account_id, enabled=True).first()
    if account is None:
        logger.info("KeyCRM account %s is gone or disabled; directory sync skipped", account_id)
        return
    kwargs = {"directories": directories} if directories else {}
    result = directories_sync(account=account, **kwargs)
    logger.log(logging.INFO if result.ok else logging.WARNING, "KeyCRM directories of %s: %s",
               account, result.summary())
    retry = [counts.directory for counts in result.failed if counts.retryable]
    if retry and self.request.retries < MAX_RETRIES:
        raise self.retry(kwargs={"account_id": account_id, "directories": retry},
                         countdown=RETRY_DELAY_SECONDS)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def sync_all_directories() -> None:
    """Queue one directory sync per enabled account (for the beat schedule)."""
    for account_id in KeyCrmAccount.objects.filter(enabled=True).values_list("pk", flat=True):
        transaction.on_commit(functools.partial(sync_account_directories.delay, account_id))
