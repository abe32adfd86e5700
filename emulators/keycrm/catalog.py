"""Catalogue endpoints: products, categories, offers (variants) and stocks."""

from __future__ import annotations

from typing import Any

from emulators.common import Response
from emulators.keycrm import listing, render, values
from emulators.keycrm.api import ApiRequest, Errors, Fields, json_response, not_found
from emulators.keycrm.orders import read_custom_fields
from emulators.keycrm.store import OFFER_NUMBERS, Record, Store
from emulators.keycrm.values import ZERO

PRODUCT_IMPORT_MAX = 100
OFFERS_CREATE_MAX = 100
BULK_MAX = 10000  # the spec's "maximum" on PUT /offers and PUT /offers/stocks
PRODUCT_TEXT = ("description", "currency_code", "sku", "barcode", "unit_type")
CATALOG_SORTS: dict[str, listing.SortKey] = {
    "created_at": lambda r: r["created_at"],
    "updated_at": lambda r: r["updated_at"],
    "name": lambda r: r.get("name") or "",
}
STATUS_TRUE = {"status": True}


# --- products -----------------------------------------------------------------------------
def product_list(store: Store, req: ApiRequest) -> Response:
    filters = req.filters
    records = store.by_id("products")
    if filters.get("product_id", "").strip():
        wanted = listing.id_set(filters["product_id"])
        records = [p for p in records if listing.id_matches(p["id"], wanted)]
    if filters.get("category_id", "").strip():
        categories = listing.id_set(filters["category_id"])
        records = [p for p in records if listing.id_matches(p["category_id"], categories)]
    archived = listing.flag(filters, "is_archived")
    if archived is not None:
        records = [p for p in records if p["is_archived"] is archived]
    ordered = listing.sort_records(req, records, CATALOG_SORTS)
    includes = req.includes()
    return json_response(
        200, listing.paginate(req, ordered, lambda p: render.product(store, p, includes))
    )


def product_get(store: Store, req: ApiRequest) -> Response:
    product = _product(store, req)
    return json_response(200, render.product(store, product, req.includes()))


def _product(store: Store, req: ApiRequest) -> Record:
    ident = req.id_param("product_id")
    product = store.products.get(ident)
    if product is None:
        raise not_found("Product", ident)
    return product


def product_create(store: Store, req: ApiRequest) -> Response:
    """A product without variants, and with it its single offer."""
    errors = Errors()
    payload = _read_product(store, Fields(req.body(), errors), required_name=True, taken=set())
    errors.raise_if_any()
    product = store.add_product(_with_single_offer(payload))
    return json_response(201, render.product(store, product))


def product_import(store: Store, req: ApiRequest) -> Response:
    errors = Errors()
    items = Fields(req.body(), errors).objects(
        "products", required=True, max_items=PRODUCT_IMPORT_MAX
    )
    taken: set[str] = set()
    payloads = [_read_product(store, item, required_name=True, taken=taken) for item in items]
    errors.raise_if_any()
    for payload in payloads:
        store.add_product(_with_single_offer(payload))
    return json_response(201, STATUS_TRUE)


def _read_product(
    store: Store, f: Fields, *, required_name: bool, taken: set[str], own_offer: int | None = None
) -> Record:
    """Validate a product object. ``taken`` collects skus of the same request (an import must not
    repeat one); ``own_offer`` is the offer whose sku may stay the same on update."""
    data: Record = {"name": f.string("name", required=required_name)}
    for name in PRODUCT_TEXT:
        if f.given(name):
            data[name] = f.string(name)
    for name in OFFER_NUMBERS:
        if f.given(name):
            data[name] = f.number(name, minimum=ZERO)
    if f.given("category_id"):
        data["category_id"] = f.exists("category_id", store.categories)
    if f.given("pictures"):
        data["pictures"] = f.strings("pictures")
    sku = data.get("sku")
    if sku:
        owner = store.offers_by_sku.get(sku)
        if (owner is not None and owner != own_offer) or sku in taken:
            f.errors.add(f.key("sku"), f"The {f.key('sku')} has already been taken.")
        taken.add(sku)
    if f.given("custom_fields"):
        data["custom_fields"] = read_custom_fields(store, f, model="crm_product")
    return data


