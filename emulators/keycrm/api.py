"""HTTP-level pieces of the KeyCRM emulator: the parsed request, Laravel-style errors and a small
validator that collects them the way Laravel's does (every field checked, one 422 at the end).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from emulators.common import Request, Response
from emulators.keycrm import values

INVALID_DATA = "The given data was invalid."


def json_response(status: int, payload: Any) -> Response:
    return Response.json(status, payload)


class ApiError(Exception):
    """Ends a handler with a JSON answer (404, 422, ...)."""

    def __init__(self, status: int, payload: dict[str, Any]) -> None:
        super().__init__(payload.get("message", ""))
        self.status = status
        self.payload = payload

    def response(self) -> Response:
        return json_response(self.status, self.payload)


class ValidationFailed(ApiError):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(422, {"message": INVALID_DATA, "errors": errors})


def not_found(model: str, ident: object) -> ApiError:
    """Laravel's ModelNotFoundException text, which is what a missing id produces there."""
    return ApiError(404, {"message": f"No query results for model [App\\Models\\{model}] {ident}"})


def invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed({field: [message]})


@dataclasses.dataclass
class ApiRequest:
    """One protocol request after routing: path parameters, the form-decoded query and the body."""

    raw: Request
    params: dict[str, str]
    query: dict[str, str]  # last value wins, as PHP does for non-array keys
    filters: dict[str, str]  # filter[name]=value, values joined by commas for filter[name][]
    base_url: str  # scheme://host/v1/path, no query

    @classmethod
    def build(cls, raw: Request, params: dict[str, str]) -> ApiRequest:
        query: dict[str, str] = {}
        filters: dict[str, str] = {}
        for name, value in raw.form_query:
            if name.startswith("filter[") and "]" in name:
                key = name[len("filter[") : name.index("]")]
                array_form = name.endswith("[]") and name.count("[") == 2
                if array_form and key in filters:
                    filters[key] = f"{filters[key]},{value}"
                else:
                    filters[key] = value
            else:
                query[name] = value
        scheme = raw.headers.get("x-forwarded-proto", "http")
        host = raw.headers.get("host", "127.0.0.1")
        return cls(raw, params, query, filters, f"{scheme}://{host}{raw.path}")

    def body(self) -> dict[str, Any]:
        """The JSON body as an object. Like Laravel, a body that is not a JSON object is treated
        as no input at all, so the required-field rules report it."""
        try:
            data = json.loads(self.raw.body.decode("utf-8")) if self.raw.body else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def id_param(self, name: str) -> int:
        return int(self.params[name])

    def includes(self, aliases: Mapping[str, str] | None = None) -> set[str]:
        """``include=a,b.c``: each dotted include also implies its parents (``products.offer``
        loads ``products``). Unknown names are simply never looked at."""
        found: set[str] = set()
        for item in values.split_list(self.query.get("include", "")):
            item = (aliases or {}).get(item, item)
            parts = item.split(".")
            for depth in range(1, len(parts) + 1):
                found.add(".".join(parts[:depth]))
        return found


