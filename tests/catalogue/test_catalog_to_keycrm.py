"""BAS nomenclature → KeyCRM catalogue, and prices / cost price → KeyCRM offers."""

from __future__ import annotations

import pytest

from catalogue.models import CostSource
from integration.pipelines.catalog_to_keycrm import catalog_to_keycrm
from integration.pipelines.prices_to_keycrm import COST, PRICE, prices_to_keycrm
from staging.models import OutboxMessage, OutboxState
from tests.catalogue.conftest import bas_for, send_outbox

NOMENCLATURE = "Catalog_Номенклатура"
CHARACTERISTICS = "Catalog_ХарактеристикиНоменклатуры"
PRICES = "InformationRegister_ЦеныНоменклатуры"


def _seed_group(bas, settings, *, items: int = 500, sizes=("S", "M")) -> dict:
    ref = bas.reference("sb")
    group = bas.seed("sb", {NOMENCLATURE: [{"IsFolder": True, "Description": "Одяг"}]})[
        NOMENCLATURE][0]
    refs = bas.seed("sb", {NOMENCLATURE: [{
        "Description": f"Сукня {n}", "Артикул": f"DR-{n}", "Parent_Key": group,
        "ТипНоменклатуры": "Запас", "ИспользоватьХарактеристики": True,
        "ЕдиницаИзмерения_Key": ref["Catalog_КлассификаторЕдиницИзмерения"]["pcs"],
        "КатегорияНоменклатуры_Key": ref["Catalog_КатегорииНоменклатуры"]["goods"],
    } for n in range(items)]})[NOMENCLATURE]
    chars = bas.seed("sb", {CHARACTERISTICS: [
        {"Description": size, "Owner": item, "Owner_Type": f"StandardODATA.{NOMENCLATURE}"}
        for item in refs for size in sizes]})[CHARACTERISTICS]
    settings.export_groups = [group]
    settings.save()
    return {"group": group, "items": refs, "characteristics": chars}


def _export(settings, **kwargs):
    bas = bas_for(settings.account)
    try:
        return catalog_to_keycrm(account=settings.account, settings=settings, bas=bas, **kwargs)
    finally:
        bas.close()


def _writes(keycrm) -> list[dict]:
    return [r for r in keycrm.requests() if r["method"] in ("POST", "PUT")]


@pytest.mark.django_db
def test_group_of_500_items_reaches_keycrm_in_the_fewest_calls(keycrm, bas, sb_settings) -> None:
    seeded = _seed_group(bas, sb_settings)

    report = _export(sb_settings)
    sent = send_outbox()

    assert report.queued_messages == 1 + 5
    assert all(m.state == OutboxState.SENT for m in sent), [m.message for m in sent]
    store = keycrm.store
    assert [c["name"] for c in store.categories.values()] == ["Одяг"]
    assert len(store.products) == 500
    product = store.products[store.offers[store.offers_by_sku["DR-7"]]["product_id"]]
    assert product["name"] == "Сукня 7"
    assert product["category_id"] == next(iter(store.categories))
    variant = store.offers[store.offers_by_sku["DR-7/M"]]
    assert variant["product_id"] == product["id"]
    assert variant["properties"] == [{"name": "Характеристика", "value": "M"}]
    writes = _writes(keycrm)
    # 1 category + 500 / 100 imports + one variants call per product: the API has no bulk
    # variant create across products.
    assert len(writes) == 1 + 5 + 500
    assert sum(1 for r in writes if r["path"] == "/v1/products/import") == 5
    # reads: the category list, and per batch of 100 the SKU look-up before and after (2 × 2)
    assert len(keycrm.requests(method="GET")) == 1 + 5 * 4
    assert len(seeded["characteristics"]) == 1000

    keycrm.clear_log()
    again = _export(sb_settings)
    send_outbox()
    assert again.queued_messages == 0
    assert again.unchanged == 501
    assert keycrm.requests() == []


@pytest.mark.django_db
def test_renamed_item_is_renamed_in_keycrm_alone(keycrm, bas, sb_settings) -> None:
    seeded = _seed_group(bas, sb_settings, items=3)
    _export(sb_settings)
    send_outbox()
    bas.infobase("sb").update(NOMENCLATURE, seeded["items"][1], {"Description": "Сукня нова"})
    keycrm.clear_log()

    report = _export(sb_settings)
    send_outbox()

    assert report.updated == 1
    puts = keycrm.requests(method="PUT")
    assert len(puts) == 1
    product = keycrm.store.products[puts[0]["path"].rsplit("/", 1)[1] and int(
        puts[0]["path"].rsplit("/", 1)[1])]
    assert product["name"] == "Сукня нова"
    assert keycrm.requests(method="POST") == []