def _with_single_offer(data: Record) -> Record:
    """A created product always gets its single offer, even without sku or price."""
    if data.get("sku") is None and data.get("price") is None:
        return {**data, "price": ZERO}
    return data


def product_update(store: Store, req: ApiRequest) -> Response:
    product = _product(store, req)
    offers = store.product_offers(product["id"])
    single = offers[0] if len(offers) == 1 and not store.has_offers(product["id"]) else None
    errors = Errors()
    payload = _read_product(
        store,
        Fields(req.body(), errors),
        required_name=False,
        taken=set(),
        own_offer=single["id"] if single else None,
    )
    errors.raise_if_any()
    now = store.now()
    for name in ("name", "description", "currency_code", "unit_type", "category_id"):
        if name in payload and (payload[name] is not None or name != "name"):
            product[name] = payload[name]
    if "pictures" in payload:
        product["pictures"] = payload["pictures"] or []
        product["thumbnail_url"] = product["pictures"][0] if product["pictures"] else None
    if "custom_fields" in payload:
        product["custom_fields"].update(store.custom_values(payload["custom_fields"]))
    if single is not None:  # sku, barcode, price and dimensions live on the single offer
        _update_offer(store, single, payload, now)
    product["updated_at"] = now
    return json_response(202, render.product(store, product))


def _update_offer(store: Store, offer: Record, payload: Record, now: Any) -> None:
    if payload.get("sku"):
        store.rename_sku(offer, payload["sku"])
    if "barcode" in payload:
        offer["barcode"] = payload["barcode"]
    for name in OFFER_NUMBERS:
        if payload.get(name) is not None:
            offer[name] = payload[name]
    if payload.get("image_url"):
        offer["thumbnail_url"] = payload["image_url"]
    offer["updated_at"] = now


def product_offers_create(store: Store, req: ApiRequest) -> Response:
    """Adds variants (≤100) with properties to a product."""
    product = _product(store, req)
    errors = Errors()
    items = Fields(req.body(), errors).objects("offers", required=True, max_items=OFFERS_CREATE_MAX)
    taken: set[str] = set()
    payloads = []
    for item in items:
        data: Record = {"sku": item.string("sku"), "barcode": item.string("barcode")}
        for name in OFFER_NUMBERS:
            data[name] = item.number(name, minimum=ZERO)
        data["image_url"] = item.string("image_url")
        data["properties"] = item.array("properties") or []
        sku = data["sku"]
        if sku and (sku in store.offers_by_sku or sku in taken):
            item.errors.add(item.key("sku"), f"The {item.key('sku')} has already been taken.")
        if sku:
            taken.add(sku)
        payloads.append(data)
    errors.raise_if_any()
    for data in payloads:
        store.add_offer({**data, "product_id": product["id"]})
    product["updated_at"] = store.now()
    return json_response(201, STATUS_TRUE)


# --- categories ---------------------------------------------------------------------------
def category_list(store: Store, req: ApiRequest) -> Response:
    records = store.by_id("categories")
    for name, field in (("category_id", "id"), ("parent_id", "parent_id")):
        if req.filters.get(name, "").strip():
            wanted = listing.id_set(req.filters[name])
            records = [c for c in records if listing.id_matches(c[field], wanted)]
    ordered = listing.sort_records(req, records, CATALOG_SORTS)
    return json_response(200, listing.paginate(req, ordered, render.category))


def category_create(store: Store, req: ApiRequest) -> Response:
    """``name`` is what is required (the spec's ``full_name`` is a typo, §10)."""
    errors = Errors()
    f = Fields(req.body(), errors)
    name = f.string("name", required=True)
    parent_id = f.exists("parent_id", store.categories)
    errors.raise_if_any()
    category = store.add_category({"name": name, "parent_id": parent_id})
    return json_response(201, render.category(category))


# --- offers -------------------------------------------------------------------------------
def offer_list(store: Store, req: ApiRequest) -> Response:
    filters = req.filters
    records = _offers_by_id_or_sku(store, filters.get("id", ""), filters.get("sku", ""))
    if filters.get("product_id", "").strip():
        products = listing.id_set(filters["product_id"])
        records = [o for o in records if listing.id_matches(o["product_id"], products)]
    archived = listing.flag(filters, "is_archived")
    if archived is not None:
        records = [o for o in records if _offer_archived(store, o) is archived]
    ordered = listing.sort_records(req, records, CATALOG_SORTS)
    includes = req.includes()
    return json_response(
        200, listing.paginate(req, ordered, lambda o: render.offer(store, o, includes))
    )


