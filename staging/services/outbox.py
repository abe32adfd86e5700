"""The outbox: every write to KeyCRM is first a stored ``OutboxMessage``, then a call.

``outbox_put`` is called inside the transaction that stores the change causing the write; the
message is handed to a worker after commit. ``outbox_send`` claims a message with one
conditional UPDATE, makes the call through the account's client (and so within its shared rate
budget) and stores how it ended: sent, retried later with the staging queue's back-off, or
waiting for a person with the reason in words.

What a kind of message does is a ``Sender`` registered by the flow that writes it (the modules
in ``SENDER_MODULES`` register on import):

* ``send(client, message)`` makes the HTTP calls and returns what to keep as the result. A
  sender that creates something must be safe to repeat after an answer was lost: it looks for
  what it would create first when ``message.attempts > 1``.
* ``confirm(message, result)`` (optional) stores what the write means for the portal — a link,
  an echo marker, the last pushed state — in the same transaction that marks the message sent.
* ``lock(message)`` (optional) names a lock held while sending, e.g. ``order:<id>`` so that the
  order's pipeline never runs between a status write and its echo marker.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from accounts.crypto import SecretUnreadable
from accounts.models import KeyCrmAccount
from integration.keycrm.client import KeyCrmClient, KeyCrmError
from staging.models import OUTBOX_PENDING, OutboxMessage, OutboxState
from staging.services.exchanges import exchange_store, exchanges_for_outbox
from staging.services.queue import lock_acquire, lock_release, retry_delay

logger = logging.getLogger(__name__)

# Flows whose senders register on import. A kind nobody registered waits for a person.
SENDER_MODULES: tuple[str, ...] = (
    "staging.services.outbox",
    "integration.pipelines.catalog_to_keycrm",
    "integration.pipelines.prices_to_keycrm",
    "integration.pipelines.payments_to_keycrm",
    "integration.pipelines.stock_to_keycrm",
    "integration.pipelines.bas_changes",
)

LOCKED_DELAY = 2.0  # seconds before a message whose lock is busy is tried again


class OutboxRefused(Exception):
    """A sender's verdict that the message cannot be sent as it is (a person must look)."""


@dataclasses.dataclass(frozen=True)
class Sender:
    send: Callable[[KeyCrmClient, OutboxMessage], Any]
    confirm: Callable[[OutboxMessage, Any], None] | None = None
    lock: Callable[[OutboxMessage], str | None] | None = None


SENDERS: dict[str, Sender] = {}


def register_sender(kind: str, sender: Sender) -> None:
    SENDERS[kind] = sender


def sender_for(kind: str) -> Sender | None:
    if kind not in SENDERS:
        for module in SENDER_MODULES:
            importlib.import_module(module)
    return SENDERS.get(kind)


# --- writing a message -----------------------------------------------------------------------
def outbox_put(*, account: KeyCrmAccount | int, kind: str, key: str, payload: dict[str, Any],
               cause: str = "", enqueue: bool = True) -> OutboxMessage:
    """Store a write to KeyCRM. Call it in the transaction of the change that causes it.

    A message with the same key that waits to be sent is replaced: its payload becomes this one
    (a queued one is updated in place, one waiting for a retry is superseded), so KeyCRM gets
    the latest state once rather than every intermediate one. A message being sent right now
    is left alone and this one follows it."""
    account_id = account if isinstance(account, int) else account.pk
    with transaction.atomic():
        OutboxMessage.objects.filter(account_id=account_id, key=key,
                                     state=OutboxState.RETRY).update(
            state=OutboxState.SUPERSEDED, message=gettext("replaced by a newer message"))
        message = _queued_replaced(account_id, key, kind, payload, cause)
        if message is None:
            try:
                with transaction.atomic():  # another writer may queue the same key meanwhile
                    message = OutboxMessage.objects.create(
                        account_id=account_id, kind=kind, key=key, payload=payload,
                        cause=cause[:500])
            except IntegrityError:
                message = _queued_replaced(account_id, key, kind, payload, cause)
                if message is None:
                    raise
    if enqueue:
        from staging.tasks import enqueue_outbox_message  # the task module imports services

        enqueue_outbox_message(message.pk)
    return message


def _queued_replaced(account_id: int, key: str, kind: str, payload: dict[str, Any],
                     cause: str) -> OutboxMessage | None:
    """The queued message about ``key``, now carrying this payload; None when there is none."""
    updated = OutboxMessage.objects.filter(
        account_id=account_id, key=key, state=OutboxState.QUEUED,
    ).update(kind=kind, payload=payload, cause=cause[:500], not_before=None,
             updated_at=timezone.now())
    if not updated:
        return None
    return OutboxMessage.objects.get(account_id=account_id, key=key, state=OutboxState.QUEUED)


