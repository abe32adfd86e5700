"""The KeyCRM emulator, driven over real HTTP with ``requests`` as any client would drive it.

Each test starts from a reset emulator holding the demo account (20 orders, 30 products, ...),
with a fixed clock where time matters.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from emulators.common import EmulatorServer
from emulators.keycrm import KeyCrmEmulator
from tests.contract.openapi import Contract, spec_path

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
ALL_ORDER_INCLUDES = (
    "buyer,products.offer,manager,tags,status,marketing,payments,shipping.lastHistory,"
    "shipping.deliveryService,expenses,custom_fields,assigned"
)
RELATIONS = (
    "buyer",
    "products",
    "manager",
    "status",
    "payments",
    "shipping",
    "custom_fields",
    "marketing",
    "tags",
    "expenses",
    "assigned",
)


class Clock:
    """Real time unless a test freezes it."""

    def __init__(self) -> None:
        self.frozen: dt.datetime | None = None

    def __call__(self) -> dt.datetime:
        return self.frozen or dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def server(clock: Clock) -> Iterator[EmulatorServer]:
    # A generous rate limit: only the rate-limit tests want to meet it.
    emulator = KeyCrmEmulator(rate_limit=10_000, webhook_retry_delay=0.05, clock=clock)
    server = EmulatorServer(emulator).start()
    yield server
    server.stop()


@pytest.fixture
def emu(server: EmulatorServer, clock: Clock) -> KeyCrmEmulator:
    clock.frozen = None
    assert requests.post(f"{server.url}/__emulator__/reset", timeout=5).json() == {"reset": True}
    emulator = server.emulator
    assert isinstance(emulator, KeyCrmEmulator)
    emulator.seed_demo()
    return emulator


@pytest.fixture
def api(server: EmulatorServer, emu: KeyCrmEmulator) -> Api:
    return Api(server.url)


class Api:
    def __init__(self, root: str) -> None:
        self.root = root
        self.base = f"{root}/v1"

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {**AUTH, **kwargs.pop("headers", {})}
        return requests.request(method, self.base + path, headers=headers, timeout=10, **kwargs)

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.call("GET", path, params=params)

    def ids(self, path: str, **params: Any) -> list[int]:
        response = self.get(path, limit=50, **params)
        assert response.status_code == 200, response.text
        return [row["id"] for row in response.json()["data"]]

    def control(self, verb: str, body: Any = None, method: str = "POST") -> requests.Response:
        return requests.request(method, f"{self.root}/__emulator__/{verb}", json=body, timeout=10)


def _state(api: Api) -> dict[str, Any]:
    return api.control("state", method="GET").json()


# --- OpenAPI conformance ------------------------------------------------------------------
@pytest.fixture(scope="module")
def contract() -> Contract:
    """The team's checker (tests/contract/openapi.py): the document's known defects corrected,
    nulls tolerated in answers."""
    spec = spec_path()
    if not spec.is_file():
        pytest.skip(f"KeyCRM OpenAPI document not found at {spec}; set KEYCRM_OPENAPI_SPEC")
    return Contract(spec)


def _errors(contract: Contract, response: requests.Response) -> list[str]:
    request = response.request
    path, _, query = request.path_url.partition("?")
    body = request.body or b""
    return contract.check_request(request.method, path, query,
                                  body.encode() if isinstance(body, str) else body) + \
        contract.check_response(request.method, path, response.status_code,
                                response.headers.get("Content-Type", ""), response.content)


def test_every_read_validates_against_the_vendor_schema(api: Api, contract: Contract) -> None:
    reads = [
        ("/order", {"include": ALL_ORDER_INCLUDES, "limit": 50}),
        ("/order/4", {"include": ALL_ORDER_INCLUDES}),
        ("/order/status", {}),
        ("/order/source", {}),
        ("/order/payment-method", {}),
        ("/order/delivery-service", {}),
        ("/order/tag", {}),
        ("/order/expense-type", {}),
        ("/order/product-status", {}),
        ("/buyer", {"include": "manager,shipping,company,loyalty,custom_fields", "limit": 50}),
        ("/buyer/5", {"include": "company,custom_fields"}),
        ("/companies", {"include": "manager,buyer,custom_fields"}),
        ("/companies/1", {}),
        ("/products", {"include": "custom_fields", "limit": 50}),
        ("/products/20", {}),
        ("/products/categories", {"limit": 50}),
        ("/offers", {"include": "product", "limit": 50}),
        ("/offers/stocks", {"filter[details]": "true", "limit": 50}),
        ("/custom-fields", {"include": "options"}),
        ("/users", {}),
    ]
    problems = []
    for path, params in reads:
        response = api.get(path, **params)
        assert response.status_code == 200, (path, response.text)
        problems += _errors(contract, response)
    assert problems == []


def test_every_write_answer_validates_against_the_vendor_schema(
    api: Api, contract: Contract
) -> None:
    writes = [
        (
            "POST",
            "/order",
            {
                "source_id": 1,
                "buyer": {"full_name": "Х"},
                "products": [{"sku": "FAB-POP", "quantity": 2}],
            },
            201,
        ),
        ("PUT", "/order/1", {"status_id": 2, "manager_comment": "ok"}, 202),
        ("POST", "/order/1/payment", {"payment_method_id": 2, "amount": 100}, 201),
        ("POST", "/buyer", {"full_name": "Y", "phone": ["+380501112299"]}, 201),
        ("PUT", "/buyer/1", {"full_name": "Олена Коваль"}, 202),
        ("POST", "/companies", {"name": "ТОВ «Тест»"}, 201),
        ("PUT", "/companies/1", {"name": "ТОВ «Тест 2»"}, 200),
        ("POST", "/products", {"name": "Новий", "sku": "NEW-1", "price": 10}, 201),
        ("PUT", "/products/20", {"price": 222}, 202),
        ("POST", "/products/categories", {"name": "Нова", "parent_id": 1}, 201),
        ("PUT", "/offers", {"offers": [{"sku": "NEW-1", "price": 11}]}, 202),
        (
            "PUT",
            "/offers/stocks",
            {"warehouse_id": 1, "stocks": [{"sku": "NEW-1", "quantity": 5}]},
            202,
        ),
        ("POST", "/products/20/offers", {"offers": [{"sku": "NEW-2", "price": 5}]}, 201),
        ("POST", "/products/import", {"products": [{"name": "Імпорт", "sku": "IMP-1"}]}, 201),
    ]
    problems = []
    for method, path, body, status in writes:
        response = api.call(method, path, json=body)
        assert response.status_code == status, (path, response.text)
        problems += _errors(contract, response)
    assert problems == []


# --- auth, routing ------------------------------------------------------------------------
def test_missing_or_wrong_key_is_401_and_not_counted(api: Api, emu: KeyCrmEmulator) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"}):
        response = requests.get(f"{api.base}/order", headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.json() == {"message": "Unauthenticated."}
    assert emu.accepted_times(KEY) == []


def test_keys_verb_replaces_the_keys(api: Api) -> None:
    assert api.control("keys", {"keys": ["k-1", "k-2"]}).json() == ["k-1", "k-2"]
    assert api.get("/order/status").status_code == 401  # test-key is gone
    ok = requests.get(
        f"{api.base}/order/status", headers={"Authorization": "Bearer k-2"}, timeout=5
    )
    assert ok.status_code == 200


def test_unknown_route_is_404_and_wrong_method_405(api: Api) -> None:
    assert api.get("/warehouses").status_code == 404
    assert api.call("DELETE", "/order").status_code == 405
    missing = api.get("/order/999999")
    assert missing.status_code == 404
    assert "message" in missing.json()


# --- paging -------------------------------------------------------------------------------
def test_paging_envelope(api: Api) -> None:
    first = api.get("/order", limit=7).json()
    assert (first["total"], first["per_page"], first["current_page"], first["last_page"]) == (
        20,
        7,
        1,
        3,
    )
    assert (first["from"], first["to"]) == (1, 7)
    assert [o["id"] for o in first["data"]] == list(range(1, 8))
    assert first["next_page_url"] == f"{api.base}/order?page=2"
    assert first["prev_page_url"] is None
    assert first["path"] == f"{api.base}/order"
    last = api.get("/order", limit=7, page=3).json()
    assert (last["from"], last["to"], len(last["data"])) == (15, 20, 6)
    assert last["next_page_url"] is None
    assert last["last_page_url"] == f"{api.base}/order?page=3"
    beyond = api.get("/order", limit=7, page=4).json()
    assert beyond["data"] == []
    assert beyond["from"] is None
    assert api.get("/order").json()["per_page"] == 15


@pytest.mark.parametrize("limit", ["51", "0", "abc"])
def test_bad_limit_is_422(api: Api, limit: str) -> None:
    response = api.get("/products", limit=limit)
    assert response.status_code == 422
    body = response.json()
    assert body["message"] == "The given data was invalid."
    assert list(body["errors"]) == ["limit"]


def test_custom_fields_is_a_plain_array_with_options_on_request(api: Api) -> None:
    plain = api.get("/custom-fields", **{"filter[model]": "order"}).json()
    assert isinstance(plain, list)
    assert {f["uuid"] for f in plain} == {
        "OR_1001",
        "OR_1002",
        "OR_1003",
    }
    assert all("options" not in field for field in plain)
    with_options = api.get(
        "/custom-fields", include="options", **{"filter[model]": "client,order"}
    ).json()
    assert len(with_options) == 5
    select = next(f for f in with_options if f["uuid"] == "OR_1002")
    assert [o["value"] for o in select["options"]] == ["Готівка", "Безготівка", "Накладений платіж"]


# --- order filters, sort, include ---------------------------------------------------------
def test_order_filters_by_ids_and_lists(api: Api) -> None:
    orders = _state(api)["orders"]
    assert api.ids("/order", **{"filter[status_id]": "4,5"}) == [
        o["id"] for o in orders if o["status_id"] in (4, 5)
    ]
    assert api.ids("/order", **{"filter[source_id]": "2"}) == [
        o["id"] for o in orders if o["source_id"] == 2
    ]
    assert api.ids("/order", **{"filter[source_uuid]": "WEB-100205"}) == [
        o["id"] for o in orders if o["source_uuid"] == "WEB-100205"
    ]
    wanted = {"paid", "part_paid"}
    assert api.ids("/order", **{"filter[payment_status]": "paid, part_paid"}) == [
        o["id"] for o in orders if o["payment_status"] in wanted
    ]
    tracked = [o["id"] for o in orders if o["shipping"]["tracking_code"]]
    assert tracked
    assert api.ids("/order", **{"filter[has_tracking_code]": "true"}) == tracked
    assert len(api.ids("/order", **{"filter[has_tracking_code]": "false"})) == 20 - len(tracked)


def test_buyer_phone_filter_is_exact_and_form_decoded(api: Api) -> None:
    # Buyer 2 is stored as "067 123 45 68"; orders 2 and 14 are hers (20 orders, 12 buyers).
    assert api.ids("/order", **{"filter[buyer_phone]": "067 123 45 68"}) == [2, 14]
    assert api.ids("/order", **{"filter[buyer_phone]": "+380671234568"}) == []
    # Buyer 1 is "+380671234567". An unencoded "+" is a space to a form decoder (as in PHP).
    encoded = requests.get(
        f"{api.base}/order?filter[buyer_phone]=%2B380671234567", headers=AUTH, timeout=5
    )
    raw = requests.get(
        f"{api.base}/order?filter[buyer_phone]=+380671234567", headers=AUTH, timeout=5
    )
    assert [o["id"] for o in encoded.json()["data"]] == [1, 13]
    assert raw.json()["total"] == 0
    assert api.ids("/order", **{"filter[buyer_email]": "OLENA.KOVAL@example.com"}) == [1, 13]


def test_created_between_selects_on_ordered_at(api: Api, clock: Clock) -> None:
    clock.frozen = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
    created = api.call(
        "POST",
        "/order",
        json={"source_id": 1, "buyer": {"full_name": "Архів"}, "ordered_at": "2024-12-31 23:00:00"},
    ).json()
    assert api.ids("/order", **{"filter[created_between]": "2024-12-31, 2024-12-31"}) == [
        created["id"]
    ]
    assert (
        api.ids("/order", **{"filter[created_between]": "2025-06-01 00:00:00,2025-06-02 00:00:00"})
        == []
    )
    march = api.ids(
        "/order", **{"filter[created_between]": "2025-03-01 00:00:00,2025-03-10 23:59:59"}
    )
    assert march == [
        o["id"] for o in _state(api)["orders"] if "2025-03-01" <= o["ordered_at"] < "2025-03-11"
    ]
    bad = api.get("/order", **{"filter[created_between]": "yesterday"})
    assert bad.status_code == 422
    assert "filter.created_between" in bad.json()["errors"]


def test_updated_between_sees_every_change(api: Api, clock: Clock) -> None:
    clock.frozen = dt.datetime(2025, 7, 1, 10, 0, 0, tzinfo=dt.UTC)
    window = {"filter[updated_between]": "2025-07-01 09:59:00,2025-07-01 10:01:00"}
    assert api.ids("/order", **window) == []
    assert api.call("PUT", "/order/3", json={"manager_comment": "дзвінок"}).status_code == 202
    assert (
        api.call(
            "POST", "/order/5/payment", json={"payment_method_id": 1, "amount": 10}
        ).status_code
        == 201
    )
    api.control("set_order_status", {"order_id": 7, "status_id": 5})
    assert api.ids("/order", **window) == [3, 5, 7]
    assert api.get("/order/3").json()["updated_at"] == "2025-07-01T10:00:00.000000Z"


def test_sort_by_id_and_updated_at(api: Api) -> None:
    assert api.ids("/order", sort="-id")[:3] == [20, 19, 18]
    by_update = api.get("/order", sort="updated_at", limit=50).json()["data"]
    stamps = [o["updated_at"] for o in by_update]
    assert stamps == sorted(stamps)
    assert [
        o["updated_at"] for o in api.get("/order", sort="-updated_at", limit=50).json()["data"]
    ] == stamps[::-1]


def test_order_relations_are_absent_unless_included(api: Api) -> None:
    bare = api.get("/order/4").json()
    assert not set(RELATIONS) & set(bare)
    assert bare["status_group_id"] == 5
    assert bare["closed_at"] is not None
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", bare["closed_at"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000000Z", bare["created_at"])
    lines = api.get("/order/4", include="products").json()["products"]
    assert lines
    assert all("offer" not in line for line in lines)
    full = api.get("/order/4", include=ALL_ORDER_INCLUDES).json()
    assert set(RELATIONS) <= set(full)
    assert all(line["offer"]["sku"] == line["sku"] for line in full["products"])
    assert isinstance(full["buyer"]["phone"], str)
    assert full["status"]["name"] == "Виконано"
    assert full["shipping"]["delivery_service"]["name"] in {"Нова Пошта", "Укрпошта"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", full["payments"][0]["payment_date"])
    assert {f["uuid"] for f in full["custom_fields"]} >= {"OR_1001", "OR_1002"}
    only_buyer = api.get("/order", include="buyer", limit=1).json()["data"][0]
    assert "buyer" in only_buyer
    assert "products" not in only_buyer


# --- orders: create, update, import, payments ---------------------------------------------
NEW_ORDER = {
    "source_id": 1,
    "source_uuid": "WEB-900001",
    "ordered_at": "2025-03-14 09:12:00",
    "buyer": {
        "full_name": "Олена Коваль",
        "email": "olena.koval@example.com",
        "phone": "+380671234567",
    },
    "discount_amount": 50,
    "products": [
        {"sku": "TSH-BGE-M", "price": 650, "quantity": 2, "discount_percent": 10},
        {"sku": "ONE-OFF-1", "name": "Мереживо на замовлення", "price": 420, "quantity": 1.5},
    ],
    "payments": [
        {
            "payment_method_id": 2,
            "amount": 1000,
            "status": "paid",
            "payment_date": "2025-03-14 09:15:00",
        }
    ],
    "shipping": {
        "delivery_service_id": 1,
        "shipping_address_city": "Київ",
        "shipping_receive_point": "Відділення №25",
    },
    "marketing": {"utm_source": "google", "utm_medium": "cpc"},
    "custom_fields": [{"uuid": "OR_1002", "value": ["Безготівка"]}],
}


def test_create_order_returns_the_flat_order_and_stores_everything(api: Api) -> None:
    response = api.call("POST", "/order", json=NEW_ORDER)
    assert response.status_code == 201, response.text
    order = response.json()
    assert not set(RELATIONS) & set(order)
    # 585*2 + 420*1.5 = 1800, minus the order discount of 50; lines discount 130, total 180.
    assert (order["grand_total"], order["total_discount"], order["payment_status"]) == (
        1750,
        180,
        "part_paid",
    )
    assert (order["status_id"], order["client_id"], order["ordered_at"]) == (
        1,
        1,
        "2025-03-14T09:12:00.000000Z",
    )
    full = api.get(f"/order/{order['id']}", include=ALL_ORDER_INCLUDES).json()
    assert [(line["sku"], line["price_sold"], line["quantity"]) for line in full["products"]] == [
        ("TSH-BGE-M", 585, 2),
        ("ONE-OFF-1", 420, 1.5),
    ]
    assert full["products"][0]["offer"]["id"] == 2
    assert full["products"][1]["offer"] is None
    assert full["marketing"]["utm_source"] == "google"
    assert full["custom_fields"][0]["value"] == ["Безготівка"]
    assert full["payments"][0]["payment_date"] == "2025-03-14 09:15:00"
    # No deduplication: the same source_uuid makes a second order.
    assert api.call("POST", "/order", json=NEW_ORDER).status_code == 201
    assert len(api.ids("/order", **{"filter[source_uuid]": "WEB-900001"})) == 2


def test_create_order_validation(api: Api) -> None:
    response = api.call(
        "POST", "/order", json={"products": [{"quantity": "two"}], "ordered_at": "14.03.2025"}
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert {"source_id", "buyer", "products.0.quantity", "products.0.name", "ordered_at"} <= set(
        errors
    )
    assert api.call("POST", "/order", json={"source_id": 99, "buyer": {}}).json()["errors"] == {
        "source_id": ["The selected source id is invalid."],
        "buyer": ["The buyer field is required."],
    }
    unknown_field = {**NEW_ORDER, "custom_fields": [{"uuid": "OR_9999", "value": "x"}]}
    assert "custom_fields.0.uuid" in api.call("POST", "/order", json=unknown_field).json()["errors"]
    assert _state(api)["orders"][-1]["id"] == 20  # nothing was created


def test_update_order(api: Api) -> None:
    line = api.get("/order/1", include="products").json()["products"][0]
    before = api.get("/order/1").json()
    body = {
        "status_id": 2,
        "manager_comment": "Підтверджено телефоном",
        "products": [{"id": line["id"], "quantity": line["quantity"] + 1}],
        "shipping": {"tracking_code": "20450000000001"},
        "custom_fields": [{"uuid": "OR_1001", "value": "BAS-000777"}],
    }
    response = api.call("PUT", "/order/1", json=body)
    assert response.status_code == 202, response.text
    after = response.json()
    assert (after["status_id"], after["status_group_id"], after["manager_comment"]) == (
        2,
        2,
        body["manager_comment"],
    )
    assert after["grand_total"] == before["grand_total"] + line["price_sold"]
    full = api.get("/order/1", include="shipping,custom_fields").json()
    assert full["shipping"]["tracking_code"] == "20450000000001"
    assert {"uuid": "OR_1001", "value": "BAS-000777"}.items() <= next(
        f for f in full["custom_fields"] if f["uuid"] == "OR_1001"
    ).items()
    again = api.call("PUT", "/order/1", json={"shipping": {"tracking_code": "20450000000002"}})
    assert again.status_code == 422
    assert "shipping.tracking_code" in again.json()["errors"]
    new_line = api.call(
        "PUT", "/order/1", json={"products": [{"sku": "NOT-IN-ORDER", "quantity": 1}]}
    )
    assert new_line.status_code == 422
    assert "products.0.sku" in new_line.json()["errors"]
    assert api.call("PUT", "/order/1", json={"status_id": 99}).status_code == 422
    assert api.call("PUT", "/order/9999", json={"status_id": 2}).status_code == 404


def test_order_import(api: Api) -> None:
    orders = [{**NEW_ORDER, "source_uuid": f"IMP-{i}"} for i in range(2)]
    response = api.call("POST", "/order/import", json={"orders": orders})
    assert (response.status_code, response.content) == (201, b"")
    assert len(api.ids("/order", **{"filter[source_uuid]": "IMP-0,IMP-1"})) == 2
    too_many = api.call("POST", "/order/import", json={"orders": [NEW_ORDER] * 51})
    assert too_many.status_code == 422
    assert "orders" in too_many.json()["errors"]
    one_bad = api.call(
        "POST",
        "/order/import",
        json={"orders": [{**NEW_ORDER, "source_uuid": "IMP-X"}, {"buyer": {}}]},
    )
    assert one_bad.status_code == 422
    assert "orders.1.source_id" in one_bad.json()["errors"]
    assert api.ids("/order", **{"filter[source_uuid]": "IMP-X"}) == []


def test_payments_change_payment_status(api: Api) -> None:
    order = api.get("/order/1").json()
    assert order["payment_status"] == "not_paid"
    created = api.call(
        "POST",
        "/order/1/payment",
        json={
            "payment_method": "Monobank",
            "amount": order["grand_total"],
            "description": "Оплата",
        },
    )
    assert created.status_code == 201
    payment = created.json()
    assert "id" not in payment  # as in the spec: read ids through include=payments
    assert (payment["payment_method"]["name"], payment["status"]) == ("Monobank", "paid")
    assert api.get("/order/1").json()["payment_status"] == "paid"
    payment_id = api.get("/order/1", include="payments").json()["payments"][0]["id"]
    cancelled = api.call(
        "PUT",
        f"/order/1/payment/{payment_id}",
        json={"status": "canceled", "description": "Повернення"},
    )
    assert cancelled.status_code == 202
    assert cancelled.json()["status"] == "canceled"
    assert api.get("/order/1").json()["payment_status"] == "not_paid"
    assert (
        api.call("PUT", f"/order/1/payment/{payment_id}", json={"status": "refunded"}).status_code
        == 422
    )
    assert list(
        api.call("POST", "/order/1/payment", json={"payment_method_id": 1}).json()["errors"]
    ) == ["amount"]
    assert (
        "payment_method_id"
        in api.call("POST", "/order/1/payment", json={"amount": 5}).json()["errors"]
    )
    assert (
        api.call(
            "POST", "/order/999/payment", json={"amount": 5, "payment_method_id": 1}
        ).status_code
        == 404
    )
    assert api.call("PUT", "/order/1/payment/99999", json={"status": "paid"}).status_code == 404


def test_dictionaries(api: Api) -> None:
    expected = {
        "/order/status": 5,
        "/order/source": 4,
        "/order/payment-method": 5,
        "/order/delivery-service": 4,
        "/order/tag": 3,
        "/order/expense-type": 2,
        "/order/product-status": 3,
    }
    for path, total in expected.items():
        body = api.get(path).json()
        assert body["total"] == total, path
    statuses = api.get("/order/status").json()["data"]
    assert [s["name"] for s in statuses] == [
        "Нове",
        "Підтверджено",
        "Відправлено",
        "Виконано",
        "Скасовано",
    ]
    assert {s["currency_code"] for s in api.get("/order/source").json()["data"]} == {"UAH"}
    assert api.get("/order/delivery-service").json()["data"][0]["name"] == "Нова Пошта"
    assert [s["id"] for s in api.get("/order/status", sort="-id").json()["data"]] == [5, 4, 3, 2, 1]


# --- buyers, companies, users -------------------------------------------------------------
def test_buyers(api: Api) -> None:
    assert api.ids("/buyer", **{"filter[buyer_phone]": "+38(050)1234567"}) == [3]
    assert api.ids("/buyer", **{"filter[buyer_email]": "d.lysenko@example.com"}) == [8]
    assert api.ids("/buyer", **{"filter[buyer_id]": "2,4"}) == [2, 4]
    assert "company" not in api.get("/buyer/5").json()
    assert (
        api.get("/buyer/5", include="company").json()["company"]["name"] == "ТОВ «Світанок Трейд»"
    )
    created = api.call(
        "POST",
        "/buyer",
        json={
            "full_name": "Нова Клієнтка",
            "phone": ["+380501110000"],
            "email": ["new@example.com"],
            "birthday": "1990-05-01",
        },
    )
    assert created.status_code == 201
    assert (created.json()["phone"], created.json()["birthday"]) == (
        ["+380501110000"],
        "1990-05-01",
    )
    bad = api.call("POST", "/buyer", json={"phone": "+380501110000"})
    assert bad.status_code == 422
    assert set(bad.json()["errors"]) == {"full_name", "phone"}
    updated = api.call(
        "PUT",
        f"/buyer/{created.json()['id']}",
        json={"full_name": "Нова К.", "phone": ["0501110001"]},
    )
    assert updated.status_code == 202
    assert updated.json()["phone"] == ["0501110001"]
    assert api.ids("/buyer", **{"filter[buyer_phone]": "0501110001"}) == [created.json()["id"]]
    assert api.get("/buyer/999").status_code == 404


def test_companies(api: Api) -> None:
    created = api.call(
        "POST",
        "/companies",
        json={
            "name": "ТОВ «Нова»",
            "title": "Товариство «Нова»",
            "bank_account": "UA00",
            "buyer_id": ["2"],
        },
    )
    assert created.status_code == 201
    ident = created.json()["id"]
    assert api.get("/buyer/2").json()["company_id"] == ident
    assert api.get(f"/companies/{ident}", include="buyer").json()["buyer"]["id"] == 2
    assert api.ids("/companies", **{"filter[company_id]": f"1,{ident}"}) == [1, ident]
    updated = api.call("PUT", f"/companies/{ident}", json={"name": "ТОВ «Нова Плюс»"})
    assert (updated.status_code, updated.json()["name"]) == (200, "ТОВ «Нова Плюс»")
    assert list(api.call("POST", "/companies", json={"title": "x"}).json()["errors"]) == ["name"]
    assert api.call("PUT", "/companies/999", json={"name": "x"}).status_code == 404


def test_users(api: Api) -> None:
    body = api.get("/users").json()
    assert body["total"] == 3
    assert body["data"][0]["full_name"] == "Іван Петренко"
    assert api.ids("/users", **{"filter[role_id]": "2"}) == [2, 3]


# --- catalogue ----------------------------------------------------------------------------
def test_products(api: Api) -> None:
    assert api.ids("/products", **{"filter[category_id]": "9"}) == [17, 18]
    assert api.ids("/products", **{"filter[product_id]": "1,3"}) == [1, 3]
    created = api.call(
        "POST", "/products", json={"name": "Кепка", "sku": "CAP-1", "price": 350, "category_id": 11}
    )
    assert created.status_code == 201
    assert created.json()["has_offers"] is False
    ident = created.json()["id"]
    assert api.get("/offers", **{"filter[sku]": "CAP-1"}).json()["data"][0]["product_id"] == ident
    assert (
        "sku"
        in api.call("POST", "/products", json={"name": "Дубль", "sku": "CAP-1"}).json()["errors"]
    )
    assert list(api.call("POST", "/products", json={"sku": "X"}).json()["errors"]) == ["name"]
    updated = api.call("PUT", f"/products/{ident}", json={"price": 399, "is_archived": True})
    assert (updated.status_code, updated.json()["price"]) == (202, 399)
    assert api.get("/offers", **{"filter[sku]": "CAP-1"}).json()["data"][0]["price"] == 399
    assert api.call("PUT", "/products/9999", json={"price": 1}).status_code == 404
    imported = api.call(
        "POST",
        "/products/import",
        json={"products": [{"name": "А", "sku": "IMP-A"}, {"name": "Б"}]},
    )
    assert (imported.status_code, imported.json()) == (201, {"status": True})
    assert (
        api.call("POST", "/products/import", json={"products": [{"name": "x"}] * 101}).status_code
        == 422
    )
    variants = api.call(
        "POST",
        f"/products/{ident}/offers",
        json={
            "offers": [
                {
                    "sku": "CAP-1-RED",
                    "price": 360,
                    "properties": [{"name": "Колір", "value": "Червоний"}],
                }
            ]
        },
    )
    assert (variants.status_code, variants.json()) == (201, {"status": True})
    assert api.get(f"/products/{ident}").json()["has_offers"] is True
    assert (
        api.call(
            "POST", f"/products/{ident}/offers", json={"offers": [{"sku": "CAP-1-RED"}]}
        ).status_code
        == 422
    )


def test_archived_filter(api: Api, emu: KeyCrmEmulator) -> None:
    emu.seed(
        {
            "products": [
                {"id": 500, "name": "Старий", "sku": "OLD-1", "price": 1, "is_archived": True}
            ]
        }
    )
    assert api.ids("/products", **{"filter[is_archived]": "true"}) == [500]
    assert 500 not in api.ids("/products", **{"filter[is_archived]": "false"})
    assert [
        o["sku"] for o in api.get("/offers", **{"filter[is_archived]": "1"}).json()["data"]
    ] == ["OLD-1"]


def test_categories(api: Api) -> None:
    assert api.ids("/products/categories", **{"filter[parent_id]": "1"}) == [2, 3]
    assert api.ids("/products/categories", **{"filter[category_id]": "4,9"}) == [4, 9]
    created = api.call("POST", "/products/categories", json={"name": "Поло", "parent_id": 4})
    assert created.status_code == 201
    assert created.json()["parent_id"] == 4
    assert list(
        api.call("POST", "/products/categories", json={"parent_id": 4}).json()["errors"]
    ) == ["name"]
    assert (
        "parent_id"
        in api.call("POST", "/products/categories", json={"name": "x", "parent_id": 999}).json()[
            "errors"
        ]
    )


def _offer_ids(api: Api, *skus: str) -> list[int]:
    by_sku = {o["sku"]: o["id"] for o in _state(api)["offers"]}
    return [by_sku[sku] for sku in skus]


def test_offers_list_and_bulk_update(api: Api) -> None:
    pop, shopper = _offer_ids(api, "FAB-POP", "BAG-SHP")
    assert api.ids("/offers", **{"filter[sku]": "BAG-SHP, FAB-POP,NOPE"}) == [pop, shopper]
    assert api.ids("/offers", **{"filter[id]": "1,2,999", "filter[product_id]": "1"}) == [1, 2]
    assert "product" not in api.get("/offers", limit=1).json()["data"][0]
    assert api.get("/offers", include="product", limit=1).json()["data"][0]["product"]["id"] == 1
    response = api.call(
        "PUT",
        "/offers",
        json={
            "offers": [
                {"sku": "FAB-POP", "price": 230, "purchased_price": 100},
                {"id": shopper, "weight": 0.5},
            ]
        },
    )
    assert (response.status_code, response.json()) == (202, {"status": True})
    changed = {
        o["id"]: o for o in api.get("/offers", **{"filter[id]": f"{pop},{shopper}"}).json()["data"]
    }
    assert (changed[pop]["price"], changed[pop]["purchased_price"], changed[shopper]["weight"]) == (
        230,
        100,
        0.5,
    )
    unknown = api.call(
        "PUT",
        "/offers",
        json={"offers": [{"sku": "FAB-POP", "price": 1}, {"sku": "NOPE", "price": 1}]},
    )
    assert unknown.status_code == 422
    assert list(unknown.json()["errors"]) == ["offers.1.sku"]
    assert (
        api.get("/offers", **{"filter[id]": str(pop)}).json()["data"][0]["price"] == 230
    )  # all or nothing


def test_stocks(api: Api) -> None:
    pop, shopper = _offer_ids(api, "FAB-POP", "BAG-SHP")
    plain = api.get("/offers/stocks", **{"filter[offers_sku]": "FAB-POP"}).json()["data"]
    assert [row["id"] for row in plain] == [pop]
    assert "warehouse" not in plain[0]
    response = api.call(
        "PUT",
        "/offers/stocks",
        json={
            "warehouse_id": 2,
            "stocks": [{"sku": "FAB-POP", "quantity": 35}, {"id": shopper, "quantity": 0}],
        },
    )
    assert (response.status_code, response.json()) == (202, {"status": True})
    rows = api.get(
        "/offers/stocks", **{"filter[offers_id]": f"{pop},{shopper}", "filter[details]": "true"}
    ).json()["data"]
    lviv = {
        row["id"]: next(w for w in row["warehouse"] if w["id"] == 2)["quantity"] for row in rows
    }
    assert lviv == {pop: 35, shopper: 0}
    for row in rows:  # the total is the sum over warehouses
        assert row["quantity"] == sum(w["quantity"] for w in row["warehouse"])
        assert {w["name"] for w in row["warehouse"]} <= {"Основний склад", "Склад Львів"}
    bad = api.call("PUT", "/offers/stocks", json={"warehouse_id": 77, "stocks": [{"sku": "NOPE"}]})
    assert bad.status_code == 422
    assert set(bad.json()["errors"]) == {"warehouse_id", "stocks.0.sku", "stocks.0.quantity"}
    assert api.call("PUT", "/offers/stocks", json={"warehouse_id": 1}).json()["errors"] == {
        "stocks": ["The stocks field is required."]
    }


# --- rate limit and faults ----------------------------------------------------------------
def test_rate_limit_is_a_sliding_window_per_key(api: Api, emu: KeyCrmEmulator) -> None:
    assert api.control("rate_limit", {"limit": 5, "period": 1.0}).status_code == 200
    api.control("requests", method="DELETE")
    statuses = [api.get("/order/status").status_code for _ in range(7)]
    assert statuses == [200] * 5 + [429] * 2
    refused = api.get("/order/status")
    assert refused.json() == {"message": "Too Many Attempts."}
    assert "Retry-After" not in refused.headers
    time.sleep(1.05)
    assert api.get("/order/status").status_code == 200
    assert emu.max_accepted_in_window(KEY, 1.0) == 5
    log = api.control("requests", method="GET").json()
    accepted = [
        e["at"] for e in log if e["status"] == 200 and e["authorization"] == f"Bearer {KEY}"
    ]
    assert len(accepted) == 6
    assert max(sum(1 for t in accepted if start <= t < start + 1.0) for start in accepted) <= 5


def test_rate_limit_is_counted_per_key_and_can_send_retry_after(api: Api) -> None:
    api.control("keys", {"keys": [KEY, "other"]})
    api.control("rate_limit", {"limit": 1, "period": 30, "retry_after_header": True})
    assert api.get("/order/tag").status_code == 200
    refused = api.get("/order/tag")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 30
    other = requests.get(
        f"{api.base}/order/tag", headers={"Authorization": "Bearer other"}, timeout=5
    )
    assert other.status_code == 200


def test_429_storm_and_injected_5xx(api: Api) -> None:
    api.control("faults", {"storm_429_count": 2}, method="PUT")
    storm = [api.get("/order/status") for _ in range(3)]
    assert [r.status_code for r in storm] == [429, 429, 200]
    assert storm[0].json() == {"message": "Too Many Attempts."}
    assert "Retry-After" not in storm[0].headers
    api.control("faults", {"error_count": 1, "error_status": 503}, method="PUT")
    failed = api.get("/order/status")
    assert (failed.status_code, failed.json()) == (503, {"message": "Server Error"})
    assert api.get("/order/status").status_code == 200


def test_drop_after_commit_keeps_the_write(api: Api) -> None:
    api.control("faults", {"drop_after_commit_count": 1, "only_methods": ["POST"]}, method="PUT")
    with pytest.raises(requests.ConnectionError):
        requests.post(
            f"{api.base}/order",
            json={**NEW_ORDER, "source_uuid": "DROP-1"},
            headers=AUTH,
            timeout=5,
        )
    assert len(api.ids("/order", **{"filter[source_uuid]": "DROP-1"})) == 1
    log = api.control("requests", method="GET").json()
    assert any(entry.get("dropped") for entry in log)


# --- webhooks -----------------------------------------------------------------------------
class Receiver:
    """A tiny webhook endpoint: records each POST and answers with the next scripted status."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.script: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(json.loads(body))
                status = receiver.script.pop(0) if receiver.script else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/secret"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def _wait_deliveries(api: Api, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        state = _state(api)
        if len(state["webhook_deliveries"]) >= count and state["webhook_pending"] == 0:
            return state["webhook_deliveries"]
        time.sleep(0.02)
    raise AssertionError(f"expected {count} deliveries, state: {_state(api)['webhook_deliveries']}")


