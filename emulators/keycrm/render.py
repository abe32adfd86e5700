"""Records as KeyCRM returns them. Relations appear only when included; timestamps use the live
ISO style except ``closed_at``, ``last_synced_at`` and ``payment_date`` (``YYYY-MM-DD HH:MM:SS``).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from emulators.keycrm.store import Record, Store
from emulators.keycrm.values import date_text, iso, money, money_text, number, plain

# Accepted spellings of order includes; anything else is ignored, as KeyCRM ignores it.
ORDER_INCLUDE_ALIASES = {
    "customFields": "custom_fields",
    "shipping.delivery_service": "shipping.deliveryService",
    "shipping.last_history": "shipping.lastHistory",
}


def _dates(record: Record, *names: str) -> dict[str, Any]:
    return {name: iso(record.get(name)) for name in names}


# --- dictionaries -------------------------------------------------------------------------
def status(record: Record) -> dict[str, Any]:
    return {
        **{k: record[k] for k in ("id", "name", "alias", "is_active", "group_id")},
        "is_closing_order": record["is_closing_order"],
        "is_reserved": record["is_reserved"],
        "expiration_period": record["expiration_period"],
        **_dates(record, "created_at", "updated_at", "deleted_at"),
    }


def source(record: Record) -> dict[str, Any]:
    keys = ("id", "name", "alias", "driver", "source_uuid", "source_name", "currency_code")
    return {**{k: record[k] for k in keys}, **_dates(record, "created_at", "updated_at")}


def tag(record: Record) -> dict[str, Any]:
    keys = ("id", "name", "alias", "color")
    return {**{k: record[k] for k in keys}, **_dates(record, "created_at", "updated_at")}


def product_status(record: Record) -> dict[str, Any]:
    keys = ("id", "name", "alias", "position", "is_active", "is_reserved")
    return {**{k: record[k] for k in keys}, **_dates(record, "created_at", "updated_at")}


def plain_record(record: Record) -> dict[str, Any]:
    """Payment methods, delivery services, expense types: no timestamps, shown as stored."""
    return dict(record)


def user(record: Record, *, with_role: bool = False) -> dict[str, Any]:
    keys = ("id", "first_name", "last_name", "full_name", "username", "email", "phone")
    result = {
        **{k: record[k] for k in keys},
        "role_id": record["role_id"],
        "status": record["status"],
        **_dates(record, "created_at", "updated_at", "last_logged_at"),
    }
    if with_role:
        result["role"] = dict(record["role"])
    return result


def category(record: Record) -> dict[str, Any]:
    return {"id": record["id"], "name": record["name"], "parent_id": record["parent_id"]}


def custom_field_definition(record: Record, *, with_options: bool) -> dict[str, Any]:
    keys = ("id", "name", "uuid", "model", "type", "required", "position", "is_multiple")
    result = {k: record[k] for k in keys}
    if with_options:
        result["options"] = [dict(option) for option in record["options"]]
    return result


def custom_field_values(store: Store, stored: dict[str, Any]) -> list[dict[str, Any]]:
    """Only fields that have a value, as KeyCRM includes them."""
    result = []
    for uuid, value in stored.items():
        if value in (None, "", []):
            continue
        field = store.custom_fields.get(store.custom_fields_by_uuid.get(uuid, -1))
        result.append(
            {
                "id": field["id"] if field else None,
                "uuid": uuid,
                "name": field["name"] if field else uuid,
                "type": field["type"] if field else "text",
                "value": value,
            }
        )
    return result


# --- orders -------------------------------------------------------------------------------
def order_flat(store: Store, order: Record) -> dict[str, Any]:
    """The ``Order`` schema plus the flat extras live KeyCRM returns."""
    group = store.statuses.get(order["status_id"], {}).get("group_id")
    return {
        "id": order["id"],
        "parent_id": order["parent_id"],
        "source_uuid": order["source_uuid"],
        "source_id": order["source_id"],
        "status_id": order["status_id"],
        "status_group_id": group,
        "grand_total": money(order["grand_total"]),
        "promocode": order["promocode"],
        "total_discount": money(order["total_discount"]),
        "expenses_sum": money(order["expenses_sum"]),
        "shipping_price": money(order["shipping_price"]),
        "wrap_price": money(order["wrap_price"]),
        "taxes": money(order["taxes"]),
        "manager_comment": order["manager_comment"],
        "buyer_comment": order["buyer_comment"],
        "gift_message": order["gift_message"],
        "is_gift": order["is_gift"],
        "payment_status": order["payment_status"],
        "last_synced_at": plain(order["last_synced_at"]),
        "created_at": iso(order["created_at"]),
        "ordered_at": iso(order["ordered_at"]),
        "updated_at": iso(order["updated_at"]),
        "closed_at": plain(order["closed_at"]),
        "products_total": money(order["products_total"]),
        "payments_total": money(order["payments_total"]),
        "margin_sum": money(order["margin_sum"]),
        "discount_amount": money(order["discount_amount"]),
        "discount_percent": number(order["discount_percent"]),
        "client_id": order["client_id"],
        "manager_id": order["manager_id"],
        "status_changed_at": iso(order["status_changed_at"]),
    }


def order_with_includes(store: Store, order: Record, includes: Collection[str]) -> dict[str, Any]:
    result = order_flat(store, order)
    if "buyer" in includes:
        buyer_record = store.buyers.get(order["client_id"])
        result["buyer"] = buyer_short(buyer_record) if buyer_record else None
    if "products" in includes:
        with_offer = "products.offer" in includes
        result["products"] = [
            order_line(store, line, with_offer=with_offer) for line in order["lines"]
        ]
    if "manager" in includes:
        manager = store.users.get(order["manager_id"] or -1)
        result["manager"] = user(manager) if manager else None
    if "assigned" in includes:
        result["assigned"] = [
            user(store.users[i], with_role=True) for i in order["assigned_ids"] if i in store.users
        ]
    if "status" in includes:
        result["status"] = status(store.statuses[order["status_id"]])
    if "tags" in includes:
        result["tags"] = [tag(store.tags[i]) for i in order["tag_ids"] if i in store.tags]
    if "marketing" in includes:
        marketing = order["marketing"]
        result["marketing"] = (
            None
            if marketing is None
            else {
                **{k: v for k, v in marketing.items() if k.startswith("utm_")},
                **_dates(marketing, "created_at", "updated_at"),
            }
        )
    if "payments" in includes:
        result["payments"] = [payment_full(p) for p in order["payments"]]
    if "expenses" in includes:
        result["expenses"] = [expense_full(e) for e in order["expenses"]]
    if "shipping" in includes:
        result["shipping"] = shipping(store, order["shipping"], includes)
    if "custom_fields" in includes:
        result["custom_fields"] = custom_field_values(store, order["custom_fields"])
    return result


def buyer_short(record: Record) -> dict[str, Any]:
    """The buyer as an order (or company) includes it: single e-mail and phone strings."""
    return {
        "id": record["id"],
        "full_name": record["full_name"],
        "email": record["email"][0] if record["email"] else None,
        "phone": record["phone"][0] if record["phone"] else None,
        "company_id": record["company_id"],
        "manager_id": record["manager_id"],
    }


def order_line(store: Store, line: Record, *, with_offer: bool) -> dict[str, Any]:
    result: dict[str, Any] = {
        "id": line["id"],
        "name": line["name"],
        "sku": line["sku"],
        "price": money(line["price"]),
        "price_sold": money(line["price_sold"]),
        "purchased_price": money(line["purchased_price"]),
        "discount_percent": number(line["discount_percent"]),
        "discount_amount": money(line["discount_amount"]),
        "total_discount": money(line["total_discount"]),
        "quantity": number(line["quantity"]),
        "unit_type": line["unit_type"],
        "upsale": line["upsale"],
        "comment": line["comment"],
        "product_status_id": line["product_status_id"],
        "picture": line["picture"],
        "properties": [dict(p) for p in line["properties"]],
        "shipment_type": line["shipment_type"],
        "created_at": iso(line["created_at"]),
        "updated_at": iso(line["updated_at"]),
    }
    warehouse = store.warehouses.get(line["warehouse_id"] or -1)
    if warehouse is not None:
        result["warehouse"] = dict(warehouse)
    if with_offer:
        offer_record = store.offers.get(line["offer_id"] or -1)
        result["offer"] = offer_in_line(store, offer_record) if offer_record else None
    return result


def offer_in_line(store: Store, record: Record) -> dict[str, Any]:
    quantity, _ = store.stock_totals(record["id"])
    return {
        "id": record["id"],
        "product_id": record["product_id"],
        "sku": record["sku"],
        "barcode": record["barcode"],
        "price": money(record["price"]),
        # Unset numbers show as 0: the spec types them as plain numbers.
        "purchased_price": money(record["purchased_price"] or 0),
        "quantity": number(quantity),
        "weight": number(record["weight"] or 0),
        "length": number(record["length"] or 0),
        "width": number(record["width"] or 0),
        "height": number(record["height"] or 0),
        "properties": [dict(p) for p in record["properties"]],
    }


def payment_full(record: Record) -> dict[str, Any]:
    """A payment as ``include=payments`` shows it (with its id)."""
    return {
        "id": record["id"],
        "destination_id": record["destination_id"],
        "payment_method_id": record["payment_method_id"],
        "amount": money(record["amount"]),
        "actual_currency": record["actual_currency"],
        "transaction_uuid": record["transaction_uuid"],
        "description": record["description"],
        "status": record["status"],
        "fiscal_result": record["fiscal_result"],
        "fiscal_status": record.get("fiscal_status"),
        "payment_date": plain(record["payment_date"]),
        "created_at": iso(record["created_at"]),
        "updated_at": iso(record["updated_at"]),
    }


def payment_answer(store: Store, record: Record) -> dict[str, Any]:
    """The ``Payment`` schema that ``POST``/``PUT`` answer with: no id, as the spec has none."""
    method = store.payment_methods.get(record["payment_method_id"])
    return {
        "payment_method_id": record["payment_method_id"],
        "payment_method": dict(method) if method else None,
        "amount": money(record["amount"]),
        "description": record["description"],
        "payment_date": plain(record["payment_date"]),
        "status": record["status"],
        "created_at": iso(record["created_at"]),
        "updated_at": iso(record["updated_at"]),
    }


def expense_full(record: Record) -> dict[str, Any]:
    return {
        "id": record["id"],
        "destination_id": record["destination_id"],
        "expense_type_id": record["expense_type_id"],
        "amount": money(record["amount"]),
        "actual_currency": record["actual_currency"],
        "transaction_uuid": record["transaction_uuid"],
        "description": record["description"],
        "status": record["status"],
        "payment_date": plain(record["payment_date"]),
        "created_at": iso(record["created_at"]),
        "updated_at": iso(record["updated_at"]),
    }


def shipping(store: Store, record: Record, includes: Collection[str]) -> dict[str, Any]:
    result = {
        "delivery_service_id": record["delivery_service_id"],
        "tracking_code": record["tracking_code"],
        "shipping_status": record["shipping_status"],
        "shipping_address_city": record["shipping_address_city"],
        "shipping_address_country": record["shipping_address_country"],
        "shipping_address_country_code": record["shipping_address_country_code"],
        "shipping_address_region": record["shipping_address_region"],
        "shipping_address_zip": record["shipping_address_zip"],
        "shipping_secondary_line": record["shipping_secondary_line"],
        "shipping_receive_point": record["shipping_receive_point"],
        "recipient_full_name": record["recipient_full_name"],
        "recipient_phone": record["recipient_phone"],
        "shipping_date_actual": iso(record["shipping_date_actual"]),
        "shipping_date": date_text(record["shipping_date"]),
        "full_address": record["full_address"],
        "address_payload": {"warehouse_ref": record["warehouse_ref"]}
        if record["warehouse_ref"]
        else None,
    }
    if "shipping.deliveryService" in includes:
        service = store.delivery_services.get(record["delivery_service_id"] or -1)
        result["delivery_service"] = dict(service) if service else None
    if "shipping.lastHistory" in includes:
        result["last_history"] = record["last_history"]
    return result


def webhook_context(store: Store, order: Record) -> dict[str, Any]:
    """The order's database row as a webhook carries it (§4.1): raw column names
    (``client_id``, ``client_comment``), DECIMAL columns as strings, no relations."""
    group = store.statuses.get(order["status_id"], {}).get("group_id")
    return {
        "id": order["id"],
        "parent_id": order["parent_id"],
        "source_id": order["source_id"],
        "source_uuid": order["source_uuid"],
        "global_source_uuid": None,
        "status_on_source": None,
        "client_id": order["client_id"],
        "manager_id": order["manager_id"],
        "register_id": None,
        "shipping_type_id": None,
        "status_id": order["status_id"],
        "status_group_id": group,
        "status_changed_at": iso(order["status_changed_at"]),
        "status_expired_at": None,
        "closed_from": None,
        "is_expired": False,
        "grand_total": money(order["grand_total"]),
        "total_discount": money(order["total_discount"]),
        "margin_sum": money(order["margin_sum"]),
        "expenses_sum": money(order["expenses_sum"]),
        "discount_amount": money_text(order["discount_amount"]),
        "discount_percent": money_text(order["discount_percent"]),
        "shipping_price": money_text(order["shipping_price"]),
        "taxes": money_text(order["taxes"]),
        "wrap_price": money_text(order["wrap_price"]),
        "payments_total": money(order["payments_total"]),
        "payment_status": order["payment_status"],
        "fiscal_result": [],
        "fiscal_status": None,
        "manager_comment": order["manager_comment"],
        "client_comment": order["buyer_comment"],
        "is_gift": order["is_gift"],
        "gift_wrap": order["gift_wrap"],
        "gift_message": order["gift_message"],
        "promocode": order["promocode"],
        "has_reserves": bool(store.statuses.get(order["status_id"], {}).get("is_reserved")),
        "last_synced_at": plain(order["last_synced_at"]),
        "created_at": iso(order["created_at"]),
        "updated_at": iso(order["updated_at"]),
        "closed_at": plain(order["closed_at"]),
        "deleted_at": None,
        "ordered_at": iso(order["ordered_at"]),
        "source_updated_at": None,
    }


# --- buyers and companies -----------------------------------------------------------------
def buyer(store: Store, record: Record, includes: Collection[str]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "id": record["id"],
        "full_name": record["full_name"],
        "birthday": date_text(record["birthday"]),
        "email": list(record["email"]),
        "phone": list(record["phone"]),
        "note": record["note"],
        "discount": number(record["discount"]),
        "company_id": record["company_id"],
        "manager_id": record["manager_id"],
        "created_at": iso(record["created_at"]),
        "updated_at": iso(record["updated_at"]),
    }
    if "company" in includes:
        company_record = store.companies.get(record["company_id"] or -1)
        result["company"] = company_in_buyer(company_record) if company_record else None
    if "manager" in includes:
        manager = store.users.get(record["manager_id"] or -1)
        result["manager"] = user(manager) if manager else None
    if "shipping" in includes:
        result["shipping"] = [dict(address) for address in record["shipping"]]
    if "loyalty" in includes:
        result["loyalty"] = [dict(item) for item in record["loyalty"]]
    if "custom_fields" in includes:
        result["custom_fields"] = custom_field_values(store, record["custom_fields"])
    return result


def company_in_buyer(record: Record) -> dict[str, Any]:
    """``BuyerWithIncludes.company`` uses its own field names (``banking_detailse`` sic)."""
    return {
        "id": record["id"],
        "name": record["name"],
        "full_name": record["title"],
        "address": None,
        "banking_detailse": record["bank_account"],
        "note": record["notes"],
        "created_at": iso(record["created_at"]),
        "updated_at": iso(record["updated_at"]),
    }


def company(store: Store, record: Record, includes: Collection[str]) -> dict[str, Any]:
    keys = ("id", "name", "title", "notes", "bank_account", "manager_id")
    result: dict[str, Any] = {
        **{k: record[k] for k in keys},
        "created_at": iso(record["created_at"]),
        "updated_at": iso(record["updated_at"]),
    }
    if "manager" in includes:
        manager = store.users.get(record["manager_id"] or -1)
        result["manager"] = user(manager) if manager else None
    if "buyer" in includes:
        first = next((store.buyers[i] for i in record["buyer_ids"] if i in store.buyers), None)
        result["buyer"] = buyer_short(first) if first else None
    if "custom_fields" in includes:
        result["custom_fields"] = custom_field_values(store, record["custom_fields"])
    return result


# --- catalogue ----------------------------------------------------------------------------
def product(store: Store, record: Record, includes: Collection[str] = ()) -> dict[str, Any]:
    offers = store.product_offers(record["id"])
    has_offers = store.has_offers(record["id"])
    prices = [o["price"] for o in offers]
    quantity = sum((store.stock_totals(o["id"])[0] for o in offers), 0)
    result: dict[str, Any] = {
        "id": record["id"],
        "name": record["name"],
        "description": record["description"],
        "thumbnail_url": record["thumbnail_url"],
        "attachments_data": list(record["pictures"]),
        "quantity": number(quantity),
        "unit_type": record["unit_type"],
        "currency_code": record["currency_code"],
        "min_price": money(min(prices)) if prices else 0,
        "max_price": money(max(prices)) if prices else 0,
        "has_offers": has_offers,
        "is_archived": record["is_archived"],
        "category_id": record["category_id"],
        "created_at": iso(record["created_at"]),
        "updated_at": iso(record["updated_at"]),
    }
    # sku, barcode, price and dimensions belong to the product only without variants.
    if not has_offers and offers:
        single = offers[0]
        result.update(
            {
                "sku": single["sku"],
                "barcode": single["barcode"],
                "price": money(single["price"]),
                "purchased_price": money(single["purchased_price"] or 0),
                "weight": number(single["weight"] or 0),
                "length": number(single["length"] or 0),
                "width": number(single["width"] or 0),
                "height": number(single["height"] or 0),
            }
        )
    if "custom_fields" in includes:
        result["custom_fields"] = custom_field_values(store, record["custom_fields"])
    return result


def product_in_offer(store: Store, record: Record) -> dict[str, Any]:
    """``ProductOffer``: the product plus ``properties_agg`` (values of each property)."""
    result = product(store, record)
    aggregate: dict[str, list[str]] = {}
    for offer_record in store.product_offers(record["id"]):
        for prop in offer_record["properties"]:
            seen = aggregate.setdefault(prop["name"], [])
            if prop["value"] not in seen:
                seen.append(prop["value"])
    result["properties_agg"] = aggregate
    return result


def offer(store: Store, record: Record, includes: Collection[str]) -> dict[str, Any]:
    quantity, reserve = store.stock_totals(record["id"])
    parent = store.products.get(record["product_id"])
    result = {
        **offer_in_line(store, record),
        "thumbnail_url": record["thumbnail_url"],
        "in_reserve": number(reserve),
        "is_archived": record["is_archived"] or bool(parent and parent["is_archived"]),
        "created_at": iso(record["created_at"]),
        "updated_at": iso(record["updated_at"]),
    }
    result["quantity"] = number(quantity)
    if "product" in includes and parent is not None:
        result["product"] = product_in_offer(store, parent)
    return result


def offer_stock(store: Store, record: Record, *, details: bool) -> dict[str, Any]:
    quantity, reserve = store.stock_totals(record["id"])
    result: dict[str, Any] = {
        "id": record["id"],
        "sku": record["sku"],
        "price": money(record["price"]),
        "purchased_price": money(record["purchased_price"] or 0),
        "quantity": number(quantity),
        "reserve": number(reserve),
    }
    if details:
        result["warehouse"] = [
            {
                "id": warehouse_id,
                "name": store.warehouses.get(warehouse_id, {}).get("name"),
                "quantity": number(row["quantity"]),
                "reserve": number(row["reserve"]),
            }
            for warehouse_id, row in sorted(store.stocks.get(record["id"], {}).items())
        ]
    return result
