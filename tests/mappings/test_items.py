"""Products and nomenclature: the "Item" of a mirrored offer, and new items planned into the
group that mirrors the KeyCRM category tree."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from mappings.models import Correspondence, DirectoryEntry, FieldMapping
from mappings.services.directories import directories_sync
from mappings.services.profiles import profile_apply_preset, profile_preview

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue(keycrm, keycrm_account, bas_connection):
    keycrm_account.bas_connection = bas_connection
    keycrm_account.save()
    clothes = keycrm.seed({"categories": [{"name": "Одяг"}]})["categories"][0]
    tshirts = keycrm.seed({"categories": [{"name": "Футболки", "parent_id": clothes}]})[
        "categories"][0]
    keycrm.seed({"products": [{"name": "Футболка", "category_id": tshirts, "offers": [
        {"sku": "TSH-BLK-M", "price": 650, "properties": [{"name": "Колір", "value": "Чорний"},
                                                          {"name": "Розмір", "value": "M"}]},
    ]}]})
    directories_sync(account=keycrm_account)
    offer_id = keycrm.store.offers_by_sku["TSH-BLK-M"]
    line = {"sku": "TSH-BLK-M", "name": "Футболка (Чорний, M)", "quantity": 1, "price_sold": 650,
            "properties": [{"name": "Колір", "value": "Чорний"}, {"name": "Розмір", "value": "M"}],
            "offer": {"id": offer_id, "product_id": keycrm.store.offers[offer_id]["product_id"],
                      "sku": "TSH-BLK-M"}}
    profile = profile_apply_preset(account=keycrm_account,
                                   preset_key="small_business_order").profile
    profile.mappings.exclude(attribute__section="Запасы",
                             attribute__name="Номенклатура_Key").delete()
    return profile, offer_id, {"id": 3, "products": [line]}


def test_the_item_is_set_on_the_offers_mirror_row(admin_client, catalogue, keycrm_account, bas):
    profile, offer_id, order = catalogue
    entry = DirectoryEntry.objects.get(account=keycrm_account, directory="offer",
                                       keycrm_id=offer_id)
    page = admin_client.get(reverse("admin:mappings_directoryentry_change", args=[entry.pk]))
    assert 'data-set="Catalog_Номенклатура"' in page.content.decode()
    item, size = uuid.uuid4(), uuid.uuid4()
    response = admin_client.post(
        reverse("admin:mappings_directoryentry_change", args=[entry.pk]),
        {"item_ref": str(item), "characteristic_ref": str(size), "item_name": "Футболка"})
    assert response.status_code == 302
    link = Correspondence.objects.get(account=keycrm_account, directory="offer",
                                      keycrm_id=offer_id)
    assert (link.bas_ref, link.bas_characteristic_ref) == (item, size)
    plan = profile_preview(profile=profile, order=order)
    assert plan.body()["Запасы"] == [{"LineNumber": "1", "Номенклатура_Key": str(item),
                                      "Характеристика_Key": str(size)}]


def test_a_status_row_has_no_item_and_stays_read_only(admin_client, catalogue, keycrm_account,
                                                      keycrm):
    keycrm.seed({"statuses": [{"name": "Нове"}]})
    directories_sync(account=keycrm_account, directories=["order_status"])
    entry = DirectoryEntry.objects.get(account=keycrm_account, directory="order_status")
    page = admin_client.get(reverse("admin:mappings_directoryentry_change", args=[entry.pk]))
    assert "item_ref" not in page.content.decode()


def test_a_missing_item_is_planned_in_the_group_mirroring_the_category(catalogue):
    profile, _, order = catalogue
    FieldMapping.objects.filter(profile=profile).update(create_if_missing=True)
    plan = profile_preview(profile=profile, order=order)
    assert plan.problems == []
    [creation] = plan.creations
    assert creation.entity_set == "Catalog_Номенклатура"
    assert creation.group_path == ("Одяг", "Футболки")
    assert creation.characteristic == "Чорний, M"
    assert creation.body == {"Description": "Футболка (Чорний, M)",
                             "НаименованиеПолное": "Футболка (Чорний, M)",
                             "Артикул": "TSH-BLK-M"}
    assert "Артикул = TSH-BLK-M: none found" in creation.reason


def test_without_the_setting_a_missing_item_stops_with_the_sku(catalogue):
    profile, _, order = catalogue
    plan = profile_preview(profile=profile, order=order)
    assert plan.creations == []
    assert "Артикул = TSH-BLK-M: none found" in plan.problems[0].message
    assert plan.problems[0].where == "Запасы[1].Номенклатура_Key"
