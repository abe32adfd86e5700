"""``$filter`` literals and value conversions for 1C's OData (bas-odata.md §3, §4).

1C keeps dates as the server's wall-clock time with no zone, so every aware datetime is moved
into the connection's zone before it is written or compared, and read back the same way.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

EMPTY_REF = "00000000-0000-0000-0000-000000000000"
EMPTY_DATE = "0001-01-01T00:00:00"
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def guid(value: str | uuid.UUID) -> str:
    """``guid'…'``; raises ValueError for anything that is not a GUID (no injection through
    a key)."""
    return f"guid'{uuid.UUID(str(value))}'"


def string(value: str) -> str:
    """An OData v3 string literal: quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def number(value: int | float | Decimal | str) -> str:
    """A plain decimal (1C refuses exponent notation)."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number literal")
    if isinstance(value, float):
        value = Decimal(repr(value))  # repr is the shortest exact text of the float
    text = format(value, "f") if isinstance(value, Decimal) else str(value)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if not _NUMBER.match(text):
        raise ValueError(f"not a number literal: {value!r}")
    return text


def boolean(value: bool) -> str:
    return "true" if value else "false"


def to_bas_datetime(value: dt.datetime | dt.date, tz: ZoneInfo) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` in the server's local time. Naive input is refused: a naive
    value's zone is a guess, and a wrong guess shifts every document by hours."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("refusing a naive datetime: convert it to an aware one first")
        return value.astimezone(tz).strftime("%Y-%m-%dT%H:%M:%S")
    return value.strftime("%Y-%m-%dT00:00:00")


def datetime(value: dt.datetime | dt.date, tz: ZoneInfo) -> str:
    """``datetime'…'`` in the server's local time."""
    return f"datetime'{to_bas_datetime(value, tz)}'"


def from_bas_datetime(value: str | None, tz: ZoneInfo) -> dt.datetime | None:
    """An aware datetime from 1C's naive local text; None for the empty date."""
    if not value or value.startswith("0001-01-01"):
        return None
    return dt.datetime.fromisoformat(value).replace(tzinfo=tz)


def cast(ref_key: str | uuid.UUID, entity_set: str) -> str:
    """A reference compared with a composite-type attribute must be cast (§4)."""
    return f"cast({guid(ref_key)}, {string(entity_set)})"


def any_of(field: str, values: list[str]) -> str:
    """``F eq a or F eq b …`` — 1C has no ``in`` operator."""
    if not values:
        raise ValueError("any_of needs at least one value")
    return "(" + " or ".join(f"{field} eq {v}" for v in values) + ")"


def is_empty_ref(value: str | None) -> bool:
    return not value or value == EMPTY_REF
