"""What the operator's start page shows, read with a handful of aggregate queries whatever the
number of records: each loop's last success per account, records by state (today and the last
7 days), and the failures grouped by cause.

A *cause* is a failure message with what varies from order to order taken out (order ids, line
numbers, dates, references): "Запасы[2].Номенклатура_Key: … (Артикул = AB-17: none found)" and
the same SKU missing on line 5 of another order are one cause, a different SKU is another. The
cause's key (a short hash) is what the records list filters by and what "Re-process these"
re-queues, so the page, the list and the button always mean the same records.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from collections.abc import Iterable

from django.db.models import Count, Max, Min, Q, QuerySet
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import KeyCrmAccount
from staging.models import (
    OUTBOX_PENDING,
    PENDING_STATES,
    InboundRecord,
    OutboxMessage,
    OutboxState,
    RecordSource,
    RecordState,
)

# A loop is "silent" when it has not succeeded for this many of its intervals.
SILENT_AFTER_INTERVALS = 3
# Processing and the outbox have no interval of their own: beat hands due work to the workers
# every 30 s (config.settings CELERY_BEAT_SCHEDULE), so a minute is how often work that is due
# should be done.
QUEUE_INTERVAL_SECONDS = 60
# Webhooks arrive when orders change, so their silence proves nothing while polling fetches the
# same changes. With polling off they are the only way in: a day without one is worth a look.
WEBHOOK_QUIET_SECONDS = 24 * 60 * 60
CHART_DAYS = 7
FAILURE_STATES = (RecordState.WAITING, RecordState.FAILED)
OUTBOX_FAILURE_STATES = (OutboxState.WAITING, OutboxState.FAILED)
CAUSES_SHOWN = 30


class LoopState:
    OK = "ok"
    SILENT = "silent"  # the warning: no success for more than three intervals
    IDLE = "idle"  # nothing to do, so no success is expected
    OFF = "off"  # disabled or not set up


@dataclasses.dataclass(frozen=True)
class LoopStatus:
    key: str
    name: str
    state: str
    last_success_at: dt.datetime | None
    interval_seconds: float | None  # None: the loop has no rhythm (webhooks)
    note: str = ""  # why the state is what it is, in words for the page

    @property
    def warning(self) -> bool:
        return self.state == LoopState.SILENT


@dataclasses.dataclass(frozen=True)
class AccountHealth:
    account_id: int
    account_name: str
    enabled: bool
    connection_name: str  # "" when the account has no BAS connection
    loops: list[LoopStatus]

    @property
    def warnings(self) -> int:
        return sum(loop.warning for loop in self.loops)


@dataclasses.dataclass(frozen=True)
class Bar:
    state: str
    label: str
    count: int
    percent: float  # of the widest bar in its chart, for the CSS width
    colour: str


@dataclasses.dataclass(frozen=True)
class Day:
    day: dt.date
    total: int
    bars: list[Bar]  # one segment per state with records, stacked


@dataclasses.dataclass(frozen=True)
class StateChart:
    today: list[Bar]
    days: list[Day]  # the oldest first, today last


@dataclasses.dataclass(frozen=True)
class Cause:
    key: str
    scope: str  # "record" (received records) or "outbox" (writes to KeyCRM)
    account_id: int
    account_name: str
    kind: str  # the record's problem_kind, or the outbox message's kind
    text: str
    count: int
    last_at: dt.datetime | None


STATE_COLOURS = {
    RecordState.QUEUED: "#6c757d",
    RecordState.PROCESSING: "#0d6efd",
    RecordState.RETRY: "#fd7e14",
    RecordState.DONE: "#198754",
    RecordState.WAITING: "#b35900",
    RecordState.FAILED: "#dc3545",
    RecordState.DUPLICATE: "#adb5bd",
    RecordState.IGNORED: "#ced4da",
}


# --- loops -------------------------------------------------------------------------------------
def accounts_health(*, now: dt.datetime | None = None) -> list[AccountHealth]:
    """Every account's loops, accounts by name. Six queries in all, however many accounts
    and records there are."""
    now = now or timezone.now()
    accounts = list(KeyCrmAccount.objects.select_related(
        "bas_connection", "poll_cursor", "bas_changes_settings", "stock_settings",
    ).order_by("name"))
    webhooks = _latest_per_account(
        InboundRecord.objects.filter(source=RecordSource.WEBHOOK), "received_at")
    done = _latest_per_account(
        InboundRecord.objects.filter(state=RecordState.DONE), "processed_at")
    sent = _latest_per_account(
        OutboxMessage.objects.filter(state=OutboxState.SENT), "sent_at")
    records_due = _oldest_due_per_account(
        InboundRecord.objects.filter(state__in=PENDING_STATES), "received_at", now=now)
    outbox_due = _oldest_due_per_account(
        OutboxMessage.objects.filter(state__in=OUTBOX_PENDING), "created_at", now=now)
    return [
        AccountHealth(
            account_id=account.pk, account_name=account.name, enabled=account.enabled,
            connection_name=account.bas_connection.name if account.bas_connection else "",
            loops=[
                _webhook_loop(account, webhooks.get(account.pk), now=now),
                _polling_loop(account, now=now),
                _queue_loop("processing", _("Processing into BAS"), done.get(account.pk),
                            records_due.get(account.pk), now=now),
                _status_sync_loop(account, now=now),
                _stock_loop(account, now=now),
                _queue_loop("outbox", _("Writes to KeyCRM (outbox)"), sent.get(account.pk),
                            outbox_due.get(account.pk), now=now),
            ])
        for account in accounts
    ]


def _latest_per_account(rows: QuerySet, field: str) -> dict[int, dt.datetime]:
    return dict(rows.values("account_id").annotate(at=Max(field)).values_list("account_id",
                                                                               "at"))


def _oldest_due_per_account(rows: QuerySet, since_field: str, *,
                            now: dt.datetime) -> dict[int, tuple[int, dt.datetime]]:
    """Per account: how many pending rows are due now, and since when the oldest one is."""
    due = rows.filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
    return {account_id: (count, oldest) for account_id, count, oldest in due.values(
        "account_id").annotate(n=Count("id"), oldest=Min(Coalesce("not_before", since_field)))
        .values_list("account_id", "n", "oldest")}


def _silent(last: dt.datetime | None, interval: float, now: dt.datetime) -> bool:
    return last is None or now - last > dt.timedelta(seconds=SILENT_AFTER_INTERVALS * interval)


def _scheduled_loop(key: str, name: str, *, configured: bool, enabled: bool,
                    last: dt.datetime | None, interval: float, error: str,
                    now: dt.datetime) -> LoopStatus:
    if not configured:
        return LoopStatus(key, str(name), LoopState.OFF, None, None, gettext("Not set up."))
    if not enabled:
        return LoopStatus(key, str(name), LoopState.OFF, last, interval, gettext("Turned off."))
    silent = _silent(last, interval, now)
    note = error if silent and error else ""
    return LoopStatus(key, str(name), LoopState.SILENT if silent else LoopState.OK, last,
                      interval, note)


def _polling_loop(account: KeyCrmAccount, *, now: dt.datetime) -> LoopStatus:
    cursor = getattr(account, "poll_cursor", None)
    return _scheduled_loop(
        "polling", _("Polling KeyCRM"), configured=cursor is not None,
        enabled=bool(cursor and cursor.enabled and account.enabled),
        last=cursor.last_success_at if cursor else None,
        interval=float(cursor.interval_seconds) if cursor else 0.0,
        error=cursor.last_error if cursor else "", now=now)


def _status_sync_loop(account: KeyCrmAccount, *, now: dt.datetime) -> LoopStatus:
    settings = getattr(account, "bas_changes_settings", None)
    return _scheduled_loop(
        "status_sync", _("Status sync BAS → KeyCRM"), configured=settings is not None,
        enabled=bool(settings and settings.enabled and account.enabled),
        last=settings.last_success_at if settings else None,
        interval=float(settings.interval_seconds) if settings else 0.0,
        error=settings.last_error if settings else "", now=now)


def _stock_loop(account: KeyCrmAccount, *, now: dt.datetime) -> LoopStatus:
    settings = getattr(account, "stock_settings", None)
    return _scheduled_loop(
        "stock", _("Stock push BAS → KeyCRM"), configured=settings is not None,
        enabled=bool(settings and settings.enabled and account.enabled),
        last=settings.last_success_at if settings else None,
        interval=60.0 * settings.interval_minutes if settings else 0.0,
        error=settings.last_error if settings else "", now=now)


def _webhook_loop(account: KeyCrmAccount, last: dt.datetime | None, *,
                  now: dt.datetime) -> LoopStatus:
    name = str(_("Webhooks received"))
    cursor = getattr(account, "poll_cursor", None)
    if cursor is not None and cursor.enabled:
        return LoopStatus("webhooks", name, LoopState.OK, last, None, gettext(
            "No interval: webhooks come when orders change, and polling fetches the same "
            "changes, so their silence is not a warning."))
    quiet = last is None or (now - last).total_seconds() > WEBHOOK_QUIET_SECONDS
    return LoopStatus("webhooks", name, LoopState.SILENT if quiet else LoopState.OK, last, None,
                      gettext("Polling is off, so webhooks are the only way orders come in: "
                              "a warning after a day without one."))


def _queue_loop(key: str, name: str, last: dt.datetime | None,
                due: tuple[int, dt.datetime] | None, *, now: dt.datetime) -> LoopStatus:
    """A queue is judged only while it has work that is due: an empty queue is idle, not
    silent; work due for more than three intervals with no success as long is silent."""
    if due is None:
        return LoopStatus(key, str(name), LoopState.IDLE, last, QUEUE_INTERVAL_SECONDS,
                          gettext("Nothing is waiting to be done."))
    count, oldest = due
    overdue = _silent(oldest, QUEUE_INTERVAL_SECONDS, now)
    silent = overdue and _silent(last, QUEUE_INTERVAL_SECONDS, now)
    note = gettext("%(count)d due, the oldest since %(time)s.") % {
        "count": count, "time": f"{timezone.localtime(oldest):%Y-%m-%d %H:%M}"}
    return LoopStatus(key, str(name), LoopState.SILENT if silent else LoopState.OK, last,
                      QUEUE_INTERVAL_SECONDS, note)


# --- records by state --------------------------------------------------------------------------
def records_by_state(*, now: dt.datetime | None = None, days: int = CHART_DAYS) -> StateChart:
    """Records received per day and state over the last ``days`` days (today included), in
    the portal's time zone. One query."""
    now = timezone.localtime(now or timezone.now())
    first_day = now.date() - dt.timedelta(days=days - 1)
    start = timezone.make_aware(dt.datetime.combine(first_day, dt.time.min))
    rows = (InboundRecord.objects.filter(received_at__gte=start)
            .annotate(day=TruncDate("received_at", tzinfo=timezone.get_current_timezone()))
            .values("day", "state").annotate(n=Count("id")).values_list("day", "state", "n"))
    counts: dict[dt.date, dict[str, int]] = {}
    for day, state, n in rows:
        counts.setdefault(day, {})[state] = n
    today = counts.get(now.date(), {})
    widest_state = max(today.values(), default=0)
    by_day = [(first_day + dt.timedelta(days=i)) for i in range(days)]
    widest_day = max((sum(counts.get(day, {}).values()) for day in by_day), default=0)
    return StateChart(
        today=_bars(today, widest_state),
        days=[Day(day=day, total=sum(counts.get(day, {}).values()),
                  bars=_bars(counts.get(day, {}), widest_day)) for day in by_day])


