"""Lists: the Laravel paginator envelope, ``sort=`` and the shared ``filter[...]`` rules."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from typing import Any

from emulators.keycrm import values
from emulators.keycrm.api import ApiRequest, Errors, invalid

DEFAULT_LIMIT = 15
MAX_LIMIT = 50

Record = dict[str, Any]
SortKey = Callable[[Record], Any]


def page_params(req: ApiRequest) -> tuple[int, int]:
    """``page`` (bad values fall back to 1, as Laravel's paginator does) and ``limit``
    (validated: 1..50, else 422)."""
    errors = Errors()
    raw_limit = req.query.get("limit", "")
    limit = DEFAULT_LIMIT
    if raw_limit.strip():
        text = raw_limit.strip()
        if not text.lstrip("-").isdigit():
            errors.add("limit", "The limit must be an integer.")
        else:
            limit = int(text)
            if limit < 1:
                errors.add("limit", "The limit must be at least 1.")
            elif limit > MAX_LIMIT:
                errors.add("limit", f"The limit may not be greater than {MAX_LIMIT}.")
    errors.raise_if_any()
    raw_page = req.query.get("page", "1").strip()
    page = int(raw_page) if raw_page.isdigit() and int(raw_page) >= 1 else 1
    return page, limit


def paginate(
    req: ApiRequest, records: Sequence[Record], render: Callable[[Record], dict[str, Any]]
) -> dict[str, Any]:
    """The envelope KeyCRM returns. Page URLs carry only ``page`` (Laravel's default, and what
    the vendor's example shows): a client that follows ``next_page_url`` loses its filters and
    limit, so the product must build page URLs itself."""
    page, limit = page_params(req)
    total = len(records)
    last_page = max(1, math.ceil(total / limit))
    offset = (page - 1) * limit
    chunk = records[offset : offset + limit]
    base = req.base_url
    return {
        "total": total,
        "current_page": page,
        "per_page": limit,
        "last_page": last_page,
        "from": offset + 1 if chunk else None,
        "to": offset + len(chunk) if chunk else None,
        "data": [render(record) for record in chunk],
        "first_page_url": f"{base}?page=1",
        "last_page_url": f"{base}?page={last_page}",
        "next_page_url": f"{base}?page={page + 1}" if page < last_page else None,
        "prev_page_url": f"{base}?page={page - 1}" if page > 1 else None,
        "path": base,
    }


def sort_records(req: ApiRequest, records: list[Record], keys: dict[str, SortKey]) -> list[Record]:
    """``sort=field`` / ``sort=-field`` over the allowed ``keys``. ``records`` come in id order;
    ties and unknown fields keep it (unknown sorts are ignored rather than rejected: KeyCRM
    documents no list of allowed fields and integrators report them being ignored)."""
    spec = req.query.get("sort", "").strip()
    descending = spec.startswith("-")
    field = spec.lstrip("-")
    if field == "id":
        return records[::-1] if descending else records
    key = keys.get(field)
    if key is None:
        return records
    # Python's sort is stable: sorting the id-ordered list keeps id as the tie-breaker.
    return sorted(records, key=lambda record: _none_first(key(record)), reverse=descending)


def _none_first(value: Any) -> tuple[int, Any]:
    return (0, 0) if value is None else (1, value)


# --- filter helpers ---------------------------------------------------------------------


def id_set(text: str) -> set[str]:
    """Comma list of ids compared as text, so that ``filter[status_id]=abc`` matches nothing
    instead of failing (SQL would compare and find nothing too)."""
    return {item.lstrip("0") or "0" for item in values.split_list(text)}


def id_matches(value: Any, wanted: set[str]) -> bool:
    return value is not None and str(value) in wanted


def between(filters: dict[str, str], name: str) -> tuple[dt.datetime, dt.datetime] | None:
    text = filters.get(name)
    if text is None or not text.strip():
        return None
    try:
        return values.parse_between(text)
    except ValueError:
        raise invalid(
            f"filter.{name}",
            f"The filter.{name} must be two dates (Y-m-d or Y-m-d H:i:s) separated by a comma.",
        ) from None


def in_range(value: dt.datetime | None, bounds: tuple[dt.datetime, dt.datetime]) -> bool:
    return value is not None and bounds[0] <= value <= bounds[1]


def flag(filters: dict[str, str], name: str) -> bool | None:
    text = filters.get(name)
    return None if text is None else values.parse_bool(text)