def test_status_change_webhook_is_retried_until_200(api: Api, receiver: Receiver) -> None:
    api.control(
        "webhooks",
        {"subscriptions": [{"url": receiver.url, "events": ["order.change_order_status"]}]},
    )
    receiver.script = [500, 200]
    assert api.call("PUT", "/order/1", json={"status_id": 2}).status_code == 202
    deliveries = _wait_deliveries(api, 2)
    assert [(d["attempt"], d["status"], d["event"], d["order_id"]) for d in deliveries] == [
        (1, 500, "order.change_order_status", 1),
        (2, 200, "order.change_order_status", 1),
    ]
    event = receiver.received[-1]
    assert event["event"] == "order.change_order_status"
    context = event["context"]
    assert (
        context["id"],
        context["status_id"],
        context["status_group_id"],
        context["client_id"],
    ) == (1, 2, 2, 1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000000Z", context["status_changed_at"])
    assert context["shipping_price"] == "0.00"
    assert "products" not in context
    # The same status again is no change; a payment is not this subscription's event.
    api.call("PUT", "/order/1", json={"status_id": 2})
    api.call("POST", "/order/1/payment", json={"payment_method_id": 1, "amount": 1})
    time.sleep(0.2)
    assert len(_state(api)["webhook_deliveries"]) == 2


def test_payment_status_webhook_and_control_verbs(api: Api, receiver: Receiver) -> None:
    api.control("webhooks", {"subscriptions": [{"url": receiver.url}]})  # both events
    api.call("POST", "/order/1/payment", json={"payment_method_id": 1, "amount": 1})
    _wait_deliveries(api, 1)
    assert receiver.received[-1]["event"] == "order.change_payment_status"
    assert receiver.received[-1]["context"]["payment_status"] == "part_paid"
    flat = api.control("set_order_status", {"order_id": 1, "status_id": 5}).json()
    assert flat["status_id"] == 5
    assert flat["closed_at"] is not None
    _wait_deliveries(api, 2)
    assert api.control("emit_webhook", {"order_id": 1}).json() == {"queued": 1}
    _wait_deliveries(api, 3)
    assert [e["event"] for e in receiver.received] == [
        "order.change_payment_status",
        "order.change_order_status",
        "order.change_order_status",
    ]
    assert receiver.received[1]["context"] == receiver.received[2]["context"]
    assert api.control("set_order_status", {"order_id": 999, "status_id": 1}).status_code == 404


def test_webhook_gives_up_after_three_attempts(api: Api, receiver: Receiver) -> None:
    api.control("webhooks", {"subscriptions": [{"url": receiver.url}]})
    receiver.script = [500, 502, 404, 200]
    api.control("emit_webhook", {"order_id": 2, "event": "order.change_payment_status"})
    deliveries = _wait_deliveries(api, 3)
    assert [d["status"] for d in deliveries] == [500, 502, 404]
    assert len(receiver.received) == 3
    closed = {"url": "http://127.0.0.1:9/unreachable"}
    api.control("webhooks", {"subscriptions": [closed], "attempts": 1})
    api.control("emit_webhook", {"order_id": 2})
    failed = _wait_deliveries(api, 4)[-1]
    assert failed["status"] is None
    assert "ConnectionError" in failed["error"]


# --- seeding ------------------------------------------------------------------------------
def test_demo_seed_is_realistic_and_deterministic(api: Api) -> None:
    state = _state(api)
    assert (len(state["products"]), len(state["orders"]), len(state["buyers"])) == (30, 20, 12)
    assert len(state["offers"]) > 60
    assert {o["status_id"] for o in state["orders"]} == {1, 2, 3, 4, 5}
    phones = [b["phone"][0] for b in state["buyers"]]
    assert {"067 123 45 68", "+38(050)1234567", "380931112233"} <= set(phones)
    parents = {c["id"]: c["parent_id"] for c in state["categories"]}
    assert parents[parents[4]] == 1
    assert parents[1] is None
    assert any(p["properties"] for p in state["offers"])
    other = KeyCrmEmulator()
    other.seed_demo()
    assert other.state()["orders"] == state["orders"]


def test_seed_verb_fills_defaults_on_an_empty_account(api: Api) -> None:
    api.control("reset")
    seeded = api.control(
        "seed",
        {
            "products": [{"name": "Чай", "sku": "TEA-1", "price": 120, "quantity": 7}],
            "orders": [
                {
                    "buyer": {"full_name": "Гість", "phone": "0931234567"},
                    "products": [{"sku": "TEA-1", "quantity": 3}],
                }
            ],
        },
    )
    assert seeded.status_code == 200
    assert seeded.json()["orders"] == [1]
    order = api.get("/order/1", include="products.offer,status,buyer").json()
    assert (order["grand_total"], order["status"]["name"], order["buyer"]["phone"]) == (
        360,
        "Нове",
        "0931234567",
    )
    assert order["products"][0]["offer"]["quantity"] == 7
    api.control("seed", {"categories": [{"id": 9, "name": "Б"}, {"id": 4, "name": "А"}]})
    assert api.ids("/products/categories") == [4, 9]  # id order, whatever the seeding order
    assert api.control("seed", {"planets": []}).status_code == 400
    assert json.loads(json.dumps(_state(api)))["orders"][0]["id"] == 1