def _bars(counts: dict[str, int], widest: int) -> list[Bar]:
    return [Bar(state=state, label=str(label), count=counts[state],
                percent=round(100.0 * counts[state] / widest, 1) if widest else 0.0,
                colour=STATE_COLOURS.get(state, "#999"))
            for state, label in RecordState.choices if counts.get(state)]


# --- failures by cause -------------------------------------------------------------------------
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_INDEX = re.compile(r"\[\d+\]")
# A number standing alone (an order id, a quantity, a date, a time) — not one inside a code
# such as the SKU "AB-17" or "Catalog_1", which names the cause itself.
_NUMBER = re.compile(r"(?<![\w-])\d+(?:[.,:/-]\d+)*(?![\w-])")
_SPACES = re.compile(r"\s+")


def cause_text(message: str) -> str:
    """The message with what varies between orders replaced: ids and numbers by N, line
    numbers by […], references by …."""
    text = _UUID.sub("…", message)
    text = _INDEX.sub("[…]", text)
    text = _NUMBER.sub("N", text)
    return _SPACES.sub(" ", text).strip()


def cause_key(*, scope: str, account_id: int, kind: str, text: str) -> str:
    digest = hashlib.sha256(f"{scope}|{account_id}|{kind}|{text}".encode()).hexdigest()
    return digest[:16]


