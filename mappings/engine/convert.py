"""Turning order values into what an attribute of a given OData type accepts."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

from integration.bas.literals import to_bas_datetime
from integration.keycrm.timestamps import parse_keycrm_datetime

_TRUE = {"true", "1", "yes", "так", "да", "y"}
_FALSE = {"false", "0", "no", "ні", "нет", "n", ""}


class ConversionError(ValueError):
    pass


def to_bas_value(value: Any, edm_type: str, tz: ZoneInfo) -> Any:
    """``value`` as JSON for an attribute of ``edm_type``; raises ConversionError in words."""
    if edm_type == "Edm.String":
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        if isinstance(value, dt.datetime):
            return value.isoformat()
        return str(value)
    if edm_type in {"Edm.Double", "Edm.Decimal", "Edm.Single"}:
        number = _decimal(value)
        return int(number) if number == number.to_integral_value() else float(number)
    if edm_type in {"Edm.Int16", "Edm.Int32", "Edm.Byte", "Edm.SByte"}:
        return int(_decimal(value))
    if edm_type == "Edm.Int64":
        return str(int(_decimal(value)))  # 1C's JSON carries Int64 as text
    if edm_type == "Edm.Boolean":
        return _boolean(value)
    if edm_type == "Edm.DateTime":
        return _datetime(value, tz)
    if edm_type == "Edm.Guid":
        try:
            return str(uuid.UUID(str(value)))
        except ValueError:
            raise ConversionError(_("“%(value)s” is not a BAS reference (a GUID)")
                                  % {"value": value}) from None
    return value


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ConversionError(_("“%(value)s” is not a number") % {"value": value})
    try:
        number = Decimal(str(value).strip().replace(",", ".").replace(" ", ""))
    except InvalidOperation:
        raise ConversionError(_("“%(value)s” is not a number") % {"value": value}) from None
    if not number.is_finite():
        raise ConversionError(_("“%(value)s” is not a number") % {"value": value})
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConversionError(_("“%(value)s” is not yes or no") % {"value": value})


def _datetime(value: Any, tz: ZoneInfo) -> str:
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return to_bas_datetime(moment, tz)
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%dT00:00:00")
    text = str(value).strip()
    if len(text) == 10:  # a calendar date (e.g. shipping_date) is not moved between zones
        try:
            return dt.date.fromisoformat(text).strftime("%Y-%m-%dT00:00:00")
        except ValueError:
            raise ConversionError(_("“%(value)s” is not a date") % {"value": value}) from None
    try:
        moment = parse_keycrm_datetime(text)
    except ValueError:
        raise ConversionError(_("“%(value)s” is not a date and time") % {"value": value}) \
            from None
    return to_bas_datetime(moment, tz)