def _prices(bas, price_type, rows, period="2025-01-01T00:00:00"):
    bas.add_movements("sb", PRICES, [
        {"Period": period, "ВидЦен_Key": price_type, "Номенклатура_Key": item,
         "Характеристика_Key": char, "Цена": price} for item, char, price in rows])


def _push(settings, field):
    bas = bas_for(settings.account)
    try:
        report = prices_to_keycrm(account=settings.account, settings=settings, bas=bas,
                                  field=field)
    finally:
        bas.close()
    send_outbox()
    return report


@pytest.mark.django_db
@pytest.mark.parametrize("field", [PRICE, COST])
def test_changed_price_or_cost_of_10_items_sends_exactly_those(keycrm, bas, sb_settings,
                                                               field) -> None:
    seeded = _seed_group(bas, sb_settings, items=40, sizes=("S",))
    _export(sb_settings)
    send_outbox()
    price_type = str(sb_settings.price_type_ref if field == PRICE
                     else sb_settings.cost_price_type_ref)
    items, chars = seeded["items"], seeded["characteristics"]
    _prices(bas, price_type, [(item, char, 100 + n)
                              for n, (item, char) in enumerate(zip(items, chars, strict=True))])
    keycrm.clear_log()

    first = _push(sb_settings, field)

    assert first.updated == 40
    assert len(keycrm.requests(method="PUT", path_contains="/offers")) == 1
    assert keycrm.store.offers[keycrm.store.offers_by_sku["DR-3/S"]][field] == 103
    keycrm.clear_log()
    _prices(bas, price_type, [(items[n], chars[n], 500 + n) for n in range(10, 20)],
            period="2025-02-01T00:00:00")

    second = _push(sb_settings, field)

    assert (second.updated, second.unchanged) == (10, 30)
    assert len(keycrm.requests(method="PUT")) == 1
    message = OutboxMessage.objects.filter(kind="catalogue.offer_prices").latest("id")
    assert sorted(o["sku"] for o in message.payload["offers"]) == sorted(
        f"DR-{n}/S" for n in range(10, 20))
    assert keycrm.store.offers[keycrm.store.offers_by_sku["DR-12/S"]][field] == 512
    keycrm.clear_log()
    assert _push(sb_settings, field).updated == 0
    assert keycrm.requests() == []


@pytest.mark.django_db
def test_cost_from_the_cost_register(keycrm, bas, sb_settings) -> None:
    seeded = _seed_group(bas, sb_settings, items=2, sizes=("S",))
    _export(sb_settings)
    send_outbox()
    sb_settings.cost_source = CostSource.REGISTER
    sb_settings.save()
    bas.add_movements("sb", "AccumulationRegister_Запасы", [
        {"RecordType": "Receipt", "Period": "2025-01-01T00:00:00",
         "Номенклатура_Key": seeded["items"][0],
         "Характеристика_Key": seeded["characteristics"][0], "Количество": 4, "Сумма": 1000}])

    report = _push(sb_settings, COST)

    assert report.updated == 1
    assert keycrm.store.offers[keycrm.store.offers_by_sku["DR-0/S"]][COST] == 250


@pytest.mark.django_db
@pytest.mark.parametrize("sizes", [(), ("S",)])
def test_an_item_whose_article_changed_stays_the_same_product(keycrm, bas, sb_settings,
                                                              sizes) -> None:
    seeded = _seed_group(bas, sb_settings, items=2, sizes=sizes)
    _export(sb_settings)
    send_outbox()
    store = keycrm.store
    product_id = store.offers[store.offers_by_sku["DR-1"]]["product_id"]
    bas.infobase("sb").update(NOMENCLATURE, seeded["items"][1], {"Артикул": "DR-NEW"})
    keycrm.clear_log()

    report = _export(sb_settings)
    sent = send_outbox()

    assert report.updated == 1
    assert [m.state for m in sent] == [OutboxState.SENT]
    assert len(store.products) == 2
    assert keycrm.requests(method="POST", path_contains="/products/import") == []
    if sizes:  # a variant's SKU cannot change through the API: the new one joins the product
        assert store.offers[store.offers_by_sku["DR-NEW/S"]]["product_id"] == product_id
    else:  # the single offer of a product without variants takes the new SKU
        assert store.offers[store.offers_by_sku["DR-NEW"]]["product_id"] == product_id
        assert "DR-1" not in store.offers_by_sku