def failure_causes(*, limit: int = CAUSES_SHOWN,
                   scopes: tuple[str, ...] = ("record", "outbox")) -> list[Cause]:
    """Waiting and failed records, and waiting and failed writes to KeyCRM, grouped by cause,
    the most frequent first. One aggregate query per scope; the grouping by cause runs over
    distinct messages, not over records."""
    causes: dict[str, Cause] = {}
    queries = {
        "record": (InboundRecord.objects.filter(state__in=FAILURE_STATES)
                   .values("account_id", "account__name", "problem_kind", "message")
                   .annotate(n=Count("id"), last=Max("received_at")), "problem_kind"),
        "outbox": (OutboxMessage.objects.filter(state__in=OUTBOX_FAILURE_STATES)
                   .values("account_id", "account__name", "kind", "message")
                   .annotate(n=Count("id"), last=Max("updated_at")), "kind"),
    }
    for scope in scopes:
        groups, kind_field = queries[scope]
        for group in groups:
            _merge(causes, scope=scope, account_id=group["account_id"],
                   account_name=group["account__name"], kind=group[kind_field],
                   message=group["message"], count=group["n"], last=group["last"])
    ordered = sorted(causes.values(), key=lambda c: (-c.count, c.account_name, c.text))
    return ordered[:limit]


