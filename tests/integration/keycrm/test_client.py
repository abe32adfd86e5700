"""The KeyCRM client against the KeyCRM emulator over real HTTP: every method, paging, filters,
the 429 path, error classification and the rule that a POST is not repeated blindly."""

from __future__ import annotations

import datetime as dt
from urllib.parse import unquote

import pytest

from integration.keycrm.client import ORDER_FULL_INCLUDE, KeyCrmClient, KeyCrmError

UTC = dt.UTC


@pytest.fixture
def client(keycrm):
    client = KeyCrmClient(base_url=f"{keycrm.url}/v1", api_key="test-key", budget=None,
                          backoff_base=0.01, max_retries=3)
    yield client
    client.close()


@pytest.fixture
def shop(keycrm):
    """A small account: directories, one buyer, a product with two offers, two orders."""
    ids = keycrm.seed({
        "statuses": [{"name": "Нове", "group_id": 1}, {"name": "Відправлено", "group_id": 4}],
        "sources": [{"name": "Сайт", "currency_code": "UAH"}],
        "payment_methods": [{"name": "Картка"}, {"name": "Готівка"}],
        "delivery_services": [{"name": "Нова Пошта", "source_name": "novaposhta"}],
        "warehouses": [{"name": "Основний склад"}],
        "categories": [{"name": "Одяг"}],
        "buyers": [{"full_name": "Олена Коваль", "phone": ["+380671234567"],
                    "email": ["olena@example.com"]}],
        "products": [{"name": "Футболка", "offers": [
            {"sku": "TSH-M", "price": 650, "properties": [{"name": "Розмір", "value": "M"}]},
            {"sku": "TSH-L", "price": 650, "properties": [{"name": "Розмір", "value": "L"}]},
        ]}],
        "custom_fields": [{"name": "Юрособа", "uuid": "OR_1012", "model": "order",
                           "type": "text"}],
    })
    source_id = ids["sources"][0]
    for uuid in ("WEB-1", "WEB-2"):
        keycrm.seed({"orders": [{
            "source_id": source_id, "source_uuid": uuid,
            "buyer": {"full_name": "Олена Коваль", "phone": "+380671234567"},
            "products": [{"sku": "TSH-M", "price": 650, "quantity": 2}],
        }]})
    return ids


def test_list_orders_pages_through_everything_one_page_at_a_time(client, keycrm, shop):
    source_id = shop["sources"][0]
    keycrm.seed({"orders": [{"source_id": source_id, "buyer": {"full_name": f"Покупець {i}"}}
                            for i in range(118)]})
    keycrm.clear_log()
    orders = client.list_orders(include=("buyer",))
    first = next(orders)
    assert len(keycrm.requests(path_contains="/v1/order")) == 1  # lazily: one page so far
    rest = list(orders)
    assert len(rest) + 1 == 120
    assert len({o["id"] for o in rest} | {first["id"]}) == 120
    pages = keycrm.requests(path_contains="/v1/order")
    assert len(pages) == 3  # ⌈120 / 50⌉
    assert "limit=50" in pages[0]["query"]
    assert "buyer" in first
    assert "products" not in first


def test_filters_and_includes_are_encoded_the_keycrm_way(client, keycrm, shop):
    since = dt.datetime.now(UTC) - dt.timedelta(hours=1)
    until = dt.datetime.now(UTC) + dt.timedelta(hours=1)
    keycrm.clear_log()
    orders = list(client.list_orders(filters={"updated_between": (since, until),
                                              "source_uuid": "WEB-2"}))
    assert [o["source_uuid"] for o in orders] == ["WEB-2"]
    query = unquote(keycrm.requests(path_contains="/v1/order")[0]["query"])
    assert "filter[updated_between]=" + since.strftime("%Y-%m-%d %H:%M:%S,") in query
    assert "include=" + ",".join(ORDER_FULL_INCLUDE) in query
    full = orders[0]
    assert full["buyer"]["full_name"] == "Олена Коваль"
    assert full["products"][0]["offer"]["sku"] == "TSH-M"
    assert full["status"]["name"] == "Нове"


def test_get_create_update_order_and_payments(client, keycrm, shop):
    created = client.create_order({
        "source_id": shop["sources"][0], "source_uuid": "WEB-100",
        "buyer": {"full_name": "Іван Петренко", "phone": "+380501234567"},
        "products": [{"sku": "TSH-L", "price": 650, "quantity": 1}],
    })
    order = client.get_order(created["id"])
    assert order["source_uuid"] == "WEB-100"
    assert order["products"][0]["sku"] == "TSH-L"
    shipped = shop["statuses"][1]
    client.update_order(created["id"], {"status_id": shipped})
    assert client.get_order(created["id"], include=("status",))["status"]["name"] == "Відправлено"
    client.add_order_payment(created["id"], {"amount": 650, "payment_method_id":
                                             shop["payment_methods"][0], "status": "paid"})
    payments = client.get_order(created["id"], include=("payments",))["payments"]
    assert [p["amount"] for p in payments] == [650]
    client.update_order_payment(created["id"], payments[0]["id"], {"status": "canceled"})
    payment = client.get_order(created["id"], include=("payments",))["payments"][0]
    assert payment["status"] == "canceled"
    assert [o["id"] for o in client.find_orders_by_source_uuid("WEB-100")] == [created["id"]]