def _offers_by_id_or_sku(store: Store, ids: str, skus: str) -> list[Record]:
    """Offers narrowed by id and sku lists through the indexes (no scan of 50,000 offers)."""
    if not ids.strip() and not skus.strip():
        return store.by_id("offers")
    found: dict[int, Record] | None = None
    if ids.strip():
        found = {}
        for text in values.split_list(ids):
            offer = store.offers.get(int(text)) if text.isdigit() else None
            if offer is not None:
                found[offer["id"]] = offer
    if skus.strip():
        by_sku = {}
        for sku in values.split_list(skus):
            ident = store.offers_by_sku.get(sku)
            if ident is not None:
                by_sku[ident] = store.offers[ident]
        found = by_sku if found is None else {k: v for k, v in found.items() if k in by_sku}
    return [found[ident] for ident in sorted(found or {})]


def _offer_archived(store: Store, offer: Record) -> bool:
    product = store.products.get(offer["product_id"])
    return offer["is_archived"] or bool(product and product["is_archived"])


def offers_update(store: Store, req: ApiRequest) -> Response:
    """``PUT /offers``: price, purchase price, weight and dimensions by ``id`` or ``sku``; an
    unknown id or sku fails the whole request with 422."""
    errors = Errors()
    items = Fields(req.body(), errors).objects("offers", required=True, max_items=BULK_MAX)
    changes: list[tuple[Record, Record]] = []
    for item in items:
        offer = _find_offer(store, item)
        data: Record = {name: item.number(name, minimum=ZERO) for name in OFFER_NUMBERS}
        data["image_url"] = item.string("image_url")
        if offer is not None:
            changes.append((offer, data))
    errors.raise_if_any()
    now = store.now()
    for offer, data in changes:
        _update_offer(store, offer, data, now)
        store.products[offer["product_id"]]["updated_at"] = now
    return json_response(202, STATUS_TRUE)


def _find_offer(store: Store, f: Fields) -> Record | None:
    if f.has("id"):
        ident = f.integer("id")
        offer = store.offers.get(ident) if ident is not None else None
        if offer is None and ident is not None:
            f.errors.add(f.key("id"), f"The selected {f.key('id')} is invalid.")
        return offer
    if f.has("sku"):
        sku = f.string("sku") or ""
        ident = store.offers_by_sku.get(sku)
        if ident is None:
            f.errors.add(f.key("sku"), f"The selected {f.key('sku')} is invalid.")
            return None
        return store.offers[ident]
    f.errors.add(
        f.key("id"), f"The {f.key('id')} field is required when {f.key('sku')} is not present."
    )
    return None


# --- stocks -------------------------------------------------------------------------------
def stock_list(store: Store, req: ApiRequest) -> Response:
    """``filter[offers_id|offers_sku|details]``; ``filter[warehouse_id]`` is ignored, as live
    KeyCRM ignores it."""
    filters = req.filters
    records = _offers_by_id_or_sku(
        store, filters.get("offers_id", ""), filters.get("offers_sku", "")
    )
    details = bool(listing.flag(filters, "details"))
    return json_response(
        200,
        listing.paginate(req, records, lambda o: render.offer_stock(store, o, details=details)),
    )


def stocks_update(store: Store, req: ApiRequest) -> Response:
    """``PUT /offers/stocks``: absolute quantities in one warehouse, all or nothing."""
    errors = Errors()
    f = Fields(req.body(), errors)
    warehouse_id = f.exists("warehouse_id", store.warehouses, required=True)
    rows: list[tuple[Record, Any]] = []
    for item in f.objects("stocks", required=True, max_items=BULK_MAX):
        offer = _find_offer(store, item)
        quantity = item.number("quantity", required=True, minimum=ZERO)
        if offer is not None and quantity is not None:
            rows.append((offer, quantity))
    errors.raise_if_any()
    now = store.now()
    for offer, quantity in rows:
        store.set_stock(offer["id"], int(warehouse_id or 0), quantity)
        offer["updated_at"] = now
    return json_response(202, STATUS_TRUE)
