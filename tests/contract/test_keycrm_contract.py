"""Every request the KeyCRM client sends and every response the KeyCRM emulator returns,
validated against KeyCRM's OpenAPI document (path: $KEYCRM_OPENAPI_SPEC, by default
../shared/reference/keycrm-openapi.yaml). Zero violations allowed."""

from __future__ import annotations

import inspect

import pytest

from integration.keycrm.client import KeyCrmClient
from tests.contract.openapi import Contract, spec_path

# Methods that are plumbing, not endpoints.
PLUMBING = {"request", "iterate", "pages", "close", "for_account"}


@pytest.fixture(scope="module")
def contract() -> Contract:
    path = spec_path()
    if not path.is_file():
        pytest.skip(f"KeyCRM OpenAPI document not found at {path}: set KEYCRM_OPENAPI_SPEC to "
                    "its path to run the contract test")
    return Contract(path)


class Recorder:
    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self.problems: list[str] = []
        self.operations: set[str] = set()

    def __call__(self, request, response) -> None:
        operation = self.contract.find(request.method, request.path)
        if operation:
            self.operations.add(f"{operation.method} {operation.template}")
        self.problems += self.contract.check_request(request.method, request.path,
                                                     request.raw_query, request.body)
        self.problems += self.contract.check_response(
            request.method, request.path, response.status,
            response.headers.get("Content-Type", ""), response.body)


class Tracking(KeyCrmClient):
    """Records which public methods ran, so the test proves it covered all of them."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.used: set[str] = set()

    def __getattribute__(self, name):
        attribute = super().__getattribute__(name)
        if not name.startswith("_") and name not in PLUMBING and inspect.ismethod(attribute):
            super().__getattribute__("used").add(name)
        return attribute


def test_client_and_emulator_follow_the_openapi_document(contract, keycrm):
    recorder = Recorder(contract)
    keycrm.observers.append(recorder)
    ids = keycrm.seed({
        "statuses": [{"name": "Нове"}, {"name": "Виконано"}],
        "sources": [{"name": "Сайт", "currency_code": "UAH"}],
        "payment_methods": [{"name": "Картка"}],
        "delivery_services": [{"name": "Нова Пошта"}],
        "warehouses": [{"name": "Склад"}],
        "custom_fields": [{"name": "ЄДРПОУ", "uuid": "CT_1001", "model": "client",
                           "type": "text"}],
        "users": [{"full_name": "Іван Менеджер", "email": "ivan@example.com"}],
    })
    keycrm.seed_demo(products=5, orders=5, buyers=3)
    client = Tracking(base_url=f"{keycrm.url}/v1", api_key="test-key", budget=None)
    source, paid_method, warehouse = ids["sources"][0], ids["payment_methods"][0], \
        ids["warehouses"][0]

    client.check_key()
    list(client.list_order_statuses())
    list(client.list_order_sources())
    list(client.list_payment_methods())
    list(client.list_delivery_services())
    list(client.list_order_tags())
    client.list_custom_fields(models=["order", "client"])
    list(client.list_users())
    order = client.create_order({
        "source_id": source, "source_uuid": "C-1", "ordered_at": "2025-03-14 09:12:00",
        "buyer": {"full_name": "Олена Коваль", "phone": "+380671234567",
                  "email": "olena@example.com"},
        "products": [{"sku": "C-SKU", "name": "Товар", "price": 100, "quantity": 2,
                      "properties": [{"name": "Колір", "value": "Синій"}]}],
        "payments": [{"payment_method_id": paid_method, "amount": 50, "status": "paid"}],
        "shipping": {"delivery_service_id": ids["delivery_services"][0],
                     "shipping_address_city": "Київ", "recipient_full_name": "Олена Коваль"},
        "marketing": {"utm_source": "google", "utm_campaign": "spring"},
    })
    client.get_order(order["id"])
    list(client.list_orders(filters={"source_uuid": "C-1", "payment_status": ["part_paid",
                                                                               "paid"]}))
    client.find_orders_by_source_uuid("C-1")
    client.update_order(order["id"], {"status_id": ids["statuses"][1],
                                      "manager_comment": "Перевірено"})
    client.import_orders([{"source_id": source, "source_uuid": "C-2",
                           "buyer": {"full_name": "Імпорт"}}])
    client.add_order_payment(order["id"], {"amount": 150, "payment_method_id": paid_method,
                                           "status": "paid", "description": "Доплата"})
    payment_id = client.get_order(order["id"], include=("payments",))["payments"][-1]["id"]
    client.update_order_payment(order["id"], payment_id, {"status": "canceled"})
    buyer = client.create_buyer({"full_name": "Марія", "phone": ["+380931112233"],
                                 "email": ["maria@example.com"]})
    client.get_buyer(buyer["id"], include=("custom_fields",))
    client.update_buyer(buyer["id"], {"full_name": "Марія Шевченко"})
    list(client.list_buyers(filters={"buyer_phone": "+380931112233"}))
    company = client.create_company({"name": "ТОВ Приклад", "buyer_id": [str(buyer["id"])]})
    client.get_company(company["id"])
    client.update_company(company["id"], {"name": "ТОВ Приклад Плюс"})
    list(client.list_companies())
    category = client.create_category(name="Взуття")
    client.create_category(name="Кеди", parent_id=category["id"])
    list(client.list_categories(filters={"parent_id": category["id"]}))
    product = client.create_product({"name": "Кеди", "sku": "KD-1", "price": 1000,
                                     "category_id": category["id"]})
    client.get_product(product["id"], include=("custom_fields",))
    client.update_product(product["id"], {"name": "Кеди білі"})
    client.create_product_offers(product["id"], [
        {"sku": "KD-1-40", "price": 1000, "properties": [{"name": "Розмір", "value": "40"}]}])
    client.import_products([{"name": "Шнурки", "sku": "SH-1", "price": 50}])
    list(client.list_products(filters={"category_id": category["id"]}))
    list(client.list_offers(filters={"sku": ["KD-1-40"]}, include=("product",)))
    client.update_offers([{"sku": "KD-1-40", "price": 1100, "purchased_price": 600}])
    client.update_offer_stocks(warehouse_id=warehouse, stocks=[{"sku": "KD-1-40",
                                                                "quantity": 5}])
    list(client.list_offer_stocks(filters={"offers_sku": ["KD-1-40"], "details": True}))

    public = {name for name, _ in inspect.getmembers(KeyCrmClient, inspect.isfunction)
              if not name.startswith("_")} - PLUMBING
    assert public - client.used == set(), "client methods the contract test did not exercise"
    assert len(recorder.operations) >= 25
    assert recorder.problems == [], "\n".join(recorder.problems)
