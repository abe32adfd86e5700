"""Buyers (clients), companies, users and custom-field definitions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emulators.common import Response
from emulators.keycrm import listing, render, values
from emulators.keycrm.api import ApiRequest, Errors, Fields, json_response, not_found
from emulators.keycrm.orders import read_custom_fields
from emulators.keycrm.store import Record, Store
from emulators.keycrm.values import ZERO

BUYER_ADDRESS_FIELDS = (
    "address",
    "additional_address",
    "city",
    "region",
    "zip_code",
    "country",
    "recipient_full_name",
    "recipient_phone",
    "warehouse_ref",
    "shipping_service",
)
DATED_SORTS: dict[str, listing.SortKey] = {
    "created_at": lambda r: r["created_at"],
    "updated_at": lambda r: r["updated_at"],
}
Check = Callable[[Record], bool]


def _dated_checks(filters: dict[str, str], id_filter: str) -> list[Check]:
    checks: list[Check] = []
    if filters.get(id_filter, "").strip():
        wanted = listing.id_set(filters[id_filter])
        checks.append(lambda r: listing.id_matches(r["id"], wanted))
    for name, field in (("created_between", "created_at"), ("updated_between", "updated_at")):
        bounds = listing.between(filters, name)
        if bounds is not None:
            checks.append(_range_check(field, bounds))
    return checks


def _range_check(field: str, bounds: Any) -> Check:
    return lambda record: listing.in_range(record[field], bounds)


def _select(records: list[Record], checks: list[Check]) -> list[Record]:
    return [r for r in records if all(check(r) for check in checks)] if checks else records


# --- buyers -------------------------------------------------------------------------------
def buyer_list(store: Store, req: ApiRequest) -> Response:
    checks = _dated_checks(req.filters, "buyer_id")
    if req.filters.get("buyer_phone", "").strip():
        phones = set(values.split_list(req.filters["buyer_phone"]))  # exact stored string
        checks.append(lambda b: bool(phones.intersection(b["phone"])))
    if req.filters.get("buyer_email", "").strip():
        emails = {e.lower() for e in values.split_list(req.filters["buyer_email"])}
        checks.append(lambda b: bool(emails.intersection(x.lower() for x in b["email"])))
    ordered = listing.sort_records(req, _select(store.by_id("buyers"), checks), DATED_SORTS)
    includes = req.includes()
    return json_response(
        200, listing.paginate(req, ordered, lambda b: render.buyer(store, b, includes))
    )


def buyer_get(store: Store, req: ApiRequest) -> Response:
    return json_response(200, render.buyer(store, _buyer(store, req), req.includes()))


def _buyer(store: Store, req: ApiRequest) -> Record:
    ident = req.id_param("buyer_id")
    buyer = store.buyers.get(ident)
    if buyer is None:
        raise not_found("Client", ident)
    return buyer


def buyer_create(store: Store, req: ApiRequest) -> Response:
    errors = Errors()
    payload = _read_buyer(store, Fields(req.body(), errors))
    errors.raise_if_any()
    buyer = store.add_buyer(payload)
    return json_response(201, render.buyer(store, buyer, ()))


def buyer_update(store: Store, req: ApiRequest) -> Response:
    """Fields given replace the stored ones; ``full_name`` is required here too (the spec)."""
    buyer = _buyer(store, req)
    errors = Errors()
    payload = _read_buyer(store, Fields(req.body(), errors))
    errors.raise_if_any()
    previous = {"phone": list(buyer["phone"]), "email": list(buyer["email"])}
    for name in ("full_name", "note", "manager_id", "birthday", "discount"):
        if name in payload:
            buyer[name] = payload[name]
    for name in ("phone", "email", "shipping"):
        if name in payload:
            buyer[name] = payload[name] or []
    if "custom_fields" in payload:
        buyer["custom_fields"].update(store.custom_values(payload["custom_fields"]))
    if payload.get("company_id") is not None:
        store.link_buyers(store.companies[payload["company_id"]], [buyer["id"]])
    buyer["updated_at"] = store.now()
    store.index_buyer(buyer, forget={"id": buyer["id"], **previous})
    return json_response(202, render.buyer(store, buyer, ()))


def _read_buyer(store: Store, f: Fields) -> Record:
    data: Record = {"full_name": f.string("full_name", required=True)}
    for name in ("phone", "email"):
        if f.given(name):
            data[name] = f.strings(name)
    for index, email in enumerate(data.get("email") or []):
        if "@" not in email:
            f.errors.add(
                f"{f.key('email')}.{index}", f"The email.{index} must be a valid email address."
            )
    if f.given("birthday"):
        data["birthday"] = f.date("birthday")
    if f.given("note"):
        data["note"] = f.string("note")
    if f.given("discount"):
        data["discount"] = f.number("discount", minimum=ZERO)
    if f.given("company_id"):
        data["company_id"] = f.exists("company_id", store.companies)
    if f.given("manager_id"):
        data["manager_id"] = f.exists("manager_id", store.users)
    if f.given("shipping"):
        data["shipping"] = [
            {name: item.string(name) for name in BUYER_ADDRESS_FIELDS}
            for item in f.objects("shipping")
        ]
    if f.given("custom_fields"):
        data["custom_fields"] = read_custom_fields(store, f, model="client")
    return data


# --- companies ----------------------------------------------------------------------------
def company_list(store: Store, req: ApiRequest) -> Response:
    checks = _dated_checks(req.filters, "company_id")
    ordered = listing.sort_records(req, _select(store.by_id("companies"), checks), DATED_SORTS)
    includes = req.includes()
    return json_response(
        200, listing.paginate(req, ordered, lambda c: render.company(store, c, includes))
    )


def company_get(store: Store, req: ApiRequest) -> Response:
    return json_response(200, render.company(store, _company(store, req), req.includes()))


def _company(store: Store, req: ApiRequest) -> Record:
    ident = req.id_param("company_id")
    company = store.companies.get(ident)
    if company is None:
        raise not_found("Company", ident)
    return company


def company_create(store: Store, req: ApiRequest) -> Response:
    errors = Errors()
    payload = _read_company(store, Fields(req.body(), errors))
    errors.raise_if_any()
    company = store.add_company(payload)
    return json_response(201, render.company(store, company, ("custom_fields",)))


def company_update(store: Store, req: ApiRequest) -> Response:
    """Answers 200, not 202: the spec says so for this one update."""
    company = _company(store, req)
    errors = Errors()
    payload = _read_company(store, Fields(req.body(), errors))
    errors.raise_if_any()
    for name in ("name", "title", "notes", "bank_account", "manager_id"):
        if name in payload:
            company[name] = payload[name]
    if "custom_fields" in payload:
        company["custom_fields"].update(store.custom_values(payload["custom_fields"]))
    store.link_buyers(company, payload.get("buyer_id") or [])
    company["updated_at"] = store.now()
    return json_response(200, render.company(store, company, ("custom_fields",)))


def _read_company(store: Store, f: Fields) -> Record:
    data: Record = {"name": f.string("name", required=True)}
    for name in ("title", "notes", "bank_account"):
        if f.given(name):
            data[name] = f.string(name)
    if f.given("manager_id"):
        data["manager_id"] = f.exists("manager_id", store.users)
    buyer_ids = []
    for index, raw in enumerate(f.strings("buyer_id") or []):
        if raw.isdigit() and int(raw) in store.buyers:
            buyer_ids.append(int(raw))
        else:
            f.errors.add(
                f"{f.key('buyer_id')}.{index}", f"The selected buyer_id.{index} is invalid."
            )
    data["buyer_id"] = buyer_ids
    if f.given("custom_fields"):
        data["custom_fields"] = read_custom_fields(store, f, model="company")
    return data


# --- users and custom fields --------------------------------------------------------------
def user_list(store: Store, req: ApiRequest) -> Response:
    filters = req.filters
    checks = _dated_checks(filters, "id")
    for name in ("role_id",):
        if filters.get(name, "").strip():
            wanted = listing.id_set(filters[name])
            checks.append(lambda u, w=wanted: listing.id_matches(u["role_id"], w))
    for name in ("full_name", "status", "email", "phone"):
        if filters.get(name, "").strip():
            checks.append(_text_check(name, filters[name].strip()))
    bounds = listing.between(filters, "last_logged_between")
    if bounds is not None:
        checks.append(_range_check("last_logged_at", bounds))
    ordered = listing.sort_records(req, _select(store.by_id("users"), checks), DATED_SORTS)
    return json_response(200, listing.paginate(req, ordered, render.user))


def _text_check(field: str, wanted: str) -> Check:
    return lambda record: (record.get(field) or "").lower() == wanted.lower()


def custom_field_list(store: Store, req: ApiRequest) -> Response:
    """A plain JSON array, not the paginated envelope."""
    records = store.by_id("custom_fields")
    if req.filters.get("model", "").strip():
        models = set(values.split_list(req.filters["model"]))
        records = [r for r in records if r["model"] in models]
    ordered = listing.sort_records(req, records, {"position": lambda r: r["position"]})
    with_options = "options" in req.includes()
    return json_response(
        200, [render.custom_field_definition(r, with_options=with_options) for r in ordered]
    )