class Errors:
    """Validation messages by field path, Laravel's wording (Laravel 8, which KeyCRM runs)."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.fields.setdefault(field, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.fields)

    def raise_if_any(self) -> None:
        if self.fields:
            raise ValidationFailed(self.fields)


def _label(key: str) -> str:
    return key.replace("_", " ")


class Fields:
    """Reads one JSON object field by field, recording what is wrong instead of raising.

    Each reader returns the coerced value, or None when the field is absent, null or invalid;
    a rule violation is recorded in ``errors`` under the full dotted path (``products.0.price``).
    """

    def __init__(self, data: Any, errors: Errors, prefix: str = "") -> None:
        self.data: dict[str, Any] = data if isinstance(data, dict) else {}
        self.errors = errors
        self.prefix = prefix

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def has(self, name: str) -> bool:
        """Present with a value (Laravel's ``filled``: null and "" count as absent)."""
        value = self.data.get(name)
        return value is not None and value != ""

    def given(self, name: str) -> bool:
        """Present at all, even as null (for fields that may be cleared)."""
        return name in self.data

    def _fail(self, name: str, message: str) -> None:
        self.errors.add(self.key(name), message.format(attr=_label(self.key(name))))

    def _required(self, name: str, required: bool) -> bool:
        """True when there is a value to check."""
        if self.has(name):
            return True
        if required:
            self._fail(name, "The {attr} field is required.")
        return False

    def integer(self, name: str, *, required: bool = False) -> int | None:
        if not self._required(name, required):
            return None
        value = self.data[name]
        if isinstance(value, bool):
            self._fail(name, "The {attr} must be an integer.")
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        self._fail(name, "The {attr} must be an integer.")
        return None

    def number(
        self, name: str, *, required: bool = False, minimum: Decimal | None = None
    ) -> Decimal | None:
        if not self._required(name, required):
            return None
        try:
            result = values.to_decimal(self.data[name])
        except ValueError:
            self._fail(name, "The {attr} must be a number.")
            return None
        if not result.is_finite():
            self._fail(name, "The {attr} must be a number.")
            return None
        if minimum is not None and result < minimum:
            self._fail(name, f"The {{attr}} must be at least {values.number(minimum)}.")
            return None
        return result

    def string(self, name: str, *, required: bool = False, max_length: int = 0) -> str | None:
        if not self._required(name, required):
            return None
        value = self.data[name]
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)  # Laravel's string rule fails on numbers; KeyCRM casts them
        if not isinstance(value, str):
            self._fail(name, "The {attr} must be a string.")
            return None
        if max_length and len(value) > max_length:
            self._fail(name, f"The {{attr}} may not be greater than {max_length} characters.")
            return None
        return value

    def boolean(self, name: str) -> bool | None:
        if not self.given(name) or self.data[name] is None:
            return None
        result = values.parse_bool(self.data[name])
        if result is None:
            self._fail(name, "The {attr} field must be true or false.")
        return result

    def choice(self, name: str, choices: tuple[str, ...], *, required: bool = False) -> str | None:
        value = self.string(name, required=required)
        if value is not None and value not in choices:
            self._fail(name, "The selected {attr} is invalid.")
            return None
        return value

    def timestamp(self, name: str) -> dt.datetime | None:
        value = self.string(name)
        if value is None:
            return None
        try:
            return values.parse_request_datetime(value)
        except ValueError:
            self._fail(name, "The {attr} does not match the format Y-m-d H:i:s.")
            return None

    def date(self, name: str) -> dt.date | None:
        value = self.string(name)
        if value is None:
            return None
        try:
            return values.parse_request_date(value)
        except ValueError:
            self._fail(name, "The {attr} does not match the format Y-m-d.")
            return None

    def exists(self, name: str, table: Mapping[int, Any], *, required: bool = False) -> int | None:
        """An integer id that must be a key of ``table``."""
        ident = self.integer(name, required=required)
        if ident is not None and ident not in table:
            self._fail(name, "The selected {attr} is invalid.")
            return None
        return ident

    def array(self, name: str, *, required: bool = False, max_items: int = 0) -> list[Any] | None:
        if not self.given(name) or self.data[name] is None:
            if required:
                self._fail(name, "The {attr} field is required.")
            return None
        value = self.data[name]
        if not isinstance(value, list):
            self._fail(name, "The {attr} must be an array.")
            return None
        if required and not value:
            self._fail(name, "The {attr} field is required.")
            return None
        if max_items and len(value) > max_items:
            self._fail(name, f"The {{attr}} may not have more than {max_items} items.")
            return None
        return value

    def strings(self, name: str) -> list[str] | None:
        items = self.array(name)
        if items is None:
            return None
        result: list[str] = []
        for index, item in enumerate(items):
            if isinstance(item, str | int) and not isinstance(item, bool):
                result.append(str(item))
            else:
                self.errors.add(
                    f"{self.key(name)}.{index}",
                    f"The {_label(self.key(name))}.{index} must be a string.",
                )
        return result

    def obj(self, name: str, *, required: bool = False) -> Fields | None:
        if not self.given(name) or self.data[name] is None:
            if required:
                self._fail(name, "The {attr} field is required.")
            return None
        value = self.data[name]
        if not isinstance(value, dict):
            self._fail(name, "The {attr} must be an array.")  # PHP calls objects arrays
            return None
        if required and not value:  # Laravel's required: an empty array is missing
            self._fail(name, "The {attr} field is required.")
            return None
        return Fields(value, self.errors, f"{self.key(name)}.")

    def objects(self, name: str, *, required: bool = False, max_items: int = 0) -> list[Fields]:
        items = self.array(name, required=required, max_items=max_items)
        result: list[Fields] = []
        for index, item in enumerate(items or []):
            key = f"{self.key(name)}.{index}"
            if not isinstance(item, dict):
                self.errors.add(key, f"The {_label(key)} must be an array.")
                continue
            result.append(Fields(item, self.errors, f"{key}."))
        return result
