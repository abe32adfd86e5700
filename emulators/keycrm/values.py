"""Value formats of the KeyCRM API: timestamps, money, and the odd query-string conventions.

KeyCRM is inconsistent about timestamps: most fields are ISO with microseconds and ``Z``
(``2025-03-14T09:12:04.000000Z``), a few (``closed_at``, ``last_synced_at``, ``payment_date``)
are ``YYYY-MM-DD HH:MM:SS``. The emulator reproduces both so the product's parser meets both.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

UTC = dt.UTC
ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
PLAIN_FORMAT = "%Y-%m-%d %H:%M:%S"
DATE_FORMAT = "%Y-%m-%d"
CENT = Decimal("0.01")
ZERO = Decimal("0")
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


def iso(value: dt.datetime | None) -> str | None:
    """``2025-03-14T09:12:04.000000Z`` — the live style for most timestamps."""
    return None if value is None else value.astimezone(UTC).strftime(ISO_FORMAT)


def plain(value: dt.datetime | None) -> str | None:
    """``2025-03-14 09:12:04``: the style of ``closed_at``, ``last_synced_at``, ``payment_date``."""
    return None if value is None else value.astimezone(UTC).strftime(PLAIN_FORMAT)


def date_text(value: dt.date | None) -> str | None:
    return None if value is None else value.strftime(DATE_FORMAT)


def parse_request_datetime(text: str) -> dt.datetime:
    """The request format KeyCRM documents: ``YYYY-MM-DD HH:MM:SS``, UTC. Raises ValueError."""
    return dt.datetime.strptime(text.strip(), PLAIN_FORMAT).replace(tzinfo=UTC)


def parse_request_date(text: str) -> dt.date:
    return dt.datetime.strptime(text.strip(), DATE_FORMAT).date()


def parse_any_datetime(value: Any) -> dt.datetime:
    """Lenient parser for seed data: a datetime, ``YYYY-MM-DD[ HH:MM:SS]`` or ISO 8601 with
    ``T``/``Z``/offset. Naive values are UTC. Raises ValueError."""
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, dt.date):
        parsed = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        parsed = dt.datetime.fromisoformat(text)
    else:
        raise ValueError(f"not a timestamp: {value!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_between(text: str) -> tuple[dt.datetime, dt.datetime]:
    """``from,to`` where each side is ``YYYY-MM-DD HH:MM:SS`` or ``YYYY-MM-DD``; a space after
    the comma is allowed. A date-only upper bound means the whole day (23:59:59), which is what
    the spec's example ``2020-08-24,2020-09-22`` is evidently meant to select. Raises ValueError.
    """
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError("expected two values separated by a comma")
    start = _bound(parts[0], end_of_day=False)
    end = _bound(parts[1], end_of_day=True)
    return start, end


def _bound(text: str, *, end_of_day: bool) -> dt.datetime:
    text = text.strip()
    try:
        return parse_request_datetime(text)
    except ValueError:
        day = parse_request_date(text)
    clock = dt.time(23, 59, 59) if end_of_day else dt.time(0, 0, 0)
    return dt.datetime.combine(day, clock, tzinfo=UTC)


def to_decimal(value: Any) -> Decimal:
    """Numbers (and numeric strings) as Decimal, via ``str`` so floats keep their shortest form.
    Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc


def optional_decimal(value: Any) -> Decimal | None:
    return None if value is None or value == "" else to_decimal(value)


def number(value: Decimal | float | int | None) -> int | float | None:
    """A JSON number: an integer when integral (``1750``), else a float (``420.5``)."""
    if value is None:
        return None
    exact = value if isinstance(value, Decimal) else Decimal(str(value))
    if exact == exact.to_integral_value():
        return int(exact)
    return float(exact)


def money(value: Decimal | float | int | None) -> int | float | None:
    """Money rounded to kopecks, rendered as a JSON number."""
    if value is None:
        return None
    return number(to_decimal(value).quantize(CENT, rounding=ROUND_HALF_UP))


def money_text(value: Decimal | None) -> str | None:
    """Money as the database renders a DECIMAL column (``"2.00"``): how some webhook fields
    arrive."""
    if value is None:
        return None
    return str(to_decimal(value).quantize(CENT, rounding=ROUND_HALF_UP))


def round_money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def split_list(text: str) -> list[str]:
    """A comma-separated filter value, each item trimmed (Laravel trims input strings)."""
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_bool(text: Any) -> bool | None:
    """Laravel's notion of a boolean input; None when it is not one."""
    if isinstance(text, bool):
        return text
    if isinstance(text, int) and text in (0, 1):
        return bool(text)
    if isinstance(text, str):
        word = text.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    return None


def jsonable(value: Any) -> Any:
    """Internal records (Decimals, datetimes, tuples) as plain JSON data, for ``state()``."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return number(value)
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, dt.date):
        return date_text(value)
    return value
