"""Polling: a safety net under the webhooks. Every few minutes each account's orders changed
since the last poll are fetched (``filter[updated_between]``, keycrm-api.md §1.5) and stored as
full snapshots, exactly like the orders a webhook announces.

The cursor (``PollCursor.polled_until``) moves only after every page of a window is stored, so a
poll that fails half-way is repeated whole by the next one; each window reaches back
``overlap_seconds`` before the cursor, for orders KeyCRM dated a moment earlier than it showed
them to us (clock skew, slow commits). An order already stored with the same ``updated_at`` and
content is skipped, so overlaps and repeated windows write no rows.

Services never import tasks: the ids of the new records are returned (``new_record_ids``) and
the entry point (task, admin action) enqueues them. Anything it does not enqueue is sent by
``dispatch_due_records`` within a minute.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.crypto import SecretUnreadable
from accounts.models import KeyCrmAccount
from integration.keycrm.client import ORDER_FULL_INCLUDE, KeyCrmClient, KeyCrmError
from staging.models import InboundRecord, PollCursor, RecordSource
from staging.services.exchanges import exchange_store
from staging.services.queue import lock_acquire, lock_release
from staging.services.receive import order_snapshot_receive, snapshot_dedupe_key, storable

# A poll after a long pause catches up one day at a time (one poll per beat tick) rather than
# in one window so large that the task's time limit cuts it off, again and again.
MAX_POLL_WINDOW = dt.timedelta(days=1)
# The beat looks once a minute and a poll starts a moment after it looked; without this slack a
# 300-second interval would often become 360 seconds.
DUE_SLACK_SECONDS = 30
# Orders that change while a window is paged shift the pages under us (an order leaving the
# window moves every later one a place forward, so one can slip past a page boundary). A change
# of ``total`` between pages shows it; the window is then read again, at most this many times.
MAX_WALKS = 3
POLL_LOCK = "poll"
POLL_LOCK_SECONDS = 600  # the poll task's hard time limit: a killed poll's lock expires with it


class PollError(Exception):
    """The poll did not complete: the cursor did not move. ``result`` counts what was stored
    before it stopped (those records are kept and must still be enqueued)."""

    def __init__(self, message: str, *, result: PollResult) -> None:
        super().__init__(message)
        self.message = message
        self.result = result


@dataclasses.dataclass
class PollResult:
    account_id: int
    window_from: dt.datetime
    window_to: dt.datetime
    fetched: int = 0  # orders on the pages read (an order read twice counts twice)
    new: int = 0  # stored as new records
    repeats: int = 0  # already stored at the same updated_at: skipped (or a duplicate row)
    pages: int = 0  # KeyCRM list calls that answered
    new_record_ids: list[int] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        return _("%(fetched)s order(s) changed between %(start)s and %(end)s UTC, "
                 "%(pages)s page(s): %(new)s new, %(repeats)s already stored.") % {
            "fetched": self.fetched, "pages": self.pages, "new": self.new,
            "repeats": self.repeats,
            "start": f"{self.window_from.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S}",
            "end": f"{self.window_to.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S}"}


@dataclasses.dataclass(frozen=True)
class StoredPage:
    new_record_ids: list[int]
    repeats: int


def poll_cursor_for(*, account: KeyCrmAccount) -> PollCursor:
    """The account's cursor, created with the defaults when it has none."""
    cursor, _created = PollCursor.objects.get_or_create(account=account)
    return cursor


def poll_is_due(*, cursor: PollCursor, now: dt.datetime) -> bool:
    """Whether the cursor's interval has passed since its last poll started (a failed poll is
    retried after one interval too, not every minute). A poll that succeeded but stopped short
    of its start time (catching up, ``MAX_POLL_WINDOW``) is due at once."""
    if cursor.last_started_at is None:
        return True
    slack = min(DUE_SLACK_SECONDS, cursor.interval_seconds / 2)
    if cursor.last_started_at <= now - dt.timedelta(seconds=cursor.interval_seconds - slack):
        return True
    return (cursor.polled_until is not None and cursor.last_success_at is not None
            and cursor.last_success_at >= cursor.last_started_at
            and cursor.polled_until < cursor.last_started_at)


def accounts_due_for_poll(*, now: dt.datetime) -> list[KeyCrmAccount]:
    """Enabled accounts with an API key and an enabled cursor whose interval has passed. An
    account without a cursor gets one with the defaults (so it is polled from now on)."""
    PollCursor.objects.bulk_create(
        [PollCursor(account=account)
         for account in KeyCrmAccount.objects.filter(poll_cursor__isnull=True)],
        ignore_conflicts=True)
    cursors = (PollCursor.objects.filter(enabled=True, account__enabled=True)
               .exclude(account__api_key_encrypted="")
               .select_related("account").order_by("account__name"))
    return [cursor.account for cursor in cursors if poll_is_due(cursor=cursor, now=now)]


