"""The KeyCRM REST client (``keycrm-api.md``): every endpoint the portal uses, and nothing else.

What every call gets:
* ``Authorization: Bearer <key>``, JSON in and out, explicit timeouts, no redirects;
* a slot from the account's shared rate budget before each attempt, so that all workers
  together stay under the account's requests per minute;
* retries with capped exponential back-off and jitter — on 429 always (a refused request did
  nothing), on network errors and 5xx only for reads and idempotent updates (GET, PUT). A POST
  is repeated only when it certainly never reached KeyCRM;
* one error type, ``KeyCrmError``, saying what went wrong in words and whether retrying later
  can help.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.utils.translation import gettext

from integration.http import ExchangeObserver, HttpTransport, RawResponse, TransportError
from integration.keycrm.timestamps import format_keycrm_datetime
from integration.ratelimit import RateBudget, RateBudgetExhausted, rate_budget_for

PAGE_LIMIT = 50  # the API's maximum page size
ORDER_IMPORT_BATCH = 50
PRODUCT_IMPORT_BATCH = 100
OFFERS_CREATE_BATCH = 100

# Everything accounting needs from an order in one call (keycrm-api.md §1.6).
ORDER_FULL_INCLUDE = (
    "buyer",
    "products.offer",
    "manager",
    "status",
    "payments",
    "shipping.deliveryService",
    "custom_fields",
    "marketing",
    "tags",
    "expenses",
    "assigned",
)

_IDEMPOTENT = frozenset({"GET", "PUT", "DELETE"})
_TAGS = re.compile(r"<[^>]+>")

Json = Any
Filters = Mapping[str, Any]


class KeyCrmError(Exception):
    """A KeyCRM call that did not succeed.

    ``retryable``: the same call later may succeed (network, 429, 5xx).
    ``outcome_unknown``: a write was sent and no answer came; it may or may not have happened.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool,
        outcome_unknown: bool = False,
        field_errors: Mapping[str, list[str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable
        self.outcome_unknown = outcome_unknown
        self.field_errors = dict(field_errors or {})

    def __str__(self) -> str:
        prefix = f"KeyCRM {self.status}: " if self.status else "KeyCRM: "
        return prefix + self.message


class KeyCrmClient:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        budget: RateBudget | None,
        timeout: float | None = None,
        max_retries: int | None = None,
        backoff_base: float = 1.0,
        backoff_cap: float = 30.0,
        max_budget_wait: float | None = None,
        observer: ExchangeObserver | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.budget = budget
        self.max_retries = settings.KEYCRM_MAX_RETRIES if max_retries is None else max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_budget_wait = (
            settings.KEYCRM_RATE_MAX_WAIT_SECONDS if max_budget_wait is None else max_budget_wait
        )
        self.transport = HttpTransport(
            system="keycrm",
            connect_timeout=settings.HTTP_CONNECT_TIMEOUT_SECONDS,
            read_timeout=timeout or settings.KEYCRM_TIMEOUT_SECONDS,
            observer=observer,
            secrets=(api_key,),
        )
        self.calls = 0  # HTTP attempts made, for progress and benchmarks

    @classmethod
    def for_account(cls, account: Any, **kwargs: Any) -> KeyCrmClient:
        """A client for a ``KeyCrmAccount`` with the account's shared rate budget."""
        api_key = account.get_api_key()
        return cls(
            base_url=account.api_base_url,
            api_key=api_key,
            budget=rate_budget_for(api_key, per_minute=account.requests_per_minute),
            **kwargs,
        )

    def close(self) -> None:
        self.transport.close()

    # --- the core -----------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Json = None,
    ) -> Json:
        """One API call with budget, retries and error mapping. Returns the decoded JSON body
        (None for an empty one). Raises ``KeyCrmError``."""
        url = self.base_url + path + encode_query(params or {})
        body = None if json_body is None else json.dumps(json_body, ensure_ascii=False).encode()
        headers = {"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        attempt = 0
        while True:
            self._take_budget()
            self.calls += 1
            try:
                response = self.transport.send(method, url, headers=headers, body=body)
            except TransportError as exc:
                error = KeyCrmError(
                    f"{method} {path}: {exc}", retryable=True,
                    outcome_unknown=exc.sent and method not in _IDEMPOTENT,
                )
                if (exc.sent and method not in _IDEMPOTENT) or attempt >= self.max_retries:
                    raise error from exc
            else:
                if 200 <= response.status < 300:
                    return _decode_success(method, path, response)
                error = _error_from_response(method, path, response)
                if not _may_repeat(method, response.status) or attempt >= self.max_retries:
                    raise error
                if response.status == 429:
                    delay = _retry_after(response)
                    if delay is not None:
                        time.sleep(min(delay, self.backoff_cap))
                        attempt += 1
                        continue
            time.sleep(self._backoff(attempt))
            attempt += 1

    def _take_budget(self) -> None:
        if self.budget is None:
            return
        try:
            self.budget.acquire(max_wait=self.max_budget_wait)
        except RateBudgetExhausted as exc:
            raise KeyCrmError(str(exc), retryable=True) from exc

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * (2**attempt))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter

    def iterate(
        self,
        path: str,
        *,
        filters: Filters | None = None,
        include: Sequence[str] = (),
        sort: str | None = None,
        limit: int = PAGE_LIMIT,
        start_page: int = 1,
    ) -> Iterator[Json]:
        """Every item of a paginated list, one page in memory at a time."""
        for page in self.pages(path, filters=filters, include=include, sort=sort, limit=limit,
                               start_page=start_page):
            yield from page["data"]

    def pages(
        self,
        path: str,
        *,
        filters: Filters | None = None,
        include: Sequence[str] = (),
        sort: str | None = None,
        limit: int = PAGE_LIMIT,
        start_page: int = 1,
    ) -> Iterator[Json]:
        """The pages (whole envelopes, with ``total`` and ``last_page``) of a list, lazily."""
        page_number = start_page
        while True:
            params = list_params(filters=filters, include=include, sort=sort, limit=limit,
                                 page=page_number)
            page = self.request("GET", path, params=params)
            yield page
            last = page.get("last_page")
            if not page.get("data") or not page.get("next_page_url"):
                return
            if last is not None and page.get("current_page", page_number) >= last:
                return
            page_number += 1

    # --- orders -------------------------------------------------------------------------
    def list_orders(self, *, filters: Filters | None = None,
                    include: Sequence[str] = ORDER_FULL_INCLUDE,
                    sort: str | None = None) -> Iterator[Json]:
        return self.iterate("/order", filters=filters, include=include, sort=sort)

    def get_order(self, order_id: int, *, include: Sequence[str] = ORDER_FULL_INCLUDE) -> Json:
        return self.request("GET", f"/order/{int(order_id)}",
                            params={"include": ",".join(include)} if include else None)

    def find_orders_by_source_uuid(self, source_uuid: str) -> list[Json]:
        return list(self.iterate("/order", filters={"source_uuid": source_uuid}))

    def create_order(self, payload: Mapping[str, Any]) -> Json:
        return self.request("POST", "/order", json_body=payload)

    def update_order(self, order_id: int, payload: Mapping[str, Any]) -> Json:
        return self.request("PUT", f"/order/{int(order_id)}", json_body=payload)

    def import_orders(self, orders: Sequence[Mapping[str, Any]]) -> None:
        """Bulk create (≤ 50 per call; answers with no ids — find them by ``source_uuid``)."""
        for batch in _batches(orders, ORDER_IMPORT_BATCH):
            self.request("POST", "/order/import", json_body={"orders": batch})

    def add_order_payment(self, order_id: int, payload: Mapping[str, Any]) -> Json:
        return self.request("POST", f"/order/{int(order_id)}/payment", json_body=payload)

    def update_order_payment(self, order_id: int, payment_id: int,
                             payload: Mapping[str, Any]) -> Json:
        return self.request("PUT", f"/order/{int(order_id)}/payment/{int(payment_id)}",
                            json_body=payload)

    # --- order directories ----------------------------------------------------------------
    def list_order_statuses(self) -> Iterator[Json]:
        return self.iterate("/order/status")

    def list_order_sources(self) -> Iterator[Json]:
        return self.iterate("/order/source")

    def list_payment_methods(self) -> Iterator[Json]:
        return self.iterate("/order/payment-method")

    def list_delivery_services(self) -> Iterator[Json]:
        return self.iterate("/order/delivery-service")

    def list_order_tags(self) -> Iterator[Json]:
        return self.iterate("/order/tag")

    # --- buyers and companies --------------------------------------------------------------
    def list_buyers(self, *, filters: Filters | None = None,
                    include: Sequence[str] = ()) -> Iterator[Json]:
        return self.iterate("/buyer", filters=filters, include=include)

    def get_buyer(self, buyer_id: int, *, include: Sequence[str] = ()) -> Json:
        return self.request("GET", f"/buyer/{int(buyer_id)}",
                            params={"include": ",".join(include)} if include else None)

    def create_buyer(self, payload: Mapping[str, Any]) -> Json:
        return self.request("POST", "/buyer", json_body=payload)

    def update_buyer(self, buyer_id: int, payload: Mapping[str, Any]) -> Json:
        return self.request("PUT", f"/buyer/{int(buyer_id)}", json_body=payload)

    def list_companies(self, *, filters: Filters | None = None,
                       include: Sequence[str] = ()) -> Iterator[Json]:
        return self.iterate("/companies", filters=filters, include=include)

    def get_company(self, company_id: int, *, include: Sequence[str] = ()) -> Json:
        return self.request("GET", f"/companies/{int(company_id)}",
                            params={"include": ",".join(include)} if include else None)

    def create_company(self, payload: Mapping[str, Any]) -> Json:
        return self.request("POST", "/companies", json_body=payload)

    def update_company(self, company_id: int, payload: Mapping[str, Any]) -> Json:
        return self.request("PUT", f"/companies/{int(company_id)}", json_body=payload)

    # --- catalogue ------------------------------------------------------------------------
    def list_products(self, *, filters: Filters | None = None,
                      include: Sequence[str] = ()) -> Iterator[Json]:
        return self.iterate("/products", filters=filters, include=include)

    def get_product(self, product_id: int, *, include: Sequence[str] = ()) -> Json:
        return self.request("GET", f"/products/{int(product_id)}",
                            params={"include": ",".join(include)} if include else None)

    def create_product(self, payload: Mapping[str, Any]) -> Json:
        return self.request("POST", "/products", json_body=payload)

    def update_product(self, product_id: int, payload: Mapping[str, Any]) -> Json:
        return self.request("PUT", f"/products/{int(product_id)}", json_body=payload)

    def import_products(self, products: Sequence[Mapping[str, Any]]) -> int:
        """Bulk create in batches of 100; returns the number of calls made."""
        calls = 0
        for batch in _batches(products, PRODUCT_IMPORT_BATCH):
            self.request("POST", "/products/import", json_body={"products": batch})
            calls += 1
        return calls

    def list_categories(self, *, filters: Filters | None = None) -> Iterator[Json]:
        return self.iterate("/products/categories", filters=filters)

    def create_category(self, *, name: str, parent_id: int | None = None) -> Json:
        payload: dict[str, Any] = {"name": name}
        if parent_id is not None:
            payload["parent_id"] = parent_id
        return self.request("POST", "/products/categories", json_body=payload)

    def list_offers(self, *, filters: Filters | None = None, include: Sequence[str] = (),
                    sort: str | None = None) -> Iterator[Json]:
        return self.iterate("/offers", filters=filters, include=include, sort=sort)

    def update_offers(self, offers: Sequence[Mapping[str, Any]], *,
                      batch_size: int = PAGE_LIMIT) -> int:
        """Bulk price/dimension update by ``id`` or ``sku``; returns the calls made."""
        calls = 0
        for batch in _batches(offers, batch_size):
            self.request("PUT", "/offers", json_body={"offers": batch})
            calls += 1
        return calls

    def create_product_offers(self, product_id: int,
                              offers: Sequence[Mapping[str, Any]]) -> int:
        calls = 0
        for batch in _batches(offers, OFFERS_CREATE_BATCH):
            self.request("POST", f"/products/{int(product_id)}/offers",
                         json_body={"offers": batch})
            calls += 1
        return calls

    def list_offer_stocks(self, *, filters: Filters | None = None) -> Iterator[Json]:
        return self.iterate("/offers/stocks", filters=filters)

    def update_offer_stocks(self, *, warehouse_id: int, stocks: Sequence[Mapping[str, Any]],
                            batch_size: int = PAGE_LIMIT) -> int:
        """Absolute quantities in one warehouse; returns the calls made."""
        calls = 0
        for batch in _batches(stocks, batch_size):
            self.request("PUT", "/offers/stocks",
                         json_body={"warehouse_id": warehouse_id, "stocks": batch})
            calls += 1
        return calls

    # --- other directories ----------------------------------------------------------------
    def list_custom_fields(self, *, models: Iterable[str] = (),
                           with_options: bool = True) -> list[Json]:
        params: dict[str, Any] = {}
        if models:
            params["filter[model]"] = ",".join(models)
        if with_options:
            params["include"] = "options"
        return self.request("GET", "/custom-fields", params=params)

    def list_users(self, *, filters: Filters | None = None) -> Iterator[Json]:
        return self.iterate("/users", filters=filters)

    def check_key(self) -> int:
        """A cheap authenticated call; returns the number of order statuses. Raises on a bad
        key (401) like any other call."""
        page = self.request("GET", "/order/status", params={"limit": 1, "page": 1})
        return int(page.get("total", len(page.get("data", []))))


# --- encoding ---------------------------------------------------------------------------------
def list_params(*, filters: Filters | None, include: Sequence[str], sort: str | None,
                limit: int, page: int) -> dict[str, Any]:
    if not 1 <= limit <= PAGE_LIMIT:
        raise ValueError(f"KeyCRM pages hold 1..{PAGE_LIMIT} items, not {limit}")
    params: dict[str, Any] = {"limit": limit, "page": page}
    if include:
        params["include"] = ",".join(include)
    if sort:
        params["sort"] = sort
    for name, value in (filters or {}).items():
        params[f"filter[{name}]"] = filter_value(value)
    return params


def filter_value(value: Any) -> str:
    """One ``filter[...]`` value in KeyCRM's notation: lists comma-joined, a (from, to) pair of
    datetimes as ``from,to`` in UTC, booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return format_keycrm_datetime(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple | list | set | frozenset):
        return ",".join(filter_value(v) for v in value)
    return str(value)


def encode_query(params: Mapping[str, Any]) -> str:
    if not params:
        return ""
    # Spaces become %20, commas and colons stay literal (readable logs); brackets are
    # percent-encoded, as RFC 3986 wants in a query and as KeyCRM (Laravel) decodes them.
    parts = [
        f"{quote(str(k), safe='')}={quote(str(v), safe=',:')}"
        for k, v in params.items() if v is not None
    ]
    return "?" + "&".join(parts)


# --- answers ----------------------------------------------------------------------------------
def _decode_success(method: str, path: str, response: RawResponse) -> Json:
    if not response.content.strip():
        return None
    if "json" not in response.content_type:
        raise KeyCrmError(
            gettext("%(request)s: expected JSON, got %(type)s — is the API base URL right? "
                    "(%(answer)s)") % {
                "request": f"{method} {path}",
                "type": response.content_type or gettext("no content type"),
                "answer": _plain(response.text(200))},
            status=response.status, retryable=False,
        )
    try:
        return json.loads(response.content)
    except ValueError as exc:
        raise KeyCrmError(gettext("%(request)s: the answer is not valid JSON")
                          % {"request": f"{method} {path}"},
                          status=response.status, retryable=True) from exc


def _error_from_response(method: str, path: str, response: RawResponse) -> KeyCrmError:
    status = response.status
    message, field_errors = _parse_error_body(response)
    explanation = {
        401: gettext("the API key was refused (wrong, revoked or from another account)"),
        403: gettext("the API key may not do this"),
        404: gettext("not found"),
        422: gettext("KeyCRM refused the data"),
        429: gettext("too many requests: KeyCRM's rate limit was hit"),
    }.get(status, gettext("KeyCRM is unavailable") if status >= 500
          else gettext("the request was refused"))
    text = f"{method} {path}: {explanation}"
    if message and message.lower() not in explanation:
        text += f" — {message}"
    if field_errors:
        text += " (" + "; ".join(f"{k}: {', '.join(v)}" for k, v in field_errors.items()) + ")"
    return KeyCrmError(
        text, status=status, retryable=status == 429 or status >= 500,
        outcome_unknown=status >= 500 and method not in _IDEMPOTENT,
        field_errors=field_errors,
    )


def _parse_error_body(response: RawResponse) -> tuple[str, dict[str, list[str]]]:
    try:
        body = json.loads(response.content)
    except ValueError:
        return _plain(response.text(300)), {}
    if not isinstance(body, dict):
        return "", {}
    errors = body.get("errors")
    field_errors = {
        str(k): [str(m) for m in (v if isinstance(v, list) else [v])]
        for k, v in (errors.items() if isinstance(errors, dict) else [])
    }
    return str(body.get("message") or ""), field_errors


def _may_repeat(method: str, status: int) -> bool:
    if status == 429:
        return True  # refused before doing anything
    return status >= 500 and method in _IDEMPOTENT


def _retry_after(response: RawResponse) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _plain(text: str) -> str:
    return " ".join(_TAGS.sub(" ", text).split())[:200]


def _batches(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]
