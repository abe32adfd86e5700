"""The KeyCRM emulator's in-memory account: tables keyed by id, the few indexes that keep lookups
O(1) at benchmark sizes (10,000 orders, 50,000 offers), and the record builders shared by the
``seed`` control verb and the API's create endpoints.

Builders are lenient (they fill defaults and coerce); the API validates before calling them.
Money and quantities are Decimal, timestamps aware UTC datetimes truncated to the second (KeyCRM
stores seconds, hence its ``.000000Z``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from emulators.keycrm import values
from emulators.keycrm.values import ZERO

Record = dict[str, Any]
Clock = Callable[[], dt.datetime]

KINDS = (
    "users",
    "statuses",
    "sources",
    "payment_methods",
    "delivery_services",
    "tags",
    "expense_types",
    "product_statuses",
    "warehouses",
    "custom_fields",
    "categories",
    "companies",
    "buyers",
    "products",
    "offers",
    "orders",
)
PAYMENT_STATUSES = ("paid", "not_paid", "canceled")
UUID_PREFIXES = {"order": "OR", "client": "CT", "lead": "LD", "crm_product": "PR", "company": "CO"}
COUNTRY_CODES = {"ukraine": "UA", "україна": "UA", "ua": "UA", "poland": "PL", "польща": "PL"}
SHIPPING_FIELDS = (
    "delivery_service_id",
    "tracking_code",
    "shipping_status",
    "shipping_address_city",
    "shipping_address_country",
    "shipping_address_region",
    "shipping_address_zip",
    "shipping_secondary_line",
    "shipping_receive_point",
    "recipient_full_name",
    "recipient_phone",
    "warehouse_ref",
)
MARKETING_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
OFFER_NUMBERS = ("price", "purchased_price", "weight", "length", "width", "height")
DEFAULT_STATUS = {"name": "Нове", "alias": "new", "group_id": 1, "is_reserved": True}
DEFAULT_SOURCE = {"name": "Інтернет-магазин", "alias": "website", "currency_code": "UAH"}


def default_clock() -> dt.datetime:
    return dt.datetime.now(values.UTC)


def _slug(text: str, fallback: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return slug or fallback


def _stamp(data: Record, name: str, default: dt.datetime | None) -> dt.datetime | None:
    value = data.get(name)
    return default if value in (None, "") else values.parse_any_datetime(value)


def _timestamps(data: Record, now: dt.datetime) -> Record:
    """``created_at`` (default now) and ``updated_at`` (default ``created_at``)."""
    created = _stamp(data, "created_at", now)
    return {"created_at": created, "updated_at": _stamp(data, "updated_at", created)}


def _ids(items: Any) -> list[int]:
    """Ids given bare (``[1, 2]``) or as records (``[{"id": 1}]``)."""
    return [int(item["id"] if isinstance(item, dict) else item) for item in items or []]


def _text_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    return [str(item) for item in value if item not in (None, "")]


def _properties(items: Any) -> list[Record]:
    """Attributes without both ``name`` and ``value`` are ignored, as the spec says."""
    result = []
    for item in items or []:
        if isinstance(item, dict) and item.get("name") and item.get("value") not in (None, ""):
            result.append({"name": str(item["name"]), "value": str(item["value"])})
    return result


class Store:
    """All data of one emulated KeyCRM account. Not thread-safe: the emulator holds its lock."""

    def __init__(self, clock: Clock = default_clock) -> None:
        self.clock = clock
        self.users: dict[int, Record] = {}
        self.statuses: dict[int, Record] = {}
        self.sources: dict[int, Record] = {}
        self.payment_methods: dict[int, Record] = {}
        self.delivery_services: dict[int, Record] = {}
        self.tags: dict[int, Record] = {}
        self.expense_types: dict[int, Record] = {}
        self.product_statuses: dict[int, Record] = {}
        self.warehouses: dict[int, Record] = {}
        self.custom_fields: dict[int, Record] = {}
        self.categories: dict[int, Record] = {}
        self.companies: dict[int, Record] = {}
        self.buyers: dict[int, Record] = {}
        self.products: dict[int, Record] = {}
        self.offers: dict[int, Record] = {}
        self.orders: dict[int, Record] = {}
        self.tables: dict[str, dict[int, Record]] = {kind: getattr(self, kind) for kind in KINDS}
        # offer id -> warehouse id -> {"quantity": Decimal, "reserve": Decimal}
        self.stocks: dict[int, dict[int, Record]] = {}
        self.offers_by_sku: dict[str, int] = {}
        self.offers_by_product: dict[int, list[int]] = {}
        self.buyers_by_phone: dict[str, int] = {}
        self.buyers_by_email: dict[str, int] = {}
        self.custom_fields_by_uuid: dict[str, int] = {}
        self.sequences: dict[str, int] = {}
        # Tables whose dict order is no longer id order (a seeded id below the highest one);
        # the others can be listed in id order without sorting 50,000 rows per request.
        self.unordered: set[str] = set()
        # Set by the emulator: called as emit(event, order) when a webhook-worthy change happens.
        self.emit: Callable[[str, Record], object] = lambda event, order: None

    # --- basics ---------------------------------------------------------------------------
    def now(self) -> dt.datetime:
        return self.clock().astimezone(values.UTC).replace(microsecond=0)

    def next_id(self, sequence: str) -> int:
        value = self.sequences.get(sequence, 0) + 1
        self.sequences[sequence] = value
        return value

    def _claim(self, sequence: str, data: Record) -> int:
        """The record's id: the one given (the sequence moves past it) or the next one."""
        given = data.get("id")
        if given is None:
            return self.next_id(sequence)
        ident = int(given)
        table = self.tables.get(sequence)
        if table is not None and ident < self.sequences.get(sequence, 0) and ident not in table:
            self.unordered.add(sequence)
        self.sequences[sequence] = max(self.sequences.get(sequence, 0), ident)
        return ident

    def by_id(self, kind: str) -> list[Record]:
        """The table's records in id order."""
        table = self.tables[kind]
        if kind in self.unordered:
            return [table[ident] for ident in sorted(table)]
        return list(table.values())

    # --- dictionaries ---------------------------------------------------------------------
    def add_user(self, data: Record) -> Record:
        ident = self._claim("users", data)
        now = self.now()
        first, last = data.get("first_name"), data.get("last_name")
        full = data.get("full_name") or " ".join(p for p in (first, last) if p) or f"User {ident}"
        if first is None and last is None:
            first, _, last = full.partition(" ")
        role_id = int(data.get("role_id") or 2)
        record = {
            "id": ident,
            "first_name": first,
            "last_name": last or None,
            "full_name": full,
            "username": data.get("username") or f"user{ident}",
            "email": data.get("email"),
            "phone": data.get("phone"),
            "role_id": role_id,
            "role": data.get("role")
            or {
                "id": role_id,
                "name": "Менеджер" if role_id != 1 else "Адміністратор",
                "alias": "manager" if role_id != 1 else "administrator",
            },
            "status": data.get("status", "active"),
            **_timestamps(data, now),
            "last_logged_at": _stamp(data, "last_logged_at", now),
        }
        self.users[ident] = record
        return record

    def add_status(self, data: Record) -> Record:
        ident = self._claim("statuses", data)
        now = self.now()
        name = data.get("name") or f"Статус {ident}"
        record = {
            "id": ident,
            "name": name,
            "alias": data.get("alias") or _slug(name, f"status_{ident}"),
            "is_active": bool(data.get("is_active", True)),
            "group_id": int(data.get("group_id", 1)),
            "is_closing_order": bool(data.get("is_closing_order", False)),
            "is_reserved": bool(data.get("is_reserved", False)),
            "expiration_period": data.get("expiration_period"),
            **_timestamps(data, now),
            "deleted_at": None,
        }
        self.statuses[ident] = record
        return record

    def add_source(self, data: Record) -> Record:
        ident = self._claim("sources", data)
        now = self.now()
        name = data.get("name") or f"Джерело {ident}"
        record = {
            "id": ident,
            "name": name,
            "alias": data.get("alias") or _slug(name, f"source_{ident}"),
            "driver": data.get("driver", "other"),
            "source_uuid": data.get("source_uuid"),
            "source_name": data.get("source_name"),
            "currency_code": data.get("currency_code", "UAH"),
            **_timestamps(data, now),
        }
        self.sources[ident] = record
        return record

    def add_payment_method(self, data: Record) -> Record:
        ident = self._claim("payment_methods", data)
        record = {
            "id": ident,
            "name": data.get("name") or f"Спосіб оплати {ident}",
            "alias": data.get("alias"),
            "is_active": bool(data.get("is_active", True)),
        }
        self.payment_methods[ident] = record
        return record

    def add_delivery_service(self, data: Record) -> Record:
        ident = self._claim("delivery_services", data)
        name = data.get("name") or f"Доставка {ident}"
        record = {
            "id": ident,
            "name": name,
            "source_name": data.get("source_name"),
            "alias": data.get("alias") or _slug(name, f"delivery_{ident}"),
        }
        self.delivery_services[ident] = record
        return record

    def add_tag(self, data: Record) -> Record:
        ident = self._claim("tags", data)
        now = self.now()
        name = data.get("name") or f"Тег {ident}"
        record = {
            "id": ident,
            "name": name,
            "alias": data.get("alias") or _slug(name, f"tag_{ident}"),
            "color": data.get("color", "#3498DB"),
            **_timestamps(data, now),
        }
        self.tags[ident] = record
        return record

    def add_expense_type(self, data: Record) -> Record:
        ident = self._claim("expense_types", data)
        name = data.get("name") or f"Витрата {ident}"
        record = {
            "id": ident,
            "name": name,
            "alias": data.get("alias") or _slug(name, f"expense_{ident}"),
            "is_active": bool(data.get("is_active", True)),
            "is_reserved": bool(data.get("is_reserved", False)),
            "by_order": bool(data.get("by_order", True)),
        }
        self.expense_types[ident] = record
        return record

    def add_product_status(self, data: Record) -> Record:
        ident = self._claim("product_statuses", data)
        now = self.now()
        name = data.get("name") or f"Статус товару {ident}"
        record = {
            "id": ident,
            "name": name,
            "alias": data.get("alias") or _slug(name, f"product_status_{ident}"),
            "position": int(data.get("position", ident)),
            "is_active": bool(data.get("is_active", True)),
            "is_reserved": bool(data.get("is_reserved", False)),
            **_timestamps(data, now),
        }
        self.product_statuses[ident] = record
        return record

    def add_warehouse(self, data: Record) -> Record:
        ident = self._claim("warehouses", data)
        record = {
            "id": ident,
            "name": data.get("name") or f"Склад {ident}",
            "description": data.get("description"),
            "is_active": bool(data.get("is_active", True)),
        }
        self.warehouses[ident] = record
        return record

    def add_custom_field(self, data: Record) -> Record:
        ident = self._claim("custom_fields", data)
        model = data.get("model", "order")
        uuid = data.get("uuid") or f"{UUID_PREFIXES.get(model, 'CF')}_{1000 + ident}"
        options = []
        for option in data.get("options") or []:
            option_data = option if isinstance(option, dict) else {"value": option}
            options.append(
                {
                    "id": self._claim("custom_field_options", option_data),
                    "field_id": ident,
                    "value": str(option_data.get("value", "")),
                }
            )
        field_type = data.get("type", "select" if options else "text")
        record = {
            "id": ident,
            "name": data.get("name") or uuid,
            "uuid": uuid,
            "model": model,
            "type": field_type,
            "required": bool(data.get("required", False)),
            "position": int(data.get("position", ident)),
            "is_multiple": bool(data.get("is_multiple", False)),
            "options": options,
        }
        old = self.custom_fields.get(ident)
        if old is not None:
            self.custom_fields_by_uuid.pop(old["uuid"], None)
        self.custom_fields[ident] = record
        self.custom_fields_by_uuid[uuid] = ident
        return record

    def add_category(self, data: Record) -> Record:
        ident = self._claim("categories", data)
        now = self.now()
        parent = data.get("parent_id")
        record = {
            "id": ident,
            "name": data.get("name") or f"Категорія {ident}",
            "parent_id": None if parent in (None, "", 0) else int(parent),
            **_timestamps(data, now),
        }
        self.categories[ident] = record
        return record

    # --- first rows the API falls back on -------------------------------------------------
    def first_status_id(self) -> int:
        """The status a new order gets: the lowest-id active status. An account always has one;
        an empty emulator gets the standard "Нове" created on demand."""
        active = [ident for ident, status in self.statuses.items() if status["is_active"]]
        if not active:
            return self.add_status(dict(DEFAULT_STATUS))["id"]
        return min(active)

    def first_id(self, kind: str) -> int | None:
        return min(self.tables[kind]) if self.tables[kind] else None

    def default_source_id(self) -> int:
        first = self.first_id("sources")
        return first if first is not None else self.add_source(dict(DEFAULT_SOURCE))["id"]

    def payment_method_by_name(self, name: str) -> int | None:
        wanted = name.strip().lower()
        for ident, method in self.payment_methods.items():
            if (method["name"] or "").lower() == wanted or (method["alias"] or "") == wanted:
                return ident
        return None

    def delivery_service_by_name(self, name: str) -> int | None:
        wanted = name.strip().lower()
        for ident, service in self.delivery_services.items():
            if service["name"].lower() == wanted or service["alias"] == wanted:
                return ident
        return None

    def expense_type_by_name(self, name: str) -> int | None:
        wanted = name.strip().lower()
        for ident, kind in self.expense_types.items():
            if (kind["name"] or "").lower() == wanted:
                return ident
        return None

    # --- custom field values --------------------------------------------------------------
    def custom_values(self, items: Iterable[Record]) -> dict[str, Any]:
        """``[{uuid|id, value}]`` as ``{uuid: value}``; unknown fields are skipped (the API has
        already rejected them)."""
        result: dict[str, Any] = {}
        for item in items or []:
            uuid = item.get("uuid")
            if uuid is None and item.get("id") is not None:
                field = self.custom_fields.get(int(item["id"]))
                uuid = field["uuid"] if field else None
            if uuid is not None:
                result[str(uuid)] = item.get("value")
        return result

    # --- companies and buyers -------------------------------------------------------------
    def add_company(self, data: Record) -> Record:
        ident = self._claim("companies", data)
        now = self.now()
        record = {
            "id": ident,
            "name": data.get("name") or f"Компанія {ident}",
            "title": data.get("title"),
            "notes": data.get("notes"),
            "bank_account": data.get("bank_account"),
            "manager_id": data.get("manager_id"),
            "buyer_ids": [],
            "custom_fields": self.custom_values(data.get("custom_fields") or []),
            **_timestamps(data, now),
        }
        self.companies[ident] = record
        self.link_buyers(record, data.get("buyer_id") or data.get("buyer_ids") or [])
        return record

    def link_buyers(self, company: Record, buyer_ids: Iterable[Any]) -> None:
        for raw in buyer_ids:
            buyer = self.buyers.get(int(raw))
            if buyer is None:
                continue
            buyer["company_id"] = company["id"]
            if buyer["id"] not in company["buyer_ids"]:
                company["buyer_ids"].append(buyer["id"])

    def add_buyer(self, data: Record) -> Record:
        ident = self._claim("buyers", data)
        now = self.now()
        birthday = data.get("birthday")
        record = {
            "id": ident,
            "full_name": data.get("full_name") or f"Покупець {ident}",
            "birthday": values.parse_any_datetime(birthday).date() if birthday else None,
            "email": _text_list(data.get("email")),
            "phone": _text_list(data.get("phone")),
            "note": data.get("note"),
            "discount": values.optional_decimal(data.get("discount")),
            "company_id": None,
            "manager_id": data.get("manager_id"),
            "shipping": [dict(item) for item in data.get("shipping") or []],
            "custom_fields": self.custom_values(data.get("custom_fields") or []),
            "loyalty": list(data.get("loyalty") or []),
            **_timestamps(data, now),
        }
        self.buyers[ident] = record
        self.index_buyer(record)
        company_id = data.get("company_id")
        if company_id is not None and int(company_id) in self.companies:
            self.link_buyers(self.companies[int(company_id)], [ident])
        return record

    def index_buyer(self, buyer: Record, *, forget: Record | None = None) -> None:
        """Phone and e-mail indexes (exact phone string; e-mail case-insensitive, as MySQL's
        collation compares). ``forget`` is the buyer's previous state."""
        if forget is not None:
            for phone in forget["phone"]:
                if self.buyers_by_phone.get(phone) == buyer["id"]:
                    del self.buyers_by_phone[phone]
            for email in forget["email"]:
                if self.buyers_by_email.get(email.lower()) == buyer["id"]:
                    del self.buyers_by_email[email.lower()]
        for phone in buyer["phone"]:
            self.buyers_by_phone.setdefault(phone, buyer["id"])
        for email in buyer["email"]:
            self.buyers_by_email.setdefault(email.lower(), buyer["id"])

    def buyer_for_order(self, data: Record) -> int:
        """The client of a new order: an existing buyer with exactly this phone, else this
        e-mail, else a new buyer. (How KeyCRM matches is undocumented; this is our reading.)"""
        phone = (data.get("phone") or "").strip()
        email = (data.get("email") or "").strip()
        if phone and phone in self.buyers_by_phone:
            return self.buyers_by_phone[phone]
        if email and email.lower() in self.buyers_by_email:
            return self.buyers_by_email[email.lower()]
        name = data.get("full_name") or phone or email or "Без імені"
        return self.add_buyer({"full_name": name, "phone": phone or None, "email": email or None})[
            "id"
        ]

    # --- catalogue ------------------------------------------------------------------------
    def add_product(self, data: Record) -> Record:
        """A product; with ``offers`` its variants, else (when it has a sku or price) its single
        offer, as KeyCRM creates for a product without variants."""
        ident = self._claim("products", data)
        now = self.now()
        pictures = _text_list(data.get("pictures"))
        category = data.get("category_id")
        record = {
            "id": ident,
            "name": data.get("name") or f"Товар {ident}",
            "description": data.get("description"),
            "thumbnail_url": data.get("thumbnail_url") or (pictures[0] if pictures else None),
            "pictures": pictures,
            "unit_type": data.get("unit_type"),
            "currency_code": data.get("currency_code") or "UAH",
            "category_id": None if category in (None, "") else int(category),
            "is_archived": bool(data.get("is_archived", False)),
            "custom_fields": self.custom_values(data.get("custom_fields") or []),
            **_timestamps(data, now),
        }
        self.products[ident] = record
        self.offers_by_product.setdefault(ident, [])
        if "offers" in data:
            for offer in data["offers"] or []:
                self.add_offer({**offer, "product_id": ident})
        elif any(data.get(name) is not None for name in ("sku", "price", "barcode")):
            single = {name: data.get(name) for name in ("sku", "barcode", *OFFER_NUMBERS)}
            for name in ("quantity", "reserve", "warehouse_id"):
                if name in data:
                    single[name] = data[name]
            self.add_offer({**single, "product_id": ident, "created_at": record["created_at"]})
        return record

    def add_offer(self, data: Record) -> Record:
        ident = self._claim("offers", data)
        now = self.now()
        product_id = int(data["product_id"])
        if product_id not in self.products:
            raise ValueError(f"offer {ident}: unknown product_id {product_id}")
        old = self.offers.get(ident)
        record = {
            "id": ident,
            "product_id": product_id,
            "sku": data.get("sku") or None,
            "barcode": data.get("barcode"),
            "thumbnail_url": data.get("thumbnail_url") or data.get("image_url"),
            "properties": _properties(data.get("properties")),
            "is_archived": bool(data.get("is_archived", False)),
            **_timestamps(data, now),
        }
        for name in OFFER_NUMBERS:
            record[name] = values.optional_decimal(data.get(name))
        record["price"] = record["price"] or ZERO
        if old is not None:
            self._forget_offer(old)
        self.offers[ident] = record
        if record["sku"]:
            self.offers_by_sku[record["sku"]] = ident
        self.offers_by_product.setdefault(product_id, []).append(ident)
        if data.get("quantity") is not None or data.get("reserve") is not None:
            warehouse_id = int(data.get("warehouse_id") or self.ensure_warehouse())
            self.set_stock(ident, warehouse_id, data.get("quantity"), data.get("reserve"))
        return record

    def _forget_offer(self, offer: Record) -> None:
        if offer["sku"] and self.offers_by_sku.get(offer["sku"]) == offer["id"]:
            del self.offers_by_sku[offer["sku"]]
        siblings = self.offers_by_product.get(offer["product_id"], [])
        if offer["id"] in siblings:
            siblings.remove(offer["id"])

    def rename_sku(self, offer: Record, sku: str | None) -> None:
        if offer["sku"] and self.offers_by_sku.get(offer["sku"]) == offer["id"]:
            del self.offers_by_sku[offer["sku"]]
        offer["sku"] = sku or None
        if sku:
            self.offers_by_sku[sku] = offer["id"]

    def product_offers(self, product_id: int) -> list[Record]:
        return [self.offers[i] for i in self.offers_by_product.get(product_id, [])]

    def has_offers(self, product_id: int) -> bool:
        """KeyCRM's ``has_offers``: the product has real variants (several, or with properties)."""
        offers = self.product_offers(product_id)
        return len(offers) > 1 or any(offer["properties"] for offer in offers)

    def ensure_warehouse(self) -> int:
        first = self.first_id("warehouses")
        return first if first is not None else self.add_warehouse({"name": "Основний склад"})["id"]

    def set_stock(
        self, offer_id: int, warehouse_id: int, quantity: Any, reserve: Any = None
    ) -> None:
        if warehouse_id not in self.warehouses:
            self.add_warehouse({"id": warehouse_id})
        row = self.stocks.setdefault(offer_id, {}).setdefault(
            warehouse_id, {"quantity": ZERO, "reserve": ZERO}
        )
        if quantity is not None:
            row["quantity"] = values.to_decimal(quantity)
        if reserve is not None:
            row["reserve"] = values.to_decimal(reserve)

    def stock_totals(self, offer_id: int) -> tuple[Decimal, Decimal]:
        rows = self.stocks.get(offer_id, {}).values()
        return sum((r["quantity"] for r in rows), ZERO), sum((r["reserve"] for r in rows), ZERO)

    # --- orders ---------------------------------------------------------------------------
    def add_order(self, data: Record) -> Record:
        """A new order from a create-shaped payload (plus, for seeding, ``id``, ``status_id``,
        ``client_id``/``buyer_id``, timestamps, ``tags``, ``expenses``). No deduplication:
        KeyCRM creates a second order for a repeated ``source_uuid``."""
        ident = self._claim("orders", data)
        now = self.now()
        source_id = int(data.get("source_id") or self.default_source_id())
        if source_id not in self.sources:
            raise ValueError(f"order {ident}: unknown source_id {source_id}")
        status_id = int(data.get("status_id") or self.first_status_id())
        if status_id not in self.statuses:
            raise ValueError(f"order {ident}: unknown status_id {status_id}")
        client_id = data.get("client_id") or data.get("buyer_id")
        if client_id is None:
            client_id = self.buyer_for_order(data.get("buyer") or {})
        created_at = _stamp(data, "created_at", now)
        status = self.statuses[status_id]
        order: Record = {
            "id": ident,
            "parent_id": data.get("parent_id"),
            "source_id": source_id,
            "source_uuid": data.get("source_uuid"),
            "status_id": status_id,
            "client_id": int(client_id),
            "manager_id": data.get("manager_id"),
            "buyer_comment": data.get("buyer_comment"),
            "manager_comment": data.get("manager_comment"),
            "promocode": data.get("promocode"),
            "discount_percent": values.optional_decimal(data.get("discount_percent")),
            "discount_amount": values.optional_decimal(data.get("discount_amount")),
            "shipping_price": values.optional_decimal(data.get("shipping_price")) or ZERO,
            "wrap_price": values.optional_decimal(data.get("wrap_price")) or ZERO,
            "taxes": values.optional_decimal(data.get("taxes")) or ZERO,
            "is_gift": bool(data.get("is_gift", False)),
            "gift_wrap": bool(data.get("gift_wrap", False)),
            "gift_message": data.get("gift_message"),
            "created_at": created_at,
            "ordered_at": _stamp(data, "ordered_at", created_at),
            "updated_at": _stamp(data, "updated_at", created_at),
            "status_changed_at": _stamp(data, "status_changed_at", created_at),
            "closed_at": _stamp(
                data, "closed_at", created_at if status["is_closing_order"] else None
            ),
            "last_synced_at": _stamp(data, "last_synced_at", None),
            "lines": [],
            "payments": [],
            "expenses": [],
            "tag_ids": _ids(data.get("tags") or data.get("tag_ids")),
            "assigned_ids": _ids(data.get("assigned") or data.get("assigned_ids")),
            "shipping": self.build_shipping(data.get("shipping") or {}),
            "marketing": self.build_marketing(data.get("marketing"), created_at),
            "custom_fields": self.custom_values(data.get("custom_fields") or []),
        }
        for line in data.get("products") or []:
            order["lines"].append(self.build_line(line, created_at))
        for payment in data.get("payments") or []:
            order["payments"].append(self.build_payment(order, payment, created_at))
        for expense in data.get("expenses") or []:
            order["expenses"].append(self.build_expense(order, expense, created_at))
        self.recompute(order)
        self.orders[ident] = order
        return order

    def build_line(self, data: Record, now: dt.datetime) -> Record:
        """An order line. A ``sku`` (or ``offer_id``) found in the catalogue links the offer and
        fills what the payload leaves out; an unknown sku makes a one-off line."""
        offer = None
        if data.get("offer_id") is not None:
            offer = self.offers.get(int(data["offer_id"]))
        elif data.get("sku") and data["sku"] in self.offers_by_sku:
            offer = self.offers[self.offers_by_sku[data["sku"]]]
        product = self.products.get(offer["product_id"]) if offer else None
        properties = _properties(data.get("properties")) or (offer["properties"] if offer else [])
        name = data.get("name")
        if not name and product:
            suffix = ", ".join(prop["value"] for prop in properties)
            name = f"{product['name']} ({suffix})" if suffix else product["name"]
        price = values.optional_decimal(data.get("price"))
        purchased = values.optional_decimal(data.get("purchased_price"))
        return {
            "id": self._claim("order_lines", data),
            "offer_id": offer["id"] if offer else None,
            "sku": data.get("sku") or (offer["sku"] if offer else None),
            "name": name or data.get("sku") or "Товар",
            "price": price if price is not None else (offer["price"] if offer else ZERO),
            "purchased_price": purchased
            if purchased is not None
            else ((offer["purchased_price"] if offer else None) or ZERO),
            "discount_percent": values.optional_decimal(data.get("discount_percent")),
            "discount_amount": values.optional_decimal(data.get("discount_amount")),
            "quantity": values.optional_decimal(data.get("quantity")) or Decimal(1),
            "unit_type": data.get("unit_type") or (product["unit_type"] if product else None),
            "comment": data.get("comment"),
            "picture": data.get("picture") or (product["thumbnail_url"] if product else None),
            "properties": properties,
            "product_status_id": data.get("product_status_id") or self.first_id("product_statuses"),
            "upsale": bool(data.get("upsale", False)),
            "shipment_type": "warehouse",
            "warehouse_id": self.first_id("warehouses") if offer else None,
            "created_at": now,
            "updated_at": now,
        }

    def build_payment(self, order: Record, data: Record, now: dt.datetime) -> Record:
        method_id = data.get("payment_method_id")
        if method_id is None and data.get("payment_method"):
            name = str(data["payment_method"])
            method_id = (
                self.payment_method_by_name(name) or self.add_payment_method({"name": name})["id"]
            )
        if method_id is None:
            method_id = self.first_id("payment_methods") or self.add_payment_method({})["id"]
        source = self.sources.get(order["source_id"]) or {}
        return {
            "id": self._claim("payments", data),
            "destination_id": order["id"],
            "payment_method_id": int(method_id),
            "amount": values.to_decimal(data.get("amount") or 0),
            "actual_currency": data.get("actual_currency") or source.get("currency_code", "UAH"),
            "transaction_uuid": data.get("transaction_uuid"),
            "description": data.get("description"),
            "status": data.get("status") or "paid",
            "fiscal_result": data.get("fiscal_result"),
            "fiscal_status": data.get("fiscal_status"),  # a live extra (keycrm-api §2)
            "payment_date": _stamp(data, "payment_date", now),
            **_timestamps(data, now),
        }

    def build_expense(self, order: Record, data: Record, now: dt.datetime) -> Record:
        type_id = data.get("expense_type_id")
        if type_id is None and data.get("expense_type"):
            name = str(data["expense_type"])
            type_id = self.expense_type_by_name(name) or self.add_expense_type({"name": name})["id"]
        if type_id is None:
            type_id = self.first_id("expense_types") or self.add_expense_type({})["id"]
        source = self.sources.get(order["source_id"]) or {}
        return {
            "id": self._claim("expenses", data),
            "destination_id": order["id"],
            "expense_type_id": int(type_id),
            "amount": values.to_decimal(data.get("amount") or 0),
            "actual_currency": source.get("currency_code", "UAH"),
            "transaction_uuid": None,
            "description": data.get("description"),
            "status": data.get("status") or "paid",
            "payment_date": _stamp(data, "payment_date", now),
            **_timestamps(data, now),
        }

    def build_shipping(self, data: Record) -> Record:
        shipping: Record = {name: data.get(name) for name in SHIPPING_FIELDS}
        service = data.get("shipping_service")
        if shipping["delivery_service_id"] is None and service:
            shipping["delivery_service_id"] = self.delivery_service_by_name(str(service))
        shipping["shipping_date"] = (
            values.parse_any_datetime(data["shipping_date"]).date()
            if data.get("shipping_date")
            else None
        )
        shipping["shipping_date_actual"] = _stamp(data, "shipping_date_actual", None)
        shipping["last_history"] = data.get("last_history")
        self.refresh_shipping(shipping)
        return shipping

    @staticmethod
    def refresh_shipping(shipping: Record) -> None:
        country = (shipping.get("shipping_address_country") or "").strip().lower()
        shipping["shipping_address_country_code"] = COUNTRY_CODES.get(country)
        parts = (
            shipping.get("shipping_address_region"),
            shipping.get("shipping_address_city"),
            shipping.get("shipping_receive_point"),
        )
        shipping["full_address"] = ", ".join(p for p in parts if p) or None

    def build_marketing(self, data: Record | None, now: dt.datetime) -> Record | None:
        if not data:
            return None
        marketing: Record = {name: data.get(name) for name in MARKETING_FIELDS}
        marketing["created_at"] = now
        marketing["updated_at"] = now
        return marketing

    def recompute(self, order: Record) -> None:
        """Totals, KeyCRM's way as far as the examples show it: line price_sold = price minus
        the per-unit discount (percent and/or amount); grand_total = lines - order discount +
        shipping + wrapping; payment_status compares paid payments with grand_total."""
        products_total = lines_discount = purchase = ZERO
        for line in order["lines"]:
            unit_discount = line["discount_amount"] or ZERO
            if line["discount_percent"]:
                unit_discount += line["price"] * line["discount_percent"] / 100
            unit_discount = min(values.round_money(unit_discount), line["price"])
            line["price_sold"] = line["price"] - unit_discount
            line["total_discount"] = values.round_money(unit_discount * line["quantity"])
            products_total += line["price_sold"] * line["quantity"]
            lines_discount += line["total_discount"]
            purchase += (line["purchased_price"] or ZERO) * line["quantity"]
        order_discount = order["discount_amount"] or ZERO
        if order["discount_percent"]:
            order_discount += products_total * order["discount_percent"] / 100
        order_discount = values.round_money(order_discount)
        grand_total = (
            products_total - order_discount + order["shipping_price"] + order["wrap_price"]
        )
        paid = sum((p["amount"] for p in order["payments"] if p["status"] == "paid"), ZERO)
        expenses = sum((e["amount"] for e in order["expenses"] if e["status"] != "canceled"), ZERO)
        order["products_total"] = values.round_money(products_total)
        order["total_discount"] = values.round_money(lines_discount + order_discount)
        order["grand_total"] = values.round_money(max(grand_total, ZERO))
        order["payments_total"] = values.round_money(paid)
        order["expenses_sum"] = values.round_money(expenses)
        order["margin_sum"] = values.round_money(
            products_total - order_discount - purchase - expenses
        )
        order["payment_status"] = payment_status(order["payments_total"], order["grand_total"])

    # --- order changes that webhooks report -----------------------------------------------
    def change_order_status(self, order: Record, status_id: int) -> bool:
        """Move an order to another status (as a manager in the UI or ``PUT /order`` does).
        Emits ``order.change_order_status``; returns False when the status is the same."""
        if order["status_id"] == status_id:
            return False
        now = self.now()
        status = self.statuses[status_id]
        order["status_id"] = status_id
        order["status_changed_at"] = now
        order["updated_at"] = now
        order["closed_at"] = (order["closed_at"] or now) if status["is_closing_order"] else None
        self.emit("order.change_order_status", order)
        return True

    def order_changed(self, order: Record, payment_status_before: str) -> None:
        """After any edit: recompute, bump ``updated_at`` (what ``updated_between`` polls) and
        report a payment-status change."""
        self.recompute(order)
        order["updated_at"] = self.now()
        if order["payment_status"] != payment_status_before:
            self.emit("order.change_payment_status", order)


def payment_status(paid: Decimal, total: Decimal) -> str:
    if paid <= ZERO:
        return "not_paid"
    if paid < total:
        return "part_paid"
    if paid == total:
        return "paid"
    return "overpaid"
