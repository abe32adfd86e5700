"""Catalogue fixtures: settings with the reference data of each base, and helpers that build
catalogues through the emulators' Python API (not one HTTP call per element)."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import BasConnection
from catalogue.models import CatalogueSettings
from integration.bas.client import BasClient
from integration.keycrm.client import KeyCrmClient
from staging.services.outbox import outbox_due, outbox_send
from tests.conftest import BAS_PASSWORD, BAS_USER

SIZES = ("S", "M", "L")


@pytest.fixture
def linked_account(keycrm_account, bas_connection):
    keycrm_account.bas_connection = bas_connection
    # A catalogue export is hundreds of calls: a budget that lets the test run in seconds.
    keycrm_account.requests_per_minute = 100_000
    keycrm_account.save()
    return keycrm_account


@pytest.fixture
def sb_settings(linked_account, bas) -> CatalogueSettings:
    ref = bas.reference("sb")
    return CatalogueSettings.objects.create(
        account=linked_account, unit_ref=ref["Catalog_КлассификаторЕдиницИзмерения"]["pcs"],
        category_ref=ref["Catalog_КатегорииНоменклатуры"]["goods"],
        vat_rate_ref=ref["Catalog_СтавкиНДС"]["20"],
        price_type_ref=ref["Catalog_ВидыЦен"]["retail"],
        cost_price_type_ref=ref["Catalog_ВидыЦен"]["wholesale"])


@pytest.fixture
def acc_settings(linked_account, bas) -> CatalogueSettings:
    connection = linked_account.bas_connection
    connection.publication_url = f"{bas.url}/acc"
    connection.configuration = "accounting"
    connection.save()
    ref = bas.reference("acc")
    return CatalogueSettings.objects.create(
        account=linked_account, unit_ref=ref["Catalog_КлассификаторЕдиницИзмерения"]["pcs"],
        vat_rate="НДС20", price_type_ref=ref["Catalog_ТипыЦенНоменклатуры"]["retail"],
        cost_price_type_ref=ref["Catalog_ТипыЦенНоменклатуры"]["wholesale"])


@pytest.fixture
def clients(linked_account):
    keycrm = KeyCrmClient.for_account(linked_account)
    connection: BasConnection = linked_account.bas_connection
    bas = BasClient(publication_url=connection.publication_url, username=BAS_USER,
                    password=BAS_PASSWORD)
    yield keycrm, bas
    keycrm.close()
    bas.close()


def bas_for(account) -> BasClient:
    connection = account.bas_connection
    connection.refresh_from_db()
    return BasClient(publication_url=connection.publication_url, username=BAS_USER,
                     password=BAS_PASSWORD)


def seed_keycrm_tree(keycrm, *, roots: int = 2, children: int = 3, leaves: int = 2,
                     products: int = 300, sizes: tuple[str, ...] = SIZES) -> dict[str, Any]:
    """A three-level category tree and ``products`` products with one offer per size."""
    categories: list[dict[str, Any]] = []
    leaf_ids: list[int] = []
    next_id = 1
    for r in range(roots):
        root = next_id
        categories.append({"id": root, "name": f"Розділ {r}"})
        next_id += 1
        for c in range(children):
            child = next_id
            categories.append({"id": child, "name": f"Група {r}.{c}", "parent_id": root})
            next_id += 1
            for leaf in range(leaves):
                categories.append({"id": next_id, "name": f"Підгрупа {r}.{c}.{leaf}",
                                   "parent_id": child})
                leaf_ids.append(next_id)
                next_id += 1
    items = [{
        "name": f"Товар {n}", "category_id": leaf_ids[n % len(leaf_ids)],
        "offers": [{"sku": f"P{n}-{size}", "price": 100 + n,
                    "properties": [{"name": "Розмір", "value": size}]} for size in sizes],
    } for n in range(products)]
    ids = keycrm.seed({"categories": categories, "products": items})
    return {"categories": categories, "leaf_ids": leaf_ids, "product_ids": ids["products"]}


def bas_writes(bas, base: str) -> int:
    return sum(1 for r in bas.requests() if r["method"] in ("POST", "PATCH")
               and r["path"].startswith(f"/{base}/"))


def send_outbox() -> list[Any]:
    """Send every due message, as the workers would, oldest first."""
    sent = []
    while due := outbox_due():
        for message_id in due:
            sent.append(outbox_send(message_id=message_id, worker="test"))
    return sent