def _merge(causes: dict[str, Cause], *, scope: str, account_id: int, account_name: str,
           kind: str, message: str, count: int, last: dt.datetime | None) -> None:
    text = cause_text(message)
    key = cause_key(scope=scope, account_id=account_id, kind=kind, text=text)
    known = causes.get(key)
    if known is None:
        causes[key] = Cause(key=key, scope=scope, account_id=account_id,
                            account_name=account_name, kind=kind, text=text, count=count,
                            last_at=last)
        return
    latest = max((at for at in (known.last_at, last) if at is not None), default=None)
    causes[key] = dataclasses.replace(known, count=known.count + count, last_at=latest)


def records_of_cause(*, key: str) -> QuerySet[InboundRecord]:
    """The waiting and failed records whose message has this cause (none for an unknown key,
    e.g. once they were re-processed)."""
    failing = InboundRecord.objects.filter(state__in=FAILURE_STATES)
    matches = Q()
    found = False
    groups = failing.values_list("account_id", "problem_kind", "message").distinct()
    for account_id, kind, messages in _groups_of_key(groups, key=key, scope="record"):
        matches |= Q(account_id=account_id, problem_kind=kind, message__in=messages)
        found = True
    return failing.filter(matches) if found else failing.none()


def _groups_of_key(groups: Iterable[tuple[int, str, str]], *, key: str,
                   scope: str) -> list[tuple[int, str, list[str]]]:
    selected: dict[tuple[int, str], list[str]] = {}
    for account_id, kind, message in groups:
        if cause_key(scope=scope, account_id=account_id, kind=kind,
                     text=cause_text(message)) == key:
            selected.setdefault((account_id, kind), []).append(message)
    return [(account_id, kind, messages) for (account_id, kind), messages in selected.items()]


def cause_of_key(*, key: str) -> Cause | None:
    """The cause (of received records) with this key, for the page that names it."""
    return next((cause for cause in failure_causes(limit=10_000, scopes=("record",))
                 if cause.key == key), None)