def account_poll(*, account: KeyCrmAccount, now: dt.datetime | None = None,
                 client: KeyCrmClient | None = None) -> PollResult:
    """Fetch the orders changed in the account's next window and store each as a snapshot.

    The window runs from ``polled_until - overlap`` (first poll: ``now - interval``) to ``now``
    (at most ``MAX_POLL_WINDOW``). Only when every page is stored does the cursor move to the
    window's end; a failure records ``last_error`` and raises ``PollError`` with the cursor
    where it was, so the next poll covers the gap. Idempotent: a repeated window stores nothing
    new. One poll per account at a time (a second one raises ``PollError`` and writes nothing).
    KeyCRM calls: one per page of 50 changed orders (more only if orders change while paging).
    """
    now = (now or timezone.now()).replace(microsecond=0)  # KeyCRM filters have whole seconds
    cursor = poll_cursor_for(account=account)
    if cursor.polled_until is not None:
        start = cursor.polled_until - dt.timedelta(seconds=cursor.overlap_seconds)
    else:
        start = now - dt.timedelta(seconds=cursor.interval_seconds)
    end = min(now, start + MAX_POLL_WINDOW)
    result = PollResult(account_id=account.pk, window_from=start, window_to=end)
    holder = f"poll:{uuid.uuid4().hex}"
    if not lock_acquire(account_id=account.pk, name=POLL_LOCK, holder=holder,
                        ttl=POLL_LOCK_SECONDS):
        raise PollError(_("Another poll of this account is still running."), result=result)
    try:
        PollCursor.objects.filter(pk=cursor.pk).update(last_started_at=now)
        try:
            _poll_window(account=account, client=client, result=result)
        except (KeyCrmError, SecretUnreadable, PollError) as exc:
            message = str(exc)
            PollCursor.objects.filter(pk=cursor.pk).update(last_error=message)
            raise PollError(message, result=result) from exc
        PollCursor.objects.filter(pk=cursor.pk).update(polled_until=end, last_success_at=now,
                                                       last_error="")
    finally:
        lock_release(account_id=account.pk, name=POLL_LOCK, holder=holder)
    return result


def _poll_window(*, account: KeyCrmAccount, client: KeyCrmClient | None,
                 result: PollResult) -> None:
    own_client = client is None
    client = client or KeyCrmClient.for_account(account, observer=exchange_store)
    filters = {"updated_between": (result.window_from, result.window_to)}
    try:
        for _walk in range(MAX_WALKS):
            totals: set[Any] = set()
            for envelope in client.pages("/order", filters=filters,
                                         include=ORDER_FULL_INCLUDE, sort="id"):
                totals.add(envelope.get("total"))
                orders = envelope.get("data") or []
                result.pages += 1
                result.fetched += len(orders)
                page = order_snapshots_store(account=account, orders=orders,
                                             source=RecordSource.POLL)
                result.new += len(page.new_record_ids)
                result.repeats += page.repeats
                result.new_record_ids.extend(page.new_record_ids)
            if len(totals) <= 1:
                return
    finally:
        if own_client:
            client.close()
    raise PollError(_("Orders kept changing while their pages were read (%(walks)s times); "
                      "the next poll reads this window again.") % {"walks": MAX_WALKS},
                    result=result)


def order_snapshots_store(*, account: KeyCrmAccount, orders: Iterable[dict[str, Any]],
                          source: str) -> StoredPage:
    """Store one page of full orders in one transaction. An order already stored (by polling
    or backfill) with the same ``updated_at`` and content is skipped without writing a row; the
    unique dedupe key still catches a race with another writer (the repeat becomes a duplicate
    row)."""
    # Each order's key is computed once, on the text as it will be stored.
    keyed = [(snapshot_dedupe_key(order), order) for order in map(storable, orders)]
    known = _known_snapshots(account, {key for key, _ in keyed})
    new_ids: list[int] = []
    repeats = 0
    with transaction.atomic():
        for key, order in keyed:
            if key in known:
                repeats += 1
                continue
            stored = order_snapshot_receive(account=account, order=order, source=source,
                                            dedupe_key=key)
            if not stored.is_new:
                repeats += 1
                continue
            known.add(key)  # the same order twice on one page is stored once
            if stored.needs_processing:
                new_ids.append(stored.record.pk)
    return StoredPage(new_record_ids=new_ids, repeats=repeats)


def _known_snapshots(account: KeyCrmAccount, keys: set[str]) -> set[str]:
    """Which of the page's dedupe keys are already stored as snapshots: one query."""
    return set(InboundRecord.objects.filter(
        account=account, dedupe_key__in=keys, duplicate_of__isnull=True,
    ).values_list("dedupe_key", flat=True))