def outbox_requeue(*, messages: QuerySet[OutboxMessage] | Iterable[OutboxMessage],
                   who: str) -> tuple[int, int]:
    """Send messages again (an operator's "Send again"). A message being sent, superseded, or
    with a newer message about the same key is skipped: that one carries a later state, and
    sending this one again would write an older state over it. Returns (queued, skipped)."""
    ids = [m.pk for m in messages]
    queued = 0
    for message in OutboxMessage.objects.filter(pk__in=ids).exclude(
            state__in=(OutboxState.SENDING, OutboxState.SUPERSEDED, OutboxState.QUEUED)):
        with transaction.atomic():
            same_key = OutboxMessage.objects.filter(account_id=message.account_id,
                                                    key=message.key)
            if same_key.filter(state=OutboxState.QUEUED).exists() or same_key.filter(
                    pk__gt=message.pk).exclude(state=OutboxState.SUPERSEDED).exists():
                continue
            # The attempts are kept: a sender that creates something searches KeyCRM first on
            # any attempt after the first, and this message may have reached KeyCRM before.
            queued += OutboxMessage.objects.filter(pk=message.pk).exclude(
                state__in=(OutboxState.SENDING, OutboxState.SUPERSEDED),
            ).update(state=OutboxState.QUEUED, not_before=None,
                     message=gettext("queued again by %(who)s at %(time)s") % {
                         "who": who, "time": f"{timezone.now():%Y-%m-%d %H:%M}"})
    return queued, len(ids) - queued


# --- the queue ---------------------------------------------------------------------------------
def outbox_due(*, limit: int = 500, now: dt.datetime | None = None) -> list[int]:
    now = now or timezone.now()
    return list(OutboxMessage.objects.filter(state__in=OUTBOX_PENDING).filter(
        Q(not_before__isnull=True) | Q(not_before__lte=now),
    ).order_by("id").values_list("id", flat=True)[:limit])


def outbox_claim(*, message_id: int, worker: str) -> OutboxMessage | None:
    """Take the message for sending, or None when it is not due or another worker has it.
    Messages about one key go in the order they were written: a newer one waits while an
    older one is pending."""
    now = timezone.now()
    message = OutboxMessage.objects.filter(pk=message_id).only("account_id", "key").first()
    if message is None or OutboxMessage.objects.filter(
            account_id=message.account_id, key=message.key, pk__lt=message_id,
            state__in=(*OUTBOX_PENDING, OutboxState.SENDING)).exists():
        return None
    won = OutboxMessage.objects.filter(pk=message_id, state__in=OUTBOX_PENDING).filter(
        Q(not_before__isnull=True) | Q(not_before__lte=now),
    ).update(state=OutboxState.SENDING, claimed_at=now, claimed_by=worker[:100],
             attempts=F("attempts") + 1)
    return OutboxMessage.objects.select_related("account").get(pk=message_id) if won else None


def outbox_sweep(*, stale_after: float | None = None) -> int:
    """Messages left in SENDING by a worker that died are retried (their sender is safe to
    repeat). Returns how many."""
    stale_after = stale_after if stale_after is not None else settings.STAGING_STALE_SECONDS
    cutoff = timezone.now() - dt.timedelta(seconds=stale_after)
    return OutboxMessage.objects.filter(state=OutboxState.SENDING, claimed_at__lt=cutoff).update(
        state=OutboxState.RETRY, not_before=None, claimed_by="",
        message=gettext("the worker stopped while sending; will be sent again"))


def outbox_deferred(*, message_id: int) -> bool:
    """Whether the message was put back for a moment because its lock was busy. Behind an
    older message about the same key it is not: the dispatcher (every 30 s) sends it once the
    older one has ended, where a task retrying itself meanwhile would only multiply."""
    message = OutboxMessage.objects.filter(pk=message_id, state__in=OUTBOX_PENDING).first()
    if message is None:
        return False
    return message.not_before is not None and message.not_before > timezone.now()