def test_import_orders_in_batches_of_fifty(client, keycrm, shop):
    orders = [{"source_id": shop["sources"][0], "source_uuid": f"IMP-{i}",
               "buyer": {"full_name": f"Покупець {i}"}} for i in range(60)]
    keycrm.clear_log()
    client.import_orders(orders)
    assert len(keycrm.requests(method="POST", path_contains="/order/import")) == 2
    assert len(client.find_orders_by_source_uuid("IMP-59")) == 1


def test_directories(client, shop):
    assert [s["name"] for s in client.list_order_statuses()] == ["Нове", "Відправлено"]
    assert [s["currency_code"] for s in client.list_order_sources()] == ["UAH"]
    assert {m["name"] for m in client.list_payment_methods()} == {"Картка", "Готівка"}
    assert [d["name"] for d in client.list_delivery_services()] == ["Нова Пошта"]
    assert list(client.list_order_tags()) == []
    fields = client.list_custom_fields(models=["order"])
    assert [f["uuid"] for f in fields] == ["OR_1012"]
    assert client.check_key() == 2


def test_buyers_and_companies(client, shop):
    buyer = client.create_buyer({"full_name": "Марія Шевченко", "phone": ["+380931112233"]})
    assert client.get_buyer(buyer["id"])["full_name"] == "Марія Шевченко"
    client.update_buyer(buyer["id"], {"full_name": "Марія Шевченко-Коваль"})
    found = list(client.list_buyers(filters={"buyer_phone": "+380931112233"}))
    assert [b["full_name"] for b in found] == ["Марія Шевченко-Коваль"]
    company = client.create_company({"name": "ТОВ Приклад", "title": "ТОВ «Приклад»"})
    client.update_company(company["id"], {"name": "ТОВ Приклад-2"})
    assert client.get_company(company["id"])["name"] == "ТОВ Приклад-2"
    assert [c["id"] for c in client.list_companies()] == [company["id"]]


def test_catalogue_products_categories_offers_and_stocks(client, keycrm, shop):
    parent = client.create_category(name="Взуття")
    child = client.create_category(name="Кросівки", parent_id=parent["id"])
    children = list(client.list_categories(filters={"parent_id": parent["id"]}))
    assert [c["id"] for c in children] == [child["id"]]
    product = client.create_product({"name": "Кросівки білі", "sku": "SNK-W",
                                     "price": 2000, "category_id": child["id"]})
    client.update_product(product["id"], {"description": "Шкіра"})
    assert client.get_product(product["id"])["description"] == "Шкіра"
    assert client.create_product_offers(product["id"], [
        {"sku": f"SNK-W-{size}", "price": 2100, "properties": [{"name": "Розмір",
                                                                "value": str(size)}]}
        for size in (40, 41)]) == 1
    assert client.import_products([{"name": f"Шкарпетки {i}", "sku": f"SOC-{i}", "price": 90}
                                   for i in range(3)]) == 1
    names = {p["name"] for p in client.list_products()}
    assert {"Футболка", "Кросівки білі", "Шкарпетки 2"} <= names
    assert client.update_offers([{"sku": "TSH-M", "price": 700, "purchased_price": 300}]) == 1
    offer = next(client.list_offers(filters={"sku": "TSH-M"}))
    assert (offer["price"], offer["purchased_price"]) == (700, 300)
    warehouse = shop["warehouses"][0]
    assert client.update_offer_stocks(warehouse_id=warehouse, stocks=[
        {"sku": "TSH-M", "quantity": 7}, {"sku": "TSH-L", "quantity": 3}]) == 1
    stocks = {s["sku"]: s["quantity"] for s in
              client.list_offer_stocks(filters={"offers_sku": ["TSH-M", "TSH-L"]})}
    assert stocks == {"TSH-M": 7, "TSH-L": 3}
    assert list(client.list_users()) == [] or all("id" in u for u in client.list_users())


def test_batches_follow_the_endpoint_limits(client, keycrm, shop):
    keycrm.clear_log()
    stocks = [{"sku": "TSH-M", "quantity": i} for i in range(120)]
    calls = client.update_offer_stocks(warehouse_id=shop["warehouses"][0], stocks=stocks,
                                       batch_size=50)
    assert calls == 3
    assert len(keycrm.requests(method="PUT", path_contains="/offers/stocks")) == 3


def test_429_is_retried_with_back_off_then_succeeds(client, keycrm, shop):
    keycrm.set_faults(storm_429_count=2)
    keycrm.clear_log()
    assert client.check_key() == 2
    statuses = [r["status"] for r in keycrm.requests(path_contains="/order/status")]
    assert statuses == [429, 429, 200]


