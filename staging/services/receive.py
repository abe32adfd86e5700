"""Stage one: store what KeyCRM sends or what polling fetches, verbatim, once.

Storing is all that happens here; nothing calls KeyCRM or BAS. The caller enqueues the new
record for processing after the transaction commits (``transaction.on_commit``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import hmac
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext

from accounts.models import KeyCrmAccount
from integration.keycrm.timestamps import parse_keycrm_datetime
from staging.models import InboundRecord, RecordSource, RecordState

ORDER_STATUS_EVENT = "order.change_order_status"
PAYMENT_STATUS_EVENT = "order.change_payment_status"
KNOWN_EVENTS = (ORDER_STATUS_EVENT, PAYMENT_STATUS_EVENT)
MAX_WEBHOOK_BYTES = 256 * 1024  # a KeyCRM order row is a few kilobytes
KEPT_HEADERS = ("content-type", "user-agent", "x-forwarded-for", "x-real-ip",
                "x-correlation-id", "content-length")


class WebhookRefused(Exception):
    """The request is not something we can store (malformed, too big): answer 4xx."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class Stored:
    record: InboundRecord
    is_new: bool  # False: a repeat, stored as a duplicate of an earlier record

    @property
    def needs_processing(self) -> bool:
        return self.is_new and self.record.state == RecordState.QUEUED


def webhook_account(token: str) -> KeyCrmAccount | None:
    """The enabled account whose webhook token this is, or None. Every enabled account's token
    is compared in constant time, so the answer's timing says nothing about how close a guess
    was. One query, read afresh on every call: a rotated or disabled token stops working the
    moment that change commits, in every web process, whichever way it was saved.

    The account comes back with only its id and token loaded (what storing a webhook needs);
    any other field is read from the database when first touched."""
    given = token.encode()
    found = None
    with connection.cursor() as cursor:
        cursor.execute(*_enabled_tokens_sql(connection.alias))
        rows = cursor.fetchall()
    for account_id, candidate in rows:
        if hmac.compare_digest(candidate.encode(), given):
            found = KeyCrmAccount.from_db(connection.alias, ["id", "webhook_token"],
                                          [account_id, candidate])
    return found


@functools.cache
def _enabled_tokens_sql(alias: str) -> tuple[str, tuple[Any, ...]]:
    """The ORM's own SQL for the enabled accounts' ids and tokens, compiled once per process:
    compiling it costs several times what running it does, and every webhook runs it."""
    query = KeyCrmAccount.objects.filter(enabled=True).values_list("id", "webhook_token").query
    return query.get_compiler(using=alias).as_sql()