# --- sending -----------------------------------------------------------------------------------
def outbox_send(*, message_id: int, worker: str,
                client: KeyCrmClient | None = None) -> OutboxMessage | None:
    """Send one message if it is due and nobody else has it; return it with its new state, or
    None when it was not ours to send. ``client`` is for callers that already hold one."""
    message = outbox_claim(message_id=message_id, worker=worker)
    if message is None:
        return None
    sender = sender_for(message.kind)
    if sender is None:
        return _finish(message, worker, OutboxState.WAITING,
                       gettext("no sender knows the kind “%(kind)s”") % {"kind": message.kind})
    lock = sender.lock(message) if sender.lock else None
    if lock and not lock_acquire(account_id=message.account_id, name=lock, holder=worker):
        # RETRY, never QUEUED: a newer message about the same key may be queued by now, and
        # only one may be.
        OutboxMessage.objects.filter(pk=message.pk, state=OutboxState.SENDING,
                                     claimed_by=worker[:100]).update(
            state=OutboxState.RETRY, attempts=F("attempts") - 1, claimed_by="",
            not_before=timezone.now() + dt.timedelta(seconds=LOCKED_DELAY))
        return None
    own_client = client is None
    try:
        if own_client:
            client = KeyCrmClient.for_account(message.account, observer=exchange_store)
        with exchanges_for_outbox(message.pk):
            result = sender.send(client, message)
        return _finish(message, worker, OutboxState.SENT, "", result=result,
                       confirm=sender.confirm)
    except SecretUnreadable as exc:
        return _finish(message, worker, OutboxState.WAITING, str(exc))
    except OutboxRefused as exc:
        return _finish(message, worker, OutboxState.WAITING, str(exc))
    except KeyCrmError as exc:
        if exc.retryable or exc.outcome_unknown:
            return _finish(message, worker, OutboxState.RETRY, str(exc))
        return _finish(message, worker, OutboxState.WAITING,
                       gettext("KeyCRM refused: %(error)s") % {"error": exc})
    except Exception as exc:  # the outbox's one boundary: nothing escapes without a state
        logger.exception("outbox message %s failed unexpectedly", message.pk)
        return _finish(message, worker, OutboxState.RETRY,
                       gettext("unexpected error: %(error)r") % {"error": exc})
    finally:
        if own_client and client is not None:
            client.close()
        if lock:
            lock_release(account_id=message.account_id, name=lock, holder=worker)


def _finish(message: OutboxMessage, worker: str, state: str, text: str, *, result: Any = None,
            confirm: Callable[[OutboxMessage, Any], None] | None = None) -> OutboxMessage:
    now = timezone.now()
    not_before = None
    if state == OutboxState.RETRY:
        if message.attempts >= settings.STAGING_MAX_ATTEMPTS:
            state, text = OutboxState.FAILED, gettext(
                "gave up after %(count)d attempts: %(message)s") % {
                "count": message.attempts, "message": text}
        else:
            not_before = now + dt.timedelta(seconds=retry_delay(message.attempts))
    fields: dict[str, Any] = {"state": state, "message": text, "not_before": not_before,
                              "claimed_by": ""}
    if state == OutboxState.SENT:
        fields.update(sent_at=now, result=_jsonable(result))
    with transaction.atomic():
        if state != OutboxState.SENT and OutboxMessage.objects.filter(
                account_id=message.account_id, key=message.key, pk__gt=message.pk,
                state=OutboxState.QUEUED).exists():
            # A newer message about the same thing waits: it carries the later state, and
            # this one must not be retried over it.
            fields.update(state=OutboxState.SUPERSEDED, not_before=None, message=gettext(
                "replaced by a newer message; this attempt: %(message)s") % {"message": text})
        owned = OutboxMessage.objects.filter(pk=message.pk, state=OutboxState.SENDING,
                                             claimed_by=worker[:100]).update(**fields)
        if owned and state == OutboxState.SENT and confirm is not None:
            message.refresh_from_db()
            confirm(message, result)
    message.refresh_from_db()
    logger.info("outbox %s %s %s: %s %s", message.pk, message.kind, message.key, message.state,
                message.message)
    return message


def _jsonable(result: Any) -> Any:
    if result is None or isinstance(result, (dict, list, str, int, float, bool)):
        return result
    return str(result)


# --- a sender for plain idempotent writes ------------------------------------------------------
def _send_put(client: KeyCrmClient, message: OutboxMessage) -> Any:
    """``{"path": "/offers", "body": {...}}``: one PUT, safe to repeat."""
    return client.request("PUT", message.payload["path"], json_body=message.payload["body"])


KEYCRM_PUT = "keycrm.put"
register_sender(KEYCRM_PUT, Sender(send=_send_put))