def test_retry_after_is_honoured(client, keycrm, shop):
    keycrm.set_rate_limit(1, 1.0, retry_after_header=True)
    keycrm.clear_log()
    client.check_key()
    client.check_key()  # refused with Retry-After, then waits for it instead of backing off
    log = keycrm.requests(path_contains="/order/status")
    assert [r["status"] for r in log] == [200, 429, 200]
    assert log[2]["at"] - log[1]["at"] >= 0.9


def test_a_429_storm_longer_than_the_retries_ends_in_a_retryable_error(client, keycrm, shop):
    keycrm.set_faults(storm_429_count=10)
    with pytest.raises(KeyCrmError) as caught:
        client.check_key()
    assert caught.value.status == 429
    assert caught.value.retryable
    assert "rate limit" in str(caught.value)
    assert len(keycrm.requests(path_contains="/order/status")) == 4  # 1 + 3 retries


def test_the_emulators_own_rate_limit_is_met_with_back_off(keycrm, shop):
    keycrm.set_rate_limit(3, 0.5)
    client = KeyCrmClient(base_url=f"{keycrm.url}/v1", api_key="test-key", budget=None,
                          backoff_base=0.2, max_retries=5)
    for _ in range(5):
        client.check_key()
    statuses = [r["status"] for r in keycrm.requests(path_contains="/order/status")]
    assert statuses.count(200) == 5
    assert 429 in statuses


def test_errors_are_classified(client, keycrm, shop):
    with pytest.raises(KeyCrmError) as not_found:
        client.get_order(999999)
    assert (not_found.value.status, not_found.value.retryable) == (404, False)
    with pytest.raises(KeyCrmError) as invalid:
        client.create_order({"buyer": {"full_name": "Без джерела"}})
    assert invalid.value.status == 422
    assert not invalid.value.retryable
    assert "source_id" in invalid.value.field_errors
    assert "source_id" in str(invalid.value)
    bad_key = KeyCrmClient(base_url=f"{keycrm.url}/v1", api_key="wrong", budget=None,
                           max_retries=3)
    with pytest.raises(KeyCrmError) as refused:
        bad_key.check_key()
    assert (refused.value.status, refused.value.retryable) == (401, False)
    assert "API key was refused" in str(refused.value)
    assert len(keycrm.requests(path_contains="/order/status")) == 1  # 401 is not retried


def test_a_5xx_on_a_read_is_retried(client, keycrm, shop):
    keycrm.set_faults(error_count=2, error_status=503)
    keycrm.clear_log()
    assert client.check_key() == 2
    assert [r["status"] for r in keycrm.requests()] == [503, 503, 200]


def test_a_5xx_on_a_post_is_not_repeated(client, keycrm, shop):
    keycrm.set_faults(error_count=1, error_status=500, only_methods=["POST"])
    with pytest.raises(KeyCrmError) as caught:
        client.create_order({"source_id": shop["sources"][0], "buyer": {"full_name": "X"}})
    assert caught.value.retryable
    assert caught.value.outcome_unknown
    assert len(keycrm.requests(method="POST")) == 1


def test_a_lost_answer_to_a_post_is_not_repeated_blindly(client, keycrm, shop):
    keycrm.set_faults(drop_after_commit_count=1, only_methods=["POST"])
    with pytest.raises(KeyCrmError) as caught:
        client.create_order({"source_id": shop["sources"][0], "source_uuid": "LOST-1",
                             "buyer": {"full_name": "Втрачена відповідь"}})
    assert caught.value.outcome_unknown
    assert len(keycrm.requests(method="POST")) == 1
    # The order exists: the caller finds it by source_uuid instead of creating another.
    assert len(client.find_orders_by_source_uuid("LOST-1")) == 1


def test_a_lost_answer_to_a_put_is_repeated(client, keycrm, shop):
    order_id = client.find_orders_by_source_uuid("WEB-1")[0]["id"]
    keycrm.set_faults(drop_after_commit_count=1, only_methods=["PUT"])
    client.update_order(order_id, {"manager_comment": "двічі не страшно"})
    assert len(keycrm.requests(method="PUT")) == 2
    assert client.get_order(order_id, include=())["manager_comment"] == "двічі не страшно"


def test_an_html_page_instead_of_json_is_a_clear_error(client, keycrm):
    keycrm.set_faults(html_200_count=1)
    with pytest.raises(KeyCrmError, match=r"expected JSON.*base URL"):
        client.check_key()


def test_page_size_outside_the_api_limits_is_refused_before_sending(client, keycrm):
    with pytest.raises(ValueError, match=r"1\.\.50"):
        next(client.iterate("/order", limit=51))
    assert keycrm.requests() == []


def test_for_account_uses_the_accounts_url_key_and_shared_budget(db, keycrm_account, keycrm,
                                                                 shop):
    client = KeyCrmClient.for_account(keycrm_account)
    assert client.check_key() == 2
    assert client.budget is not None
    assert client.budget.limit == 60
    assert keycrm.requests()[-1]["authorization"] == "Bearer test-key"