def webhook_receive(*, account: KeyCrmAccount, body: bytes,
                    headers: Mapping[str, str]) -> Stored:
    """Store one webhook. Raises WebhookRefused for a body that is not a JSON object; an
    unknown event is stored as ignored, with the reason."""
    if len(body) > MAX_WEBHOOK_BYTES:
        raise WebhookRefused(413, f"body of {len(body)} bytes is over {MAX_WEBHOOK_BYTES}")
    try:
        payload = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant,
                             parse_float=_finite_float)
    except (UnicodeDecodeError, ValueError) as exc:
        raise WebhookRefused(400, f"body is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise WebhookRefused(400, "body is not a JSON object")
    payload = storable(payload)
    kept = {k.lower(): v for k, v in headers.items() if k.lower() in KEPT_HEADERS}
    text = body.decode("utf-8")
    event = payload.get("event")
    context = payload.get("context")
    if event not in KNOWN_EVENTS:
        return _store(account=account, source=RecordSource.WEBHOOK, event=str(event or "")[:64],
                      order_id=None, dedupe_key="", headers=kept, body=text, payload=payload,
                      order_updated_at=None, state=RecordState.IGNORED,
                      message=gettext("event “%(event)s” is not one the portal handles "
                                      "(%(known)s)") % {"event": event,
                                                         "known": ", ".join(KNOWN_EVENTS)})
    order_id = _int(context.get("id")) if isinstance(context, dict) else None
    if order_id is None:
        return _store(account=account, source=RecordSource.WEBHOOK, event=event, order_id=None,
                      dedupe_key="", headers=kept, body=text, payload=payload,
                      order_updated_at=None, state=RecordState.IGNORED,
                      message=gettext("the webhook's context carries no order id"))
    if event == ORDER_STATUS_EVENT:
        marker = f"{context.get('status_id')}:{context.get('status_changed_at')}"
    else:
        marker = f"{context.get('payment_status')}:{context.get('updated_at')}"
    return _store(account=account, source=RecordSource.WEBHOOK, event=event,
                  order_id=order_id, dedupe_key=f"{event}:{order_id}:{marker}"[:200],
                  headers=kept, body=text, payload=payload,
                  order_updated_at=_time(context.get("status_changed_at")
                                         or context.get("updated_at")))


def order_snapshot_receive(*, account: KeyCrmAccount, order: dict[str, Any], source: str,
                           dedupe_key: str | None = None) -> Stored:
    """Store a full order fetched by polling or backfill. The same order at the same
    ``updated_at`` is stored once (a repeat becomes a duplicate)."""
    order = storable(order)
    if dedupe_key is None:
        dedupe_key = snapshot_dedupe_key(order)
    body = json.dumps(order, ensure_ascii=False)
    return _store(account=account, source=source, event="order.snapshot",
                  order_id=_int(order.get("id")), dedupe_key=dedupe_key,
                  headers={}, body=body, payload=order,
                  order_updated_at=_time(order.get("updated_at")))


def snapshot_dedupe_key(order: dict[str, Any]) -> str:
    """The same order with the same content is one snapshot. KeyCRM's updated_at has whole
    seconds, so two changes within a second differ only by content: it is part of the key."""
    digest = hashlib.sha1(  # noqa: S324 - an identity, not a secret
        json.dumps(order, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]
    return f"snapshot:{_int(order.get('id'))}:{order.get('updated_at') or ''}:{digest}"[:200]


def _store(*, account: KeyCrmAccount, source: str, event: str, order_id: int | None,
           dedupe_key: str, headers: dict[str, Any], body: str, payload: Any,
           order_updated_at: dt.datetime | None, state: str = RecordState.QUEUED,
           message: str = "") -> Stored:
    fields = {"account": account, "source": source, "event": event,
              "keycrm_order_id": order_id, "dedupe_key": dedupe_key, "headers": headers,
              "body": body, "payload": payload, "order_updated_at": order_updated_at}
    try:
        record = _insert(fields, state=state, message=message)
        return Stored(record, is_new=True)
    except IntegrityError:
        if not dedupe_key:
            raise
    original = InboundRecord.objects.filter(account=account, dedupe_key=dedupe_key,
                                            duplicate_of__isnull=True).first()
    record = InboundRecord.objects.create(
        **fields, duplicate_of=original, state=RecordState.DUPLICATE,
        message=gettext("a repeat of record #%(id)s") % {
            "id": original.pk if original else "?"})
    return Stored(record, is_new=False)


def _insert(fields: dict[str, Any], *, state: str, message: str) -> InboundRecord:
    """One INSERT. Inside a caller's transaction (polling stores a page at a time) it runs in a
    savepoint, so a duplicate key leaves that transaction usable. Outside one (the webhook
    view) the connection is in autocommit: the INSERT is its own transaction, committed in the
    same round trip to the database, so the row is durable when this returns, and a duplicate
    key leaves nothing behind either."""
    if transaction.get_connection().in_atomic_block:
        with transaction.atomic():
            return InboundRecord.objects.create(**fields, state=state, message=message)
    return InboundRecord.objects.create(**fields, state=state, message=message)


# NUL and lone surrogates: legal in a JSON string, refused by PostgreSQL and by UTF-8.
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def storable(value: Any) -> Any:
    """The value with every text a database can hold: NUL characters and lone surrogates
    (legal in JSON escapes, refused by PostgreSQL and by UTF-8) become U+FFFD. The body as
    received keeps them, escaped."""
    if isinstance(value, str):
        # One regular-expression scan in C; most texts have nothing to replace.
        return _UNSTORABLE.sub("\ufffd", value) if _UNSTORABLE.search(value) else value
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


def _refuse_constant(name: str) -> float:
    # Python reads NaN and Infinity; RFC 8259 and the databases' JSON types do not.
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 reads as infinity, which no JSON column stores
        raise ValueError(f"{text[:20]} is out of range")
    return value


BIGINT_RANGE = range(-(2**63), 2**63)  # what an order id column holds


def _int(value: Any) -> int | None:
    """The value as an order id, or None when it is not one (not a number, out of range)."""
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number in BIGINT_RANGE else None


def _time(value: Any) -> dt.datetime | None:
    try:
        return parse_keycrm_datetime(value) if isinstance(value, str) else None
    except ValueError:
        return None
