"""The KeyCRM REST API emulator (``/v1``): routing, bearer auth, the per-key sliding-window rate
limit, and the control verbs tests use to seed and steer it.

Order of checks for a request, as Laravel's pipeline does it: route (404/405), then auth (401),
then the rate limit (429), then the handler (200/201/202, 404, 422). Only requests that pass the
rate limit count against it.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from emulators.common import Emulator, Request, Response
from emulators.keycrm import catalog, orders, parties, render
from emulators.keycrm.api import ApiError, ApiRequest, json_response
from emulators.keycrm.demo import demo_seed
from emulators.keycrm.store import Clock, Record, Store, default_clock
from emulators.keycrm.values import jsonable
from emulators.keycrm.webhooks import ORDER_EVENTS, Subscription, WebhookDispatcher

API_PREFIX = "/v1"
Handler = Callable[[Store, ApiRequest], Response]

_ROUTE_TABLE: list[tuple[str, str, Handler]] = [
    ("GET", "/order", orders.order_list),
    ("POST", "/order", orders.order_create),
    ("POST", "/order/import", orders.order_import),
    ("GET", "/order/status", orders.dictionary_list("statuses", render.status)),
    ("GET", "/order/source", orders.dictionary_list("sources", render.source)),
    (
        "GET",
        "/order/payment-method",
        orders.dictionary_list("payment_methods", render.plain_record),
    ),
    (
        "GET",
        "/order/delivery-service",
        orders.dictionary_list("delivery_services", render.plain_record),
    ),
    ("GET", "/order/tag", orders.dictionary_list("tags", render.tag)),
    ("GET", "/order/expense-type", orders.dictionary_list("expense_types", render.plain_record)),
    (
        "GET",
        "/order/product-status",
        orders.dictionary_list("product_statuses", render.product_status),
    ),
    ("GET", "/order/{order_id}", orders.order_get),
    ("PUT", "/order/{order_id}", orders.order_update),
    ("POST", "/order/{order_id}/payment", orders.payment_create),
    ("PUT", "/order/{order_id}/payment/{payment_id}", orders.payment_update),
    ("GET", "/buyer", parties.buyer_list),
    ("POST", "/buyer", parties.buyer_create),
    ("GET", "/buyer/{buyer_id}", parties.buyer_get),
    ("PUT", "/buyer/{buyer_id}", parties.buyer_update),
    ("GET", "/companies", parties.company_list),
    ("POST", "/companies", parties.company_create),
    ("GET", "/companies/{company_id}", parties.company_get),
    ("PUT", "/companies/{company_id}", parties.company_update),
    ("GET", "/products", catalog.product_list),
    ("POST", "/products", catalog.product_create),
    ("POST", "/products/import", catalog.product_import),
    ("GET", "/products/categories", catalog.category_list),
    ("POST", "/products/categories", catalog.category_create),
    ("GET", "/products/{product_id}", catalog.product_get),
    ("PUT", "/products/{product_id}", catalog.product_update),
    ("POST", "/products/{product_id}/offers", catalog.product_offers_create),
    ("GET", "/offers", catalog.offer_list),
    ("PUT", "/offers", catalog.offers_update),
    ("GET", "/offers/stocks", catalog.stock_list),
    ("PUT", "/offers/stocks", catalog.stocks_update),
    ("GET", "/custom-fields", parties.custom_field_list),
    ("GET", "/users", parties.user_list),
]


def _compile(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[0-9]+)", template)
    return re.compile(pattern)


ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    (method, _compile(template), handler) for method, template, handler in _ROUTE_TABLE
]

# Seeding order: what a record refers to is seeded before it.
SEED_KINDS: tuple[tuple[str, str], ...] = (
    ("users", "add_user"),
    ("statuses", "add_status"),
    ("sources", "add_source"),
    ("payment_methods", "add_payment_method"),
    ("delivery_services", "add_delivery_service"),
    ("tags", "add_tag"),
    ("expense_types", "add_expense_type"),
    ("product_statuses", "add_product_status"),
    ("warehouses", "add_warehouse"),
    ("custom_fields", "add_custom_field"),
    ("categories", "add_category"),
    ("companies", "add_company"),
    ("buyers", "add_buyer"),
    ("products", "add_product"),
    ("offers", "add_offer"),
    ("stocks", ""),
    ("orders", "add_order"),
)


@dataclasses.dataclass(frozen=True)
class Defaults:
    """What the emulator was constructed with, and what ``reset()`` returns to."""

    api_keys: tuple[str, ...]
    rate_limit: int
    rate_period: float
    retry_after_header: bool
    webhook_attempts: int
    webhook_retry_delay: float
    webhook_timeout: float


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class KeyCrmEmulator(Emulator):
    """An emulated KeyCRM account behind ``http://host:port/v1``.

    Constructor arguments are the defaults that ``reset()`` returns to.
    """

    name = "keycrm"

    def __init__(
        self,
        *,
        api_keys: Iterable[str] = ("test-key",),
        rate_limit: int = 60,
        rate_period: float = 60.0,
        retry_after_header: bool = False,
        webhook_attempts: int = 3,
        webhook_retry_delay: float = 0.2,
        webhook_timeout: float = 3.0,
        clock: Clock = default_clock,
        seed: int = 0,
    ) -> None:
        super().__init__(seed=seed)
        self.defaults = Defaults(
            api_keys=tuple(api_keys),
            rate_limit=rate_limit,
            rate_period=rate_period,
            retry_after_header=retry_after_header,
            webhook_attempts=webhook_attempts,
            webhook_retry_delay=webhook_retry_delay,
            webhook_timeout=webhook_timeout,
        )
        self._clock = clock
        self.webhooks = WebhookDispatcher()
        self.store = Store(clock)
        self.api_keys: list[str] = []
        self.rate_limit = rate_limit
        self.rate_period = rate_period
        self.retry_after_header = retry_after_header
        self._windows: dict[str, collections.deque[float]] = {}
        self._accepted: dict[str, list[float]] = {}
        self.reset()

    # --- protocol -------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        route = self._route(request)
        if isinstance(route, Response):
            return route
        handler, params = route
        with self.lock:
            key = self._api_key(request)
            if key is None:
                return json_response(401, {"message": "Unauthenticated."})
            refused = self._admit(key)
            if refused is not None:
                return refused
            try:
                return handler(self.store, ApiRequest.build(request, params))
            except ApiError as exc:
                return exc.response()

    def _route(self, request: Request) -> tuple[Handler, dict[str, str]] | Response:
        path = request.path.rstrip("/")
        if not path.startswith(API_PREFIX + "/"):
            return json_response(404, {"message": "Not Found"})
        path = path[len(API_PREFIX) :]
        allowed = []
        for method, pattern, handler in ROUTES:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if method == request.method:
                return handler, match.groupdict()
            allowed.append(method)
        if allowed:
            message = (
                f"The {request.method} method is not supported for this route. "
                f"Supported methods: {', '.join(allowed)}."
            )
            return json_response(405, {"message": message})
        return json_response(
            404, {"message": f"The route {request.path.lstrip('/')} could not be found."}
        )

    def _api_key(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or token not in self.api_keys:
            return None
        return token

    def _admit(self, key: str) -> Response | None:
        """Sliding window per key: at most ``rate_limit`` accepted requests in any
        ``rate_period`` seconds. A refused request does not count."""
        now = time.monotonic()
        window = self._windows.setdefault(key, collections.deque())
        while window and window[0] <= now - self.rate_period:
            window.popleft()
        if len(window) >= self.rate_limit:
            wait = window[0] + self.rate_period - now if window else self.rate_period
            return self._too_many(max(1, math.ceil(wait)))
        window.append(now)
        self._accepted.setdefault(key, []).append(time.time())
        return None

    def too_many_requests(self) -> Response:
        """Also what the base's 429-storm fault answers with."""
        return self._too_many(1)

    def _too_many(self, retry_after: int) -> Response:
        # The real API documents no Retry-After; the header is opt-in to test clients that use it.
        headers = {"Retry-After": str(retry_after)} if self.retry_after_header else {}
        return Response.json(429, {"message": "Too Many Attempts."}, headers)

    def error_response(self, status: int) -> Response:
        return Response.json(status, {"message": "Server Error"})

    # --- state ----------------------------------------------------------------------------
    def reset(self) -> None:
        """Empty account, the constructor's keys, limits and webhook settings."""
        with self.lock:
            self.store = Store(self._clock)
            self.store.emit = self._on_order_event
            self.api_keys = list(self.defaults.api_keys)
            self.rate_limit = self.defaults.rate_limit
            self.rate_period = self.defaults.rate_period
            self.retry_after_header = self.defaults.retry_after_header
            self._windows.clear()
            self._accepted.clear()
            self.webhooks.clear()
            self.webhooks.attempts = self.defaults.webhook_attempts
            self.webhooks.retry_delay = self.defaults.webhook_retry_delay
            self.webhooks.timeout = self.defaults.webhook_timeout

    def state(self) -> dict[str, Any]:
        with self.lock:
            store = self.store
            tables = {
                kind: [jsonable(table[ident]) for ident in sorted(table)]
                for kind, table in store.tables.items()
            }
            stocks = [
                {"offer_id": offer_id, "warehouse_id": warehouse_id, **jsonable(row)}
                for offer_id, rows in sorted(store.stocks.items())
                for warehouse_id, row in sorted(rows.items())
            ]
            webhooks = self.webhooks.snapshot()
            return {
                "api_keys": list(self.api_keys),
                "rate_limit": {
                    "limit": self.rate_limit,
                    "period": self.rate_period,
                    "retry_after_header": self.retry_after_header,
                },
                "rate_accepted": {key: list(times) for key, times in self._accepted.items()},
                **tables,
                "stocks": stocks,
                "sequences": dict(store.sequences),
                "webhook_subscriptions": webhooks["subscriptions"],
                "webhook_deliveries": webhooks["deliveries"],
                "webhook_pending": webhooks["pending"],
            }

    # --- control verbs (each also a method) -----------------------------------------------
    def control(self, verb: str, body: Any) -> Response:
        verbs: dict[str, Callable[[dict[str, Any]], Any]] = {
            "seed": self.seed,
            "seed_demo": lambda b: self.seed_demo(**b),
            "keys": lambda b: self.set_keys(b["keys"]),
            "rate_limit": lambda b: self.set_rate_limit(
                b["limit"], b.get("period", self.rate_period), b.get("retry_after_header")
            ),
            "webhooks": lambda b: self.set_webhooks(
                b.get("subscriptions", []),
                attempts=b.get("attempts"),
                retry_delay=b.get("retry_delay"),
                timeout=b.get("timeout"),
            ),
            "set_order_status": lambda b: self.set_order_status(b["order_id"], b["status_id"]),
            "emit_webhook": lambda b: self.emit_webhook(
                b["order_id"], b.get("event", ORDER_EVENTS[0])
            ),
        }
        action = verbs.get(verb)
        if action is None:
            return json_response(404, {"error": f"unknown control verb {verb!r}"})
        try:
            return json_response(200, action(body or {}))
        except ControlError as exc:
            return json_response(exc.status, {"error": str(exc)})
        except (KeyError, ValueError, TypeError) as exc:
            return json_response(400, {"error": f"bad {verb} body: {type(exc).__name__}: {exc}"})

    def seed(self, data: dict[str, Any]) -> dict[str, list[int]]:
        """Add (or replace, by id) records of any kind; missing fields get defaults and missing
        ids the next free one. Returns the ids per kind, in the order given."""
        unknown = set(data) - {kind for kind, _ in SEED_KINDS}
        if unknown:
            raise ValueError(
                f"unknown kinds {sorted(unknown)}; known: {[k for k, _ in SEED_KINDS]}"
            )
        created: dict[str, list[int]] = {}
        with self.lock:
            for kind, builder in SEED_KINDS:
                items = data.get(kind) or []
                if kind == "stocks":
                    for item in items:
                        self._seed_stock(item)
                    continue
                add: Callable[[Record], Record] = getattr(self.store, builder)
                created[kind] = [add(dict(item))["id"] for item in items]
        return {kind: ids for kind, ids in created.items() if ids}

    def _seed_stock(self, item: dict[str, Any]) -> None:
        offer_id = item.get("offer_id") or item.get("id")
        if offer_id is None and item.get("sku"):
            offer_id = self.store.offers_by_sku.get(item["sku"])
        if offer_id is None or int(offer_id) not in self.store.offers:
            raise ValueError(f"stock row {item!r}: no such offer")
        warehouse_id = int(item.get("warehouse_id") or self.store.ensure_warehouse())
        self.store.set_stock(
            int(offer_id), warehouse_id, item.get("quantity", 0), item.get("reserve")
        )

    def seed_demo(self, **sizes: int) -> dict[str, list[int]]:
        """Realistic Ukrainian demo data (see ``demo.py``); ``products=``, ``orders=``,
        ``buyers=`` scale it, e.g. for benchmarks."""
        return self.seed(demo_seed(**sizes))

    def set_keys(self, keys: Iterable[str]) -> list[str]:
        """Replace the accepted API keys (rate windows of removed keys are forgotten)."""
        if isinstance(keys, str):
            raise ValueError("keys must be a list of strings")
        with self.lock:
            self.api_keys = [str(k) for k in keys]
            return list(self.api_keys)

    set_api_keys = set_keys

    def set_rate_limit(
        self, limit: int, period: float = 60.0, retry_after_header: bool | None = None
    ) -> dict[str, Any]:
        if int(limit) < 1 or float(period) <= 0:
            raise ValueError("limit must be >= 1 and period > 0")
        with self.lock:
            self.rate_limit = int(limit)
            self.rate_period = float(period)
            if retry_after_header is not None:
                self.retry_after_header = bool(retry_after_header)
            # The windows are kept: requests already accepted still count under the new limit.
            return {
                "limit": self.rate_limit,
                "period": self.rate_period,
                "retry_after_header": self.retry_after_header,
            }

    def set_webhooks(
        self,
        subscriptions: list[dict[str, Any]],
        *,
        attempts: int | None = None,
        retry_delay: float | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        parsed = [Subscription.from_json(item) for item in subscriptions]
        self.webhooks.configure(parsed)
        if attempts is not None:
            self.webhooks.attempts = max(1, int(attempts))
        if retry_delay is not None:
            self.webhooks.retry_delay = max(0.0, float(retry_delay))
        if timeout is not None:
            self.webhooks.timeout = float(timeout)
        snapshot = self.webhooks.snapshot()
        return {k: snapshot[k] for k in ("subscriptions", "attempts", "retry_delay", "timeout")}

    def set_order_status(self, order_id: int, status_id: int) -> dict[str, Any]:
        """What a manager does in the UI: change the status (emitting the webhook if it
        differs). Returns the flat order."""
        with self.lock:
            order = self._order(order_id)
            if int(status_id) not in self.store.statuses:
                raise ControlError(422, f"no status {status_id}")
            self.store.change_order_status(order, int(status_id))
            return render.order_flat(self.store, order)

    def emit_webhook(self, order_id: int, event: str = ORDER_EVENTS[0]) -> dict[str, Any]:
        """Send the order's current row again (as KeyCRM's retries or a repeated trigger would)."""
        if event not in ORDER_EVENTS:
            raise ControlError(422, f"unknown event {event!r}; known: {list(ORDER_EVENTS)}")
        with self.lock:
            order = self._order(order_id)
            queued = self._on_order_event(event, order)
        return {"queued": queued}

    # --- helpers for in-process tests -----------------------------------------------------
    def wait_for_webhooks(self, timeout: float = 5.0) -> bool:
        """Block until queued webhook deliveries are done. Do not call it holding the lock."""
        return self.webhooks.wait_idle(timeout)

    def webhook_deliveries(self) -> list[dict[str, Any]]:
        return self.webhooks.snapshot()["deliveries"]

    def accepted_times(self, key: str = "test-key") -> list[float]:
        """Wall-clock times (``time.time()``) of the requests the rate limit let through."""
        with self.lock:
            return list(self._accepted.get(key, []))

    def max_accepted_in_window(self, key: str = "test-key", period: float | None = None) -> int:
        """The largest number of accepted requests within any ``period`` seconds."""
        times = self.accepted_times(key)
        span = self.rate_period if period is None else period
        best, start = 0, 0
        for end, moment in enumerate(times):
            while moment - times[start] >= span:
                start += 1
            best = max(best, end - start + 1)
        return best

    def _order(self, order_id: Any) -> Record:
        order = self.store.orders.get(int(order_id))
        if order is None:
            raise ControlError(404, f"no order {order_id}")
        return order

    def _on_order_event(self, event: str, order: Record) -> int:
        # The context is the row as it is now, at the moment of the event, not at delivery.
        payload = {"event": event, "context": render.webhook_context(self.store, order)}
        return self.webhooks.publish(event, order["id"], payload)
