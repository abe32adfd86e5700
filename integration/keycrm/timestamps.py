"""KeyCRM's two timestamp styles, both UTC: ``2024-05-28T09:24:01.000000Z`` (most live fields,
webhooks) and ``2024-05-28 09:24:01`` (spec examples, ``closed_at``, ``payment_date``)."""

from __future__ import annotations

import datetime as dt

UTC = dt.UTC


def parse_keycrm_datetime(value: str | None) -> dt.datetime | None:
    """An aware UTC datetime, or None for an empty value. Naive values are UTC (keycrm-api §1.3).

    Raises ValueError for text that is neither style.
    """
    if value is None or value == "":
        return None
    text = value.strip()
    if len(text) == 10:  # a bare date
        return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = dt.datetime.fromisoformat(text.replace(" ", "T", 1))
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_keycrm_datetime(value: dt.datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in UTC, the form KeyCRM takes in filters and payloads."""
    if value.tzinfo is None:
        raise ValueError("refusing to send a naive datetime to KeyCRM: its zone is unknown")
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
