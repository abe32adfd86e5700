"""An order line whose item BAS does not have, with "create it if missing" on: the item is made
with the defaults BAS requires (from the account's catalogue settings) — or, without them, the
order waits for a person and says which settings to fill in, having written nothing."""

from __future__ import annotations

import pytest

from catalogue.models import CatalogueSettings
from integration.keycrm.client import KeyCrmClient
from mappings.models import FieldMapping
from staging.services.receive import order_snapshot_receive
from tests.staging.test_pipeline import ORDERS, _work

pytestmark = pytest.mark.django_db

ITEMS = "Catalog_Номенклатура"


@pytest.fixture
def creating_items(shop):
    FieldMapping.objects.filter(profile=shop.profile, attribute__name="Номенклатура_Key").update(
        create_if_missing=True)
    return shop


def _receive(shop, order_id):
    """The order as polling stores it: a full snapshot read from KeyCRM."""
    client = KeyCrmClient.for_account(shop.account)
    try:
        order_snapshot_receive(account=shop.account, order=client.get_order(order_id),
                               source="poll")
    finally:
        client.close()


def test_without_item_defaults_the_order_waits_and_names_the_settings(creating_items, keycrm,
                                                                      bas):
    order_id = creating_items.order(keycrm, skus=("NEW-SKU-1",))
    _receive(creating_items, order_id)
    [record] = _work()
    assert record.state == "waiting"
    assert record.problem_kind == "configuration"
    assert "A new item cannot be created in BAS" in record.message
    assert not [i for i in bas.objects("sb", ITEMS) if i.get("Артикул") == "NEW-SKU-1"]
    assert bas.objects("sb", ORDERS) == []


def test_with_item_defaults_the_item_is_created_and_the_order_posted(creating_items, keycrm,
                                                                     bas):
    ref = bas.reference("sb")
    CatalogueSettings.objects.create(
        account=creating_items.account,
        unit_ref=ref["Catalog_КлассификаторЕдиницИзмерения"]["pcs"],
        category_ref=ref["Catalog_КатегорииНоменклатуры"]["goods"],
        vat_rate_ref=ref["Catalog_СтавкиНДС"]["20"])
    order_id = creating_items.order(keycrm, skus=("NEW-SKU-1",))
    _receive(creating_items, order_id)
    [record] = _work()
    assert record.state == "done", record.message
    [item] = [i for i in bas.objects("sb", ITEMS) if i.get("Артикул") == "NEW-SKU-1"]
    assert item["ТипНоменклатуры"] == "Запас"
    assert item["ЕдиницаИзмерения_Key"] == ref["Catalog_КлассификаторЕдиницИзмерения"]["pcs"]
    [document] = bas.objects("sb", ORDERS)
    assert document["Posted"] is True
    assert document["Запасы"][0]["Номенклатура_Key"] == item["Ref_Key"]
