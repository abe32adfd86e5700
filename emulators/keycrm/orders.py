"""Order endpoints: list/get/create/update/import, payments, and the ``/order/<dictionary>`` lists.

Every handler takes the account (``Store``) and the routed request and returns a ``Response``;
it raises ``ApiError`` for 404/422. The emulator calls them under its lock.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from emulators.common import Response
from emulators.keycrm import listing, render, values
from emulators.keycrm.api import ApiRequest, Errors, Fields, json_response, not_found
from emulators.keycrm.store import PAYMENT_STATUSES, SHIPPING_FIELDS, Record, Store
from emulators.keycrm.values import ZERO

ORDER_IMPORT_MAX = 50
MIN_QUANTITY = Decimal("0.001")
ORDER_SORTS: dict[str, listing.SortKey] = {
    "created_at": lambda o: o["created_at"],
    "updated_at": lambda o: o["updated_at"],
    "ordered_at": lambda o: o["ordered_at"],
    "status_changed_at": lambda o: o["status_changed_at"],
}
Check = Callable[[Record], bool]


# --- reading ------------------------------------------------------------------------------
def order_list(store: Store, req: ApiRequest) -> Response:
    checks = _order_checks(store, req.filters)
    matching = store.by_id("orders")
    if checks:
        matching = [o for o in matching if all(check(o) for check in checks)]
    ordered = listing.sort_records(req, matching, ORDER_SORTS)
    includes = req.includes(render.ORDER_INCLUDE_ALIASES)
    return json_response(
        200,
        listing.paginate(req, ordered, lambda o: render.order_with_includes(store, o, includes)),
    )


def order_get(store: Store, req: ApiRequest) -> Response:
    order = _order(store, req)
    includes = req.includes(render.ORDER_INCLUDE_ALIASES)
    return json_response(200, render.order_with_includes(store, order, includes))


def _order(store: Store, req: ApiRequest) -> Record:
    ident = req.id_param("order_id")
    order = store.orders.get(ident)
    if order is None:
        raise not_found("Order", ident)
    return order


def _order_checks(store: Store, filters: dict[str, str]) -> list[Check]:
    """One predicate per ``filter[...]`` given (§1.5). Unknown filters are ignored, as live
    KeyCRM ignores them."""
    checks: list[Check] = []
    for name, field in (("status_id", "status_id"), ("source_id", "source_id")):
        if filters.get(name, "").strip():
            checks.append(_ids_check(field, listing.id_set(filters[name])))
    if filters.get("source_uuid", "").strip():
        uuids = set(values.split_list(filters["source_uuid"]))
        checks.append(lambda o: o["source_uuid"] in uuids)
    if filters.get("buyer_phone", "").strip():
        phones = set(values.split_list(filters["buyer_phone"]))
        clients = {b["id"] for b in store.buyers.values() if phones.intersection(b["phone"])}
        checks.append(lambda o: o["client_id"] in clients)
    if filters.get("buyer_email", "").strip():
        emails = {e.lower() for e in values.split_list(filters["buyer_email"])}
        clients = {
            b["id"]
            for b in store.buyers.values()
            if emails.intersection(x.lower() for x in b["email"])
        }
        checks.append(lambda o: o["client_id"] in clients)
    if filters.get("payment_status", "").strip():
        statuses = set(values.split_list(filters["payment_status"]))
        checks.append(lambda o: o["payment_status"] in statuses)
    tracking = listing.flag(filters, "has_tracking_code")
    if tracking is not None:
        checks.append(lambda o: bool(o["shipping"]["tracking_code"]) is tracking)
    # created_between selects on ordered_at (the date at the source), not created_at.
    for name, read in (
        ("created_between", lambda o: o["ordered_at"]),
        ("updated_between", lambda o: o["updated_at"]),
        ("shipping_between", _shipping_moment),
    ):
        bounds = listing.between(filters, name)
        if bounds is not None:
            checks.append(_range_check(read, bounds))
    return checks


def _ids_check(field: str, wanted: set[str]) -> Check:
    return lambda record: listing.id_matches(record[field], wanted)


def _range_check(read: Callable[[Record], Any], bounds: Any) -> Check:
    return lambda record: listing.in_range(read(record), bounds)


def _shipping_moment(order: Record) -> Any:
    shipping = order["shipping"]
    if shipping["shipping_date_actual"] is not None:
        return shipping["shipping_date_actual"]
    day = shipping["shipping_date"]
    return None if day is None else values.parse_any_datetime(day)


# --- creating -----------------------------------------------------------------------------
def order_create(store: Store, req: ApiRequest) -> Response:
    errors = Errors()
    payload = read_order_payload(store, Fields(req.body(), errors), for_import=False)
    errors.raise_if_any()
    order = store.add_order(payload)
    return json_response(201, render.order_flat(store, order))


def order_import(store: Store, req: ApiRequest) -> Response:
    """Up to 50 orders, all or nothing; 201 with an empty body (no ids come back)."""
    errors = Errors()
    items = Fields(req.body(), errors).objects("orders", required=True, max_items=ORDER_IMPORT_MAX)
    payloads = [read_order_payload(store, item, for_import=True) for item in items]
    errors.raise_if_any()
    for payload in payloads:
        store.add_order(payload)
    return Response(201, b"")


def read_order_payload(store: Store, f: Fields, *, for_import: bool) -> Record:
    """Validate a create-order object (§3.2) and return it normalised for ``Store.add_order``."""
    data: Record = {"source_id": f.exists("source_id", store.sources, required=True)}
    buyer = f.obj("buyer", required=True)
    if buyer is not None:
        data["buyer"] = {name: buyer.string(name) for name in ("full_name", "email", "phone")}
    for name in ("source_uuid", "buyer_comment", "manager_comment", "promocode", "gift_message"):
        data[name] = f.string(name)
    if not for_import:
        data["manager_id"] = f.exists("manager_id", store.users)
    for name in ("discount_percent", "discount_amount", "shipping_price", "wrap_price", "taxes"):
        data[name] = f.number(name, minimum=ZERO)
    data["is_gift"] = bool(f.boolean("is_gift"))
    data["gift_wrap"] = bool(f.boolean("gift_wrap"))
    data["ordered_at"] = f.timestamp("ordered_at")
    data["products"] = [_read_new_line(line) for line in f.objects("products")]
    data["payments"] = [_read_new_payment(store, p) for p in f.objects("payments")]
    shipping = f.obj("shipping")
    if shipping is not None:
        data["shipping"] = _read_shipping(store, shipping, allow_service_name=not for_import)
    marketing = f.obj("marketing")
    if marketing is not None:
        data["marketing"] = {
            name: marketing.string(name)
            for name in ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
        }
    data["custom_fields"] = read_custom_fields(store, f, model="order")
    return data


def _read_new_line(line: Fields) -> Record:
    sku = line.string("sku")
    name = line.string("name")
    if not sku and not name:
        line.errors.add(
            line.key("name"),
            f"The {line.key('name')} field is required when {line.key('sku')} is not present.",
        )
    result: Record = {"sku": sku, "name": name}
    for field in ("price", "purchased_price", "discount_percent", "discount_amount"):
        result[field] = line.number(field, minimum=ZERO)
    result["quantity"] = line.number("quantity", minimum=MIN_QUANTITY)
    for field in ("unit_type", "comment", "picture"):
        result[field] = line.string(field)
    result["properties"] = line.array("properties")
    return result


def _read_new_payment(store: Store, f: Fields) -> Record:
    result: Record = {
        "amount": f.number("amount", required=True, minimum=ZERO),
        "payment_method_id": f.exists("payment_method_id", store.payment_methods),
        "status": f.choice("status", PAYMENT_STATUSES),
        "payment_date": f.timestamp("payment_date"),
        "description": f.string("description"),
    }
    name = f.string("payment_method")
    if result["payment_method_id"] is None and name is not None:
        result["payment_method_id"] = store.payment_method_by_name(name)
        if result["payment_method_id"] is None:
            f.errors.add(
                f.key("payment_method"), f"The selected {f.key('payment_method')} is invalid."
            )
    return result


def _read_shipping(store: Store, f: Fields, *, allow_service_name: bool) -> Record:
    result: Record = {
        "delivery_service_id": f.exists("delivery_service_id", store.delivery_services)
    }
    for name in SHIPPING_FIELDS[1:]:
        if f.given(name):
            result[name] = f.string(name)
    if allow_service_name and f.has("shipping_service") and result["delivery_service_id"] is None:
        service_id = store.delivery_service_by_name(f.string("shipping_service") or "")
        if service_id is None:
            f.errors.add(
                f.key("shipping_service"), f"The selected {f.key('shipping_service')} is invalid."
            )
        result["delivery_service_id"] = service_id
    shipping_date = f.date("shipping_date")
    if shipping_date is not None:
        result["shipping_date"] = shipping_date
    return result


def read_custom_fields(store: Store, f: Fields, *, model: str) -> list[Record]:
    """``custom_fields[]`` as ``{uuid, value}``: a field must exist for this model, named by
    ``uuid`` (or, as live integrators also send, ``id``)."""
    result = []
    for item in f.objects("custom_fields"):
        uuid = item.string("uuid")
        if uuid is None and item.has("id"):
            field = store.custom_fields.get(item.integer("id") or -1)
            uuid = field["uuid"] if field else None
            key = "id"
        else:
            key = "uuid"
        field_id = store.custom_fields_by_uuid.get(uuid or "")
        if field_id is None or store.custom_fields[field_id]["model"] != model:
            item.errors.add(item.key(key), f"The selected {item.key(key)} is invalid.")
            continue
        result.append({"uuid": uuid, "value": item.data.get("value")})
    return result


# --- updating -----------------------------------------------------------------------------
def order_update(store: Store, req: ApiRequest) -> Response:
    """``PUT /order/{id}``: status, comments, discounts, existing lines, shipping, custom
    fields. Validates everything before changing anything."""
    order = _order(store, req)
    errors = Errors()
    f = Fields(req.body(), errors)
    status_id = f.exists("status_id", store.statuses)
    top: Record = {}
    for name in ("buyer_comment", "manager_comment"):
        if f.given(name):
            top[name] = f.string(name)
    for name in ("discount_percent", "discount_amount"):
        if f.given(name):
            top[name] = f.number(name, minimum=ZERO)
    line_changes = [_read_line_change(order, item) for item in f.objects("products")]
    shipping_fields = f.obj("shipping")
    shipping = (
        _read_shipping(store, shipping_fields, allow_service_name=False)
        if shipping_fields
        else None
    )
    if shipping and shipping.get("tracking_code") and order["shipping"]["tracking_code"]:
        errors.add(
            "shipping.tracking_code", "The tracking code has already been set for this order."
        )
    custom = read_custom_fields(store, f, model="order")
    errors.raise_if_any()

    before = order["payment_status"]
    now = store.now()
    order.update(top)
    for line, changes in line_changes:
        if line is not None:
            line.update(changes)
            line["updated_at"] = now
    if shipping is not None:
        _apply_shipping(store, order, shipping)
    order["custom_fields"].update(store.custom_values(custom))
    store.order_changed(order, before)
    if status_id is not None:
        store.change_order_status(order, status_id)
    return json_response(202, render.order_flat(store, order))


def _read_line_change(order: Record, f: Fields) -> tuple[Record | None, Record]:
    """Find an existing line by ``id`` or ``sku`` (new lines cannot be added) and read the
    editable fields; ``name`` only changes on one-off lines."""
    line = None
    if f.has("id"):
        ident = f.integer("id")
        line = next((x for x in order["lines"] if x["id"] == ident), None)
        if line is None:
            f.errors.add(f.key("id"), f"The selected {f.key('id')} is invalid.")
    elif f.has("sku"):
        sku = f.string("sku")
        line = next((x for x in order["lines"] if x["sku"] == sku), None)
        if line is None:
            f.errors.add(f.key("sku"), f"The selected {f.key('sku')} is invalid.")
    else:
        f.errors.add(
            f.key("id"), f"The {f.key('id')} field is required when {f.key('sku')} is not present."
        )
    changes: Record = {}
    for name in ("price", "purchased_price", "discount_amount", "discount_percent"):
        if f.given(name):
            changes[name] = f.number(name, minimum=ZERO)
    if f.has("quantity"):
        changes["quantity"] = f.number("quantity", minimum=MIN_QUANTITY)
    if f.given("comment"):
        changes["comment"] = f.string("comment")
    if f.has("product_status_id"):
        changes["product_status_id"] = f.integer("product_status_id")
    if f.has("name") and line is not None and line["offer_id"] is None:
        changes["name"] = f.string("name")
    # price/quantity must stay numbers: a null there means "not given".
    for name in ("price", "purchased_price", "quantity"):
        if changes.get(name, ZERO) is None:
            del changes[name]
    return line, changes


def _apply_shipping(store: Store, order: Record, changes: Record) -> None:
    shipping = order["shipping"]
    for name, value in changes.items():
        if name == "delivery_service_id" and value is None:
            continue
        shipping[name] = value
    store.refresh_shipping(shipping)


# --- payments -----------------------------------------------------------------------------
def payment_create(store: Store, req: ApiRequest) -> Response:
    order = _order(store, req)
    errors = Errors()
    f = Fields(req.body(), errors)
    payload = _read_new_payment(store, f)
    if (
        payload["payment_method_id"] is None
        and not f.has("payment_method")
        and not f.has("payment_method_id")
    ):
        errors.add(
            "payment_method_id",
            "The payment method id field is required when payment method is not present.",
        )
    errors.raise_if_any()
    before = order["payment_status"]
    payment = store.build_payment(order, payload, store.now())
    order["payments"].append(payment)
    store.order_changed(order, before)
    return json_response(201, render.payment_answer(store, payment))


def payment_update(store: Store, req: ApiRequest) -> Response:
    """Only ``status`` (paid/not_paid/canceled) and ``description`` can change."""
    order = _order(store, req)
    ident = req.id_param("payment_id")
    payment = next((p for p in order["payments"] if p["id"] == ident), None)
    if payment is None:
        raise not_found("Payment", ident)
    errors = Errors()
    f = Fields(req.body(), errors)
    new_status = f.choice("status", PAYMENT_STATUSES)
    description = f.string("description") if f.given("description") else payment["description"]
    errors.raise_if_any()
    before = order["payment_status"]
    payment["status"] = new_status or payment["status"]
    payment["description"] = description
    payment["updated_at"] = store.now()
    store.order_changed(order, before)
    return json_response(202, render.payment_answer(store, payment))


# --- dictionaries -------------------------------------------------------------------------
def dictionary_list(
    kind: str, shape: Callable[[Record], dict[str, Any]]
) -> Callable[[Store, ApiRequest], Response]:
    """A paged ``/order/<dictionary>`` list with ``sort``."""
    sorts: dict[str, listing.SortKey] = {
        "name": lambda r: r.get("name") or "",
        "position": lambda r: r.get("position", 0),
        "created_at": lambda r: r.get("created_at"),
        "updated_at": lambda r: r.get("updated_at"),
    }

    def handler(store: Store, req: ApiRequest) -> Response:
        records = listing.sort_records(req, store.by_id(kind), sorts)
        return json_response(200, listing.paginate(req, records, shape))

    return handler
