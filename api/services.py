"""What the API does beyond reading rows: the health of the portal and its loops, and tokens.

Health is a list of *loops*. Each loop says, per KeyCRM account, when it last succeeded and how
often it is expected to; a loop built later (status sync, stock push…) adds one ``Loop`` to
``LOOPS`` below, or calls ``loop_register`` when its module is imported, and appears in the
health answer (and on anything else that reads ``loops_health``) with no other change.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, connection
from django.db.models import Max
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from kombu.exceptions import OperationalError as BrokerError
from rest_framework.authtoken.models import Token

from accounts.models import KeyCrmAccount
from api.roles import ROLES
from config.celery import app as celery_app
from staging.models import (
    InboundRecord,
    OutboxMessage,
    OutboxState,
    PollCursor,
    RecordSource,
    RecordState,
)

# A loop is "silent" when it has not succeeded for this many of its intervals.
SILENT_AFTER_INTERVALS = 3
BROKER_TIMEOUT_SECONDS = 3.0


@dataclasses.dataclass(frozen=True)
class Loop:
    """One recurring piece of work. ``last_success`` answers for one account (None: never);
    ``interval_seconds`` says how often it should succeed (None: it has no rhythm, e.g.
    webhooks arrive when orders change, so its silence proves nothing)."""

    key: str
    name: str | Promise
    last_success: Callable[[KeyCrmAccount], dt.datetime | None]
    interval_seconds: Callable[[KeyCrmAccount], float | None] = lambda account: None


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message: str = ""


@dataclasses.dataclass(frozen=True)
class LoopHealth:
    key: str
    name: str
    account_id: int
    account_name: str
    last_success_at: dt.datetime | None
    interval_seconds: float | None
    silent: bool


@dataclasses.dataclass(frozen=True)
class Health:
    ok: bool
    checked_at: dt.datetime
    checks: list[Check]
    loops: list[LoopHealth]


class TokenRefused(Exception):
    """The user would be refused by every endpoint, so a token would be useless."""


def _webhook_last(account: KeyCrmAccount) -> dt.datetime | None:
    return account.inbound_records.filter(source=RecordSource.WEBHOOK).aggregate(
        at=Max("received_at"))["at"]


def _polling_last(account: KeyCrmAccount) -> dt.datetime | None:
    return PollCursor.objects.filter(account=account).values_list(
        "last_success_at", flat=True).first()


def _polling_interval(account: KeyCrmAccount) -> float | None:
    cursor = PollCursor.objects.filter(account=account, enabled=True).first()
    return float(cursor.interval_seconds) if cursor else None


def _processing_last(account: KeyCrmAccount) -> dt.datetime | None:
    return InboundRecord.objects.filter(account=account, state=RecordState.DONE).aggregate(
        at=Max("processed_at"))["at"]


def _outbox_last(account: KeyCrmAccount) -> dt.datetime | None:
    return OutboxMessage.objects.filter(account=account, state=OutboxState.SENT).aggregate(
        at=Max("sent_at"))["at"]


LOOPS: list[Loop] = [
    Loop(key="webhooks", name=_("Webhooks received"), last_success=_webhook_last),
    Loop(key="polling", name=_("Polling"), last_success=_polling_last,
         interval_seconds=_polling_interval),
    Loop(key="processing", name=_("Processing into BAS"), last_success=_processing_last),
    Loop(key="outbox", name=_("Writes to KeyCRM"), last_success=_outbox_last),
]


def loop_register(loop: Loop) -> None:
    """Add a loop, or replace the one with the same key (a module imported twice)."""
    LOOPS[:] = [known for known in LOOPS if known.key != loop.key] + [loop]


def loops_health(*, now: dt.datetime | None = None) -> list[LoopHealth]:
    """Every loop for every enabled account, in the order of ``LOOPS``, accounts by name."""
    now = now or timezone.now()
    rows = []
    for account in KeyCrmAccount.objects.filter(enabled=True).order_by("name"):
        for loop in LOOPS:
            last = loop.last_success(account)
            interval = loop.interval_seconds(account)
            silent = interval is not None and (
                last is None
                or now - last > dt.timedelta(seconds=SILENT_AFTER_INTERVALS * interval))
            rows.append(LoopHealth(key=loop.key, name=str(loop.name), account_id=account.pk,
                                   account_name=account.name, last_success_at=last,
                                   interval_seconds=interval, silent=silent))
    return rows


def database_check() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return Check(name="database", ok=False,
                     message=gettext("The database does not answer: %(error)s")
                     % {"error": exc})
    return Check(name="database", ok=True)


def broker_check(*, timeout: float = BROKER_TIMEOUT_SECONDS) -> Check:
    """Whether the Celery broker accepts a connection now (one try, no retries)."""
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=0, interval_start=0, interval_step=0,
                                   timeout=timeout)
    except (BrokerError, OSError) as exc:
        return Check(name="broker", ok=False,
                     message=gettext("The message broker does not answer: %(error)s")
                     % {"error": exc})
    return Check(name="broker", ok=True)


def portal_health(*, now: dt.datetime | None = None) -> Health:
    """The database and the broker checked now, and every loop's last success. ``ok`` is about
    the checks only: a silent loop is for a person to judge (a shop may have no orders at
    night), so it is reported, not counted as down."""
    checks = [database_check(), broker_check()]
    loops = loops_health(now=now) if checks[0].ok else []
    return Health(ok=all(check.ok for check in checks), checked_at=now or timezone.now(),
                  checks=checks, loops=loops)


def user_has_role(user: AbstractBaseUser) -> bool:
    """Whether the API (and the admin) would show this user anything."""
    if not (user.is_active and (user.is_staff or user.is_superuser)):
        return False
    return user.is_superuser or user.groups.filter(  # type: ignore[attr-defined]
        name__in=[role.name for role in ROLES]).exists()


def api_token_issue(*, user: AbstractBaseUser, rotate: bool = False) -> Token:
    """The user's API token, created if missing; ``rotate`` replaces an existing one (the old
    key stops working at once). Raises TokenRefused for a user without a role."""
    if not user_has_role(user):
        raise TokenRefused(gettext(
            "%(user)s is not an active staff member of the operator or configurator group; "
            "the API would refuse every request with this token.")
            % {"user": user.get_username()})
    if rotate:
        Token.objects.filter(user=user).delete()
    token, _created = Token.objects.get_or_create(user=user)
    return token
