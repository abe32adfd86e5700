"""KeyCRM directory mirrors against the KeyCRM emulator: what the first sync stores, how a later
sync updates and deactivates, how many calls it makes, how one failing directory leaves the
others synced, and what the command, the admin page and the admin action show."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from io import StringIO

import pytest
from django.contrib import admin
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import KeyCrmAccount
from integration.keycrm.client import KeyCrmClient
from mappings import tasks
from mappings.admin.directories import sync_directories_action
from mappings.models import Correspondence, DirectoryEntry, KeyCrmDirectory
from mappings.services import directories as service
from mappings.services.directories import directories_sync, directory_entries

pytestmark = pytest.mark.django_db

D = KeyCrmDirectory

# 60 products without variants (one offer each) push products and offers past one page of 50.
ACCESSORIES = [
    {"id": 200 + n, "name": f"Аксесуар {n:02d}", "sku": f"ACC-{n:02d}", "price": 100 + n,
     "category_id": 13, "offers": [{"id": 3000 + n, "sku": f"ACC-{n:02d}", "price": 100 + n}]}
    for n in range(60)
]


def shop() -> dict:
    """A realistic small account: every mirrored directory, a 3-level category tree, products
    with and without variants."""
    return {
        "statuses": [
            {"id": 1, "name": "Нове", "group_id": 1},
            {"id": 2, "name": "Підтверджено", "group_id": 2},
            {"id": 3, "name": "Відправлено", "group_id": 4},
            {"id": 4, "name": "Виконано", "group_id": 5, "is_closing_order": True},
            {"id": 5, "name": "Скасовано", "group_id": 6, "is_closing_order": True},
        ],
        "sources": [
            {"id": 1, "name": "Інтернет-магазин", "driver": "opencart"},
            {"id": 2, "name": "Rozetka", "driver": "rozetka", "source_uuid": "18960006"},
            {"id": 3, "name": "Instagram"},
        ],
        "payment_methods": [
            {"id": 1, "name": "Готівка", "alias": "cash"},
            {"id": 2, "name": "Оплата карткою (LiqPay)", "alias": "liqpay"},
            {"id": 3, "name": "Накладений платіж", "alias": "cod"},
        ],
        "delivery_services": [
            {"id": 1, "name": "Нова Пошта", "source_name": "novaposhta"},
            {"id": 2, "name": "Укрпошта", "source_name": "ukrposhta"},
        ],
        "categories": [
            {"id": 10, "name": "Одяг"},
            {"id": 11, "name": "Чоловічий одяг", "parent_id": 10},
            {"id": 12, "name": "Футболки чоловічі", "parent_id": 11},
            {"id": 13, "name": "Аксесуари"},
        ],
        "products": [
            {"id": 100, "name": "Футболка базова", "category_id": 12, "offers": [
                {"id": 1001, "sku": "TSH-S-BLK", "price": 650, "properties": [
                    {"name": "Розмір", "value": "S"}, {"name": "Колір", "value": "Чорний"}]},
                {"id": 1002, "sku": "TSH-M-BLK", "price": 650, "properties": [
                    {"name": "Розмір", "value": "M"}, {"name": "Колір", "value": "Чорний"}]},
                {"id": 1003, "sku": "TSH-M-WHT", "price": 650, "properties": [
                    {"name": "Розмір", "value": "M"}, {"name": "Колір", "value": "Білий"}]},
            ]},
            {"id": 101, "name": "Худі з капюшоном", "category_id": 11, "offers": [
                {"id": 1101, "sku": "HOD-L", "price": 1450,
                 "properties": [{"name": "Розмір", "value": "L"}]},
                {"id": 1102, "sku": "HOD-XL", "price": 1450,
                 "properties": [{"name": "Розмір", "value": "XL"}]},
            ]},
            {"id": 102, "name": "Сумка шопер", "category_id": 13, "sku": "BAG-SHP",
             "price": 450, "offers": [{"id": 1201, "sku": "BAG-SHP", "price": 450}]},
            *ACCESSORIES,
        ],
        "custom_fields": [
            {"id": 1, "uuid": "OR_1001", "name": "Номер документа BAS", "model": "order"},
            {"id": 2, "uuid": "OR_1002", "name": "Форма оплати", "model": "order",
             "type": "select", "options": ["Готівка", "Безготівка"]},
            {"id": 4, "uuid": "CT_1001", "name": "ЄДРПОУ / ІПН", "model": "client"},
        ],
        "users": [
            {"id": 1, "first_name": "Іван", "last_name": "Петренко", "role_id": 1},
            {"id": 2, "first_name": "Оксана", "last_name": "Мельник"},
        ],
    }


EXPECTED_COUNTS = {
    D.ORDER_STATUS: 5, D.SOURCE: 3, D.PAYMENT_METHOD: 3, D.DELIVERY_SERVICE: 2, D.CATEGORY: 4,
    D.PRODUCT: 63, D.OFFER: 66, D.CUSTOM_FIELD: 3, D.MANAGER: 2,
}
PATHS = {
    D.ORDER_STATUS: "/v1/order/status", D.SOURCE: "/v1/order/source",
    D.PAYMENT_METHOD: "/v1/order/payment-method", D.DELIVERY_SERVICE: "/v1/order/delivery-service",
    D.CATEGORY: "/v1/products/categories", D.PRODUCT: "/v1/products", D.OFFER: "/v1/offers",
    D.CUSTOM_FIELD: "/v1/custom-fields", D.MANAGER: "/v1/users",
}


@pytest.fixture
def keycrm_client(keycrm) -> Iterator[KeyCrmClient]:
    """No shared budget, no retries: each page is exactly one request."""
    client = KeyCrmClient(base_url=f"{keycrm.url}/v1", api_key="test-key", budget=None,
                          max_retries=0)
    yield client
    client.close()


def entry(account, directory, keycrm_id) -> DirectoryEntry:
    return DirectoryEntry.objects.get(account=account, directory=directory, keycrm_id=keycrm_id)


def counts(result) -> dict:
    return {name: (c.seen, c.created, c.updated, c.deactivated, c.error)
            for name, c in result.directories.items()}


def test_first_sync_stores_every_element_with_names_parents_and_skus(keycrm, keycrm_account,
                                                                     keycrm_client):
    keycrm.seed(shop())
    result = directories_sync(account=keycrm_account, client=keycrm_client)

    assert result.ok
    assert counts(result) == {name: (n, n, 0, 0, "") for name, n in EXPECTED_COUNTS.items()}
    assert list(result.directories) == list(EXPECTED_COUNTS)  # in MIRRORED_DIRECTORIES order
    stored = Counter(DirectoryEntry.objects.filter(account=keycrm_account)
                     .values_list("directory", flat=True))
    assert stored == EXPECTED_COUNTS
    assert not DirectoryEntry.objects.filter(is_active=False).exists()
    assert not DirectoryEntry.objects.filter(synced_at__isnull=True).exists()

    # Order directories: name, raw data.
    status = entry(keycrm_account, D.ORDER_STATUS, 4)
    assert (status.name, status.parent_keycrm_id, status.sku) == ("Виконано", None, "")
    assert status.data["is_closing_order"] is True
    assert entry(keycrm_account, D.SOURCE, 2).data["source_uuid"] == "18960006"
    assert entry(keycrm_account, D.PAYMENT_METHOD, 3).name == "Накладений платіж"
    assert entry(keycrm_account, D.DELIVERY_SERVICE, 1).data["source_name"] == "novaposhta"
    # The category tree, three levels deep.
    tree = dict(DirectoryEntry.objects.filter(directory=D.CATEGORY)
                .values_list("name", "parent_keycrm_id"))
    assert tree == {"Одяг": None, "Чоловічий одяг": 10, "Футболки чоловічі": 11,
                    "Аксесуари": None}
    # Products: the SKU only on products without variants.
    tshirt = entry(keycrm_account, D.PRODUCT, 100)
    assert (tshirt.name, tshirt.sku, tshirt.parent_keycrm_id) == ("Футболка базова", "", None)
    assert tshirt.data["has_offers"] is True
    assert tshirt.data["category_id"] == 12
    bag = entry(keycrm_account, D.PRODUCT, 102)
    assert (bag.name, bag.sku) == ("Сумка шопер", "BAG-SHP")
    # Offers: "<product> (<property values>)", the product as parent, their own SKU.
    offers = {e.keycrm_id: (e.name, e.parent_keycrm_id, e.sku)
              for e in DirectoryEntry.objects.filter(directory=D.OFFER, keycrm_id__lt=2000)}
    assert offers == {
        1001: ("Футболка базова (S, Чорний)", 100, "TSH-S-BLK"),
        1002: ("Футболка базова (M, Чорний)", 100, "TSH-M-BLK"),
        1003: ("Футболка базова (M, Білий)", 100, "TSH-M-WHT"),
        1101: ("Худі з капюшоном (L)", 101, "HOD-L"),
        1102: ("Худі з капюшоном (XL)", 101, "HOD-XL"),
        1201: ("Сумка шопер", 102, "BAG-SHP"),
    }
    offer = entry(keycrm_account, D.OFFER, 1003)
    assert offer.data["properties"] == [{"name": "Розмір", "value": "M"},
                                        {"name": "Колір", "value": "Білий"}]
    assert "product" not in offer.data  # the product is mirrored once, in its own row
    # Custom fields keep their uuid; managers are named by full name.
    field = entry(keycrm_account, D.CUSTOM_FIELD, 2)
    assert (field.name, field.data["uuid"]) == ("Форма оплати", "OR_1002")
    assert [o["value"] for o in field.data["options"]] == ["Готівка", "Безготівка"]
    assert entry(keycrm_account, D.MANAGER, 1).name == "Іван Петренко"

    assert result.summary() == (
        "Order statuses: 5 (5 new); Sources (sales channels): 3 (3 new); "
        "Payment methods: 3 (3 new); Delivery services: 2 (2 new); "
        "Product categories: 4 (4 new); Products: 63 (63 new); "
        "Offers (product variants): 66 (66 new); Custom fields: 3 (3 new); "
        "Managers: 2 (2 new).")


def test_one_call_per_page(keycrm, keycrm_account, keycrm_client):
    keycrm.seed(shop())
    keycrm.clear_log()
    directories_sync(account=keycrm_account, client=keycrm_client)

    calls = Counter(request["path"] for request in keycrm.requests())
    # Paged lists: ceil(n / 50) pages; custom fields are one plain array.
    expected = {PATHS[name]: max(1, math.ceil(n / 50)) for name, n in EXPECTED_COUNTS.items()}
    expected[PATHS[D.CUSTOM_FIELD]] = 1
    assert calls == expected
    assert sum(calls.values()) == keycrm_client.calls == 11
    # Offers are asked for with their product (for the name), in full pages of 50.
    offer_queries = [r["query"] for r in keycrm.requests(path_contains="/offers")]
    assert offer_queries == ["limit=50&page=1&include=product",
                             "limit=50&page=2&include=product"]


def test_a_big_catalogue_is_stored_in_chunks_with_one_call_per_page(
        keycrm, keycrm_account, keycrm_client, monkeypatch):
    keycrm.seed_demo(products=40, orders=0, buyers=0)
    state = keycrm.state()
    keycrm.clear_log()
    monkeypatch.setattr(service, "CHUNK_SIZE", 30)
    seen: list[tuple[str, int]] = []

    result = directories_sync(account=keycrm_account, client=keycrm_client,
                              directories=[D.PRODUCT, D.OFFER],
                              progress=lambda name, read: seen.append((name, read)))

    products, offers = len(state["products"]), len(state["offers"])
    assert offers > 100  # the demo's sized products have many variants
    assert counts(result) == {D.PRODUCT: (products, products, 0, 0, ""),
                              D.OFFER: (offers, offers, 0, 0, "")}
    assert len(keycrm.requests(path_contains="/products")) == math.ceil(products / 50)
    assert len(keycrm.requests(path_contains="/offers")) == math.ceil(offers / 50)
    assert seen == [
        (D.PRODUCT, 0), *[(D.PRODUCT, min(n, products)) for n in range(30, products + 30, 30)],
        (D.OFFER, 0), *[(D.OFFER, min(n, offers)) for n in range(30, offers + 30, 30)],
    ]
    assert DirectoryEntry.objects.filter(directory=D.OFFER).count() == offers
    # Same data again: nothing new, nothing changed, nothing gone.
    again = directories_sync(account=keycrm_account, client=keycrm_client,
                             directories=[D.PRODUCT, D.OFFER])
    assert counts(again) == {D.PRODUCT: (products, 0, 0, 0, ""),
                             D.OFFER: (offers, 0, 0, 0, "")}


def test_second_sync_updates_renamed_and_deactivates_missing_elements(keycrm, keycrm_account,
                                                                      keycrm_client):
    keycrm.seed(shop())
    directories_sync(account=keycrm_account, client=keycrm_client)
    first_seen = entry(keycrm_account, D.ORDER_STATUS, 5).synced_at

    # KeyCRM a week later: a status renamed and one removed, the hoodie gone with its variants,
    # a category moved, a variant's SKU changed, a new payment method.
    data = shop()
    data["statuses"][1]["name"] = "Підтверджено менеджером"
    del data["statuses"][4]
    data["categories"][3]["parent_id"] = 10
    del data["products"][1]
    data["products"][0]["offers"][2]["sku"] = "TSH-M-WHT-2"
    data["payment_methods"].append({"id": 4, "name": "Monobank"})
    keycrm.reset()
    keycrm.seed(data)

    result = directories_sync(account=keycrm_account, client=keycrm_client)

    assert counts(result) == {
        D.ORDER_STATUS: (4, 0, 1, 1, ""), D.SOURCE: (3, 0, 0, 0, ""),
        D.PAYMENT_METHOD: (4, 1, 0, 0, ""), D.DELIVERY_SERVICE: (2, 0, 0, 0, ""),
        D.CATEGORY: (4, 0, 1, 0, ""), D.PRODUCT: (62, 0, 0, 1, ""),
        D.OFFER: (64, 0, 1, 2, ""), D.CUSTOM_FIELD: (3, 0, 0, 0, ""),
        D.MANAGER: (2, 0, 0, 0, ""),
    }
    assert entry(keycrm_account, D.ORDER_STATUS, 2).name == "Підтверджено менеджером"
    assert entry(keycrm_account, D.CATEGORY, 13).parent_keycrm_id == 10
    assert entry(keycrm_account, D.OFFER, 1003).sku == "TSH-M-WHT-2"
    # Gone from KeyCRM: kept (correspondences may point at them), marked, last seen unchanged.
    gone = entry(keycrm_account, D.ORDER_STATUS, 5)
    assert (gone.is_active, gone.name, gone.synced_at) == (False, "Скасовано", first_seen)
    inactive = set(DirectoryEntry.objects.filter(is_active=False)
                   .values_list("directory", "keycrm_id"))
    assert inactive == {(D.ORDER_STATUS, 5), (D.PRODUCT, 101), (D.OFFER, 1101), (D.OFFER, 1102)}
    assert DirectoryEntry.objects.count() == sum(EXPECTED_COUNTS.values()) + 1
    assert result.summary().startswith(
        "Order statuses: 4 (1 changed, 1 no longer in KeyCRM); Sources (sales channels): 3; "
        "Payment methods: 4 (1 new);")
    assert [e.name for e in directory_entries(account=keycrm_account,
                                              directory=D.ORDER_STATUS, active_only=True)] == [
        "Виконано", "Відправлено", "Нове", "Підтверджено менеджером"]

    # The status comes back: the same row is active again, counted as changed.
    keycrm.seed({"statuses": [{"id": 5, "name": "Скасовано"}]})
    back = directories_sync(account=keycrm_account, client=keycrm_client,
                            directories=[D.ORDER_STATUS])
    assert counts(back) == {D.ORDER_STATUS: (5, 0, 1, 0, "")}
    assert entry(keycrm_account, D.ORDER_STATUS, 5).is_active


def test_a_failing_directory_is_reported_and_the_others_are_synced(keycrm, keycrm_account,
                                                                   keycrm_client):
    keycrm.seed(shop())
    keycrm.set_faults(error_count=10, error_status=500, path_contains="/products")

    result = directories_sync(account=keycrm_account, client=keycrm_client)

    # "/products" also matches "/products/categories": both catalogue lists fail.
    assert not result.ok
    assert [c.directory for c in result.failed] == [D.CATEGORY, D.PRODUCT]
    for failed in result.failed:
        assert failed.error.startswith("KeyCRM 500: GET /products")
        assert "KeyCRM is unavailable" in failed.error
        assert failed.retryable
    assert result.directories[D.PRODUCT].error == (
        "KeyCRM 500: GET /products: KeyCRM is unavailable — Server Error")
    assert {c.directory: c.seen for c in result.succeeded} == {
        name: n for name, n in EXPECTED_COUNTS.items() if name not in (D.CATEGORY, D.PRODUCT)}
    stored = Counter(DirectoryEntry.objects.values_list("directory", flat=True))
    assert stored == {name: n for name, n in EXPECTED_COUNTS.items()
                      if name not in (D.CATEGORY, D.PRODUCT)}
    assert len(keycrm.requests(path_contains="/products")) == 2  # no retries, no more pages
    summary = result.summary()
    assert "Product categories: failed — KeyCRM 500: GET /products/categories" in summary
    assert "Products: failed — KeyCRM 500: GET /products: KeyCRM is unavailable" in summary
    assert "Offers (product variants): 66 (66 new)" in summary
    assert "Products" not in result.summary(with_failures=False)


def test_a_directory_failing_halfway_keeps_what_was_read_and_deactivates_nothing(
        keycrm, keycrm_account, keycrm_client, monkeypatch):
    keycrm.seed(shop())
    directories_sync(account=keycrm_account, client=keycrm_client)
    # KeyCRM now lists only 50 of the 60 accessories: 10 offers are gone…
    data = shop()
    data["products"] = data["products"][:53]
    keycrm.reset()
    keycrm.seed(data)
    # …but the list breaks after its first page: the sync cannot know which are gone.
    monkeypatch.setattr(service, "CHUNK_SIZE", 50)

    def break_after_first_page(directory: str, read: int) -> None:
        if directory == D.OFFER and read == 50:
            keycrm.set_faults(error_count=1, error_status=503, path_contains="/offers")

    result = directories_sync(account=keycrm_account, client=keycrm_client,
                              directories=[D.OFFER, D.MANAGER], progress=break_after_first_page)

    offers = result.directories[D.OFFER]
    assert (offers.seen, offers.created, offers.updated, offers.deactivated) == (50, 0, 0, 0)
    assert offers.error == "KeyCRM 503: GET /offers: KeyCRM is unavailable — Server Error"
    assert result.directories[D.MANAGER].ok
    assert not DirectoryEntry.objects.filter(directory=D.OFFER, is_active=False).exists()
    assert result.summary() == (
        "Offers (product variants): failed after 50 read — KeyCRM 503: GET /offers: KeyCRM is "
        "unavailable — Server Error; Managers: 2.")


def test_unknown_directory_is_refused_before_any_call(keycrm, keycrm_account, keycrm_client):
    with pytest.raises(ValueError, match="buyer"):
        directories_sync(account=keycrm_account, client=keycrm_client,
                         directories=[D.ORDER_STATUS, D.BUYER])
    assert keycrm.requests() == []


def test_accounts_are_kept_apart(keycrm, keycrm_account, keycrm_client):
    other = KeyCrmAccount(name="Інший", api_base_url=f"{keycrm.url}/v1")
    other.set_api_key("test-key")
    other.save()
    keycrm.seed(shop())
    directories_sync(account=other, client=keycrm_client, directories=[D.ORDER_STATUS])
    result = directories_sync(account=keycrm_account, client=keycrm_client,
                              directories=[D.ORDER_STATUS])
    assert counts(result) == {D.ORDER_STATUS: (5, 5, 0, 0, "")}
    assert DirectoryEntry.objects.filter(account=other).count() == 5


# --- the command ------------------------------------------------------------------------------
def test_command_prints_progress_and_the_summary(keycrm, keycrm_account):
    keycrm.seed(shop())
    out = StringIO()
    call_command("keycrm_sync_directories", "--account", "Магазин",
                 "--directory", "order_status", "--directory", "offer", stdout=out)
    assert out.getvalue().splitlines() == [
        "Магазин:",
        "  Order statuses…",
        "  Order statuses: 5 read",
        "  Offers (product variants)…",
        "  Offers (product variants): 66 read",
        "Order statuses: 5 (5 new); Offers (product variants): 66 (66 new).",
    ]
    assert set(DirectoryEntry.objects.values_list("directory", flat=True)) == {
        D.ORDER_STATUS, D.OFFER}
    assert {r["path"] for r in keycrm.requests()} == {"/v1/order/status", "/v1/offers"}


def test_command_syncs_every_enabled_account_and_fails_when_a_directory_failed(
        keycrm, keycrm_account, settings):
    settings.KEYCRM_MAX_RETRIES = 0
    disabled = KeyCrmAccount(name="Вимкнений", api_base_url=f"{keycrm.url}/v1", enabled=False)
    disabled.set_api_key("test-key")
    disabled.save()
    keycrm.seed(shop())
    keycrm.set_faults(error_count=1, error_status=500, path_contains="/users")
    out, err = StringIO(), StringIO()

    with pytest.raises(CommandError, match="1 director"):
        call_command("keycrm_sync_directories", stdout=out, stderr=err)

    assert "Order statuses: 5 (5 new);" in out.getvalue()
    assert ("Managers: failed — KeyCRM 500: GET /users: KeyCRM is unavailable — Server Error."
            in out.getvalue())
    assert "Магазин: Managers: failed — KeyCRM 500" in err.getvalue()
    assert "Вимкнений" not in out.getvalue()
    assert not DirectoryEntry.objects.filter(account=disabled).exists()
    assert DirectoryEntry.objects.filter(account=keycrm_account).count() == (
        sum(EXPECTED_COUNTS.values()) - EXPECTED_COUNTS[D.MANAGER])


def test_command_refuses_an_unknown_account(keycrm_account):
    with pytest.raises(CommandError, match="No KeyCRM account named Немає"):
        call_command("keycrm_sync_directories", "--account", "Немає", stdout=StringIO())


# --- the admin --------------------------------------------------------------------------------
def test_changelist_shows_the_linked_bas_element_without_a_query_per_row(
        keycrm, keycrm_account, keycrm_client, admin_client):
    keycrm.seed(shop())
    directories_sync(account=keycrm_account, client=keycrm_client,
                     directories=[D.PRODUCT, D.OFFER])
    Correspondence.objects.create(
        account=keycrm_account, directory=D.OFFER, keycrm_id=1003,
        bas_entity_set="Catalog_Номенклатура", bas_ref="6a1c2f34-0000-4000-8000-000000000001",
        bas_presentation="Футболка базова біла M (БАС)")
    Correspondence.objects.create(
        account=keycrm_account, directory=D.PRODUCT, keycrm_id=102,
        bas_entity_set="Catalog_Номенклатура", bas_ref="6a1c2f34-0000-4000-8000-000000000002",
        bas_presentation="Сумка-шопер (БАС)")
    # Same KeyCRM id in another directory: must not be shown on the offer.
    Correspondence.objects.create(
        account=keycrm_account, directory=D.PRODUCT, keycrm_id=1001,
        bas_entity_set="Catalog_Номенклатура", bas_ref="6a1c2f34-0000-4000-8000-000000000003",
        bas_presentation="Не ця позиція")
    url = reverse("admin:mappings_directoryentry_changelist")

    def page(**params) -> tuple[str, int]:
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(url, params)
        assert response.status_code == 200
        return response.content.decode(), len(queries)

    offers_page, offer_queries = page(directory__exact=D.OFFER)
    assert "Футболка базова біла M (БАС)" in offers_page
    assert "Не ця позиція" not in offers_page
    products_page, _ = page(directory__exact=D.PRODUCT, q="шопер")
    assert "Сумка-шопер (БАС)" in products_page
    # 66 rows or 6 rows: the same number of queries.
    _, fewer_queries = page(directory__exact=D.OFFER, q="Футболка")
    assert offer_queries == fewer_queries
    # Found by KeyCRM id and by SKU.
    by_id, _ = page(q="1003")
    assert "Футболка базова (M, Білий)" in by_id
    assert "Футболка базова (S, Чорний)" not in by_id
    by_sku, _ = page(q="HOD-XL")
    assert "Худі з капюшоном (XL)" in by_sku
    assert "Худі з капюшоном (L)<" not in by_sku


def test_directory_entries_are_read_only(keycrm, keycrm_account, keycrm_client, admin_client):
    keycrm.seed(shop())
    directories_sync(account=keycrm_account, client=keycrm_client, directories=[D.CUSTOM_FIELD])
    field = entry(keycrm_account, D.CUSTOM_FIELD, 2)

    add = admin_client.get(reverse("admin:mappings_directoryentry_add"))
    assert add.status_code == 403
    change_url = reverse("admin:mappings_directoryentry_change", args=[field.pk])
    view = admin_client.get(change_url)
    assert view.status_code == 200
    html = view.content.decode()
    assert "OR_1002" in html  # the raw data is shown
    assert 'name="_save"' not in html
    admin_client.post(change_url, {"name": "Змінено"})
    field.refresh_from_db()
    assert field.name == "Форма оплати"
    delete = admin_client.get(reverse("admin:mappings_directoryentry_delete", args=[field.pk]))
    assert delete.status_code == 403


def test_sync_action_on_the_account_admin_reports_per_account(
        keycrm, keycrm_account, admin_client, monkeypatch, settings):
    settings.KEYCRM_MAX_RETRIES = 0
    # Attached here the way KeyCrmAccountAdmin.actions will list it.
    account_admin = admin.site._registry[KeyCrmAccount]
    monkeypatch.setattr(account_admin, "actions",
                        [*account_admin.actions, sync_directories_action])
    keycrm.seed(shop())
    keycrm.set_faults(error_count=1, error_status=500, path_contains="/custom-fields")

    response = admin_client.post(
        reverse("admin:accounts_keycrmaccount_changelist"),
        {"action": "sync_directories_action", "_selected_action": [keycrm_account.pk]},
        follow=True)

    assert response.status_code == 200
    reported = [(m.level_tag, m.message) for m in response.context["messages"]]
    assert reported == [
        ("warning",
         "Магазин: Order statuses: 5 (5 new); Sources (sales channels): 3 (3 new); "
         "Payment methods: 3 (3 new); Delivery services: 2 (2 new); "
         "Product categories: 4 (4 new); Products: 63 (63 new); "
         "Offers (product variants): 66 (66 new); Managers: 2 (2 new)."),
        ("error", "Магазин: Custom fields: failed — KeyCRM 500: GET /custom-fields: KeyCRM is "
                  "unavailable — Server Error"),
    ]
    assert DirectoryEntry.objects.filter(account=keycrm_account).count() == (
        sum(EXPECTED_COUNTS.values()) - EXPECTED_COUNTS[D.CUSTOM_FIELD])


# --- the tasks --------------------------------------------------------------------------------
def test_task_syncs_and_retries_only_the_directories_that_failed_retryably(
        keycrm, keycrm_account, settings):
    settings.KEYCRM_MAX_RETRIES = 0
    keycrm.seed(shop())
    keycrm.set_faults(error_count=1, error_status=500, path_contains="/users")

    tasks.sync_account_directories.apply(args=[keycrm_account.pk])

    assert Counter(DirectoryEntry.objects.values_list("directory", flat=True)) == \
        EXPECTED_COUNTS
    # The retry asked for the managers alone.
    assert [r["path"] for r in keycrm.requests(path_contains="/users")] == ["/v1/users"] * 2
    assert len(keycrm.requests(path_contains="/order/status")) == 1


def test_task_skips_a_disabled_account(keycrm, keycrm_account):
    keycrm_account.enabled = False
    keycrm_account.save()
    keycrm.seed(shop())
    tasks.sync_account_directories.apply(args=[keycrm_account.pk])
    assert keycrm.requests() == []


def test_sync_all_queues_one_task_per_enabled_account(keycrm, keycrm_account, monkeypatch,
                                                      django_capture_on_commit_callbacks):
    disabled = KeyCrmAccount(name="Вимкнений", api_base_url=f"{keycrm.url}/v1", enabled=False)
    disabled.set_api_key("test-key")
    disabled.save()
    queued: list[int] = []
    monkeypatch.setattr(tasks.sync_account_directories, "delay", queued.append)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.sync_all_directories.apply()
    assert queued == [keycrm_account.pk]
