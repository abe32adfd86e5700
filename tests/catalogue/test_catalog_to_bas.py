"""KeyCRM catalogue → BAS nomenclature, against both emulators."""

from __future__ import annotations

from collections import Counter

import pytest

from catalogue.models import OfferMode
from integration.bas.client import BasError
from integration.pipelines.catalog_to_bas import CatalogueConfigError, catalog_to_bas
from mappings.models import Correspondence, KeyCrmDirectory
from tests.catalogue.conftest import bas_for, bas_writes, seed_keycrm_tree

NOMENCLATURE = "Catalog_Номенклатура"
CHARACTERISTICS = "Catalog_ХарактеристикиНоменклатуры"
EMPTY = "00000000-0000-0000-0000-000000000000"


def _tree_paths(bas, base: str) -> dict[str, tuple[str, ...]]:
    """Group Ref_Key → its path of names from the root."""
    folders = {o["Ref_Key"]: o for o in bas.objects(base, NOMENCLATURE) if o["IsFolder"]}

    def path(ref: str) -> tuple[str, ...]:
        folder = folders[ref]
        parent = folder["Parent_Key"]
        return (*(path(parent) if parent != EMPTY else ()), folder["Description"])

    return {ref: path(ref) for ref in folders}


def _run(account, settings, keycrm_client, **kwargs):
    bas = bas_for(account)
    try:
        return catalog_to_bas(account=account, settings=settings, keycrm=keycrm_client, bas=bas,
                              **kwargs)
    finally:
        bas.close()


@pytest.mark.django_db
def test_tree_with_characteristics_lands_in_small_business_and_rerun_writes_nothing(
        keycrm, bas, sb_settings, clients) -> None:
    keycrm_client, _ = clients
    seed_keycrm_tree(keycrm)
    account = sb_settings.account

    report = _run(account, sb_settings, keycrm_client)

    paths = _tree_paths(bas, "sb")
    assert len(paths) == 2 + 6 + 12
    assert max(len(p) for p in paths.values()) == 3
    assert ("Розділ 1", "Група 1.2", "Підгрупа 1.2.1") in paths.values()
    items = [o for o in bas.objects("sb", NOMENCLATURE) if not o["IsFolder"]
             and o["Description"].startswith("Товар")]
    assert len(items) == 300
    item = next(o for o in items if o["Description"] == "Товар 7")
    # Товар 7 sits in the leaf 7 % 12 = 7 → Розділ 1 / Група 1.0 / Підгрупа 1.0.1
    assert paths[item["Parent_Key"]] == ("Розділ 1", "Група 1.0", "Підгрупа 1.0.1")
    assert item["ИспользоватьХарактеристики"] is True
    assert item["ТипНоменклатуры"] == "Запас"
    assert item["КатегорияНоменклатуры_Key"] == str(sb_settings.category_ref)
    characteristics = bas.objects("sb", CHARACTERISTICS)
    assert len(characteristics) == 900
    assert sorted(c["Description"] for c in characteristics
                  if c["Owner"] == item["Ref_Key"]) == ["L", "M", "S"]
    assert report.created == 20 + 300 + 900
    assert Correspondence.objects.filter(account=account,
                                         directory=KeyCrmDirectory.OFFER).count() == 900
    link = Correspondence.objects.get(account=account, directory=KeyCrmDirectory.PRODUCT,
                                      keycrm_id=keycrm.store.products[8]["id"])
    assert str(link.bas_ref) == item["Ref_Key"]
    assert bas_writes(bas, "sb") == 20 + 300 + 900

    bas.clear_log()
    again = _run(account, sb_settings, keycrm_client)
    assert bas_writes(bas, "sb") == 0
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1220)


@pytest.mark.django_db
def test_a_renamed_product_patches_only_its_item(keycrm, bas, sb_settings, clients) -> None:
    keycrm_client, _ = clients
    seeded = seed_keycrm_tree(keycrm, products=5)
    _run(sb_settings.account, sb_settings, keycrm_client)
    keycrm.store.products[seeded["product_ids"][2]]["name"] = "Товар перейменований"
    bas.clear_log()

    report = _run(sb_settings.account, sb_settings, keycrm_client)

    patches = bas.requests(method="PATCH")
    assert len(patches) == 1
    assert bas_writes(bas, "sb") == 1
    assert report.updated == 1
    assert any(o["Description"] == "Товар перейменований"
               for o in bas.objects("sb", NOMENCLATURE))


@pytest.mark.django_db
def test_dry_run_writes_nothing_and_lists_the_changes(keycrm, bas, sb_settings, clients) -> None:
    keycrm_client, _ = clients
    seed_keycrm_tree(keycrm, products=4)

    report = _run(sb_settings.account, sb_settings, keycrm_client, dry_run=True)

    assert bas_writes(bas, "sb") == 0
    assert report.created == 20 + 4 + 12
    assert {"action": "create", "what": "group «Розділ 0»"} in report.changes
    assert not Correspondence.objects.filter(account=sb_settings.account).exists()


@pytest.mark.django_db
def test_accounting_each_offer_a_separate_item(keycrm, bas, acc_settings, clients) -> None:
    keycrm_client, _ = clients
    seed_keycrm_tree(keycrm)
    acc_settings.offer_mode = OfferMode.SEPARATE
    acc_settings.save()

    _run(acc_settings.account, acc_settings, keycrm_client)

    items = [o for o in bas.objects("acc", NOMENCLATURE) if not o["IsFolder"]]
    assert len(items) == 900
    item = next(o for o in items if o["Артикул"] == "P7-M")
    assert item["Description"] == "Товар 7 (M)"
    assert item["СтавкаНДС"] == "НДС20"
    assert _tree_paths(bas, "acc")[item["Parent_Key"]] == (
        "Розділ 1", "Група 1.0", "Підгрупа 1.0.1")
    link = Correspondence.objects.get(account=acc_settings.account,
                                      directory=KeyCrmDirectory.OFFER,
                                      keycrm_id=keycrm.store.offers_by_sku["P7-M"])
    assert str(link.bas_ref) == item["Ref_Key"]
    assert link.bas_characteristic_ref is None
    assert bas_writes(bas, "acc") == 20 + 900

    bas.clear_log()
    _run(acc_settings.account, acc_settings, keycrm_client)
    assert bas_writes(bas, "acc") == 0


@pytest.mark.django_db
def test_accounting_one_item_per_product(keycrm, bas, acc_settings, clients) -> None:
    keycrm_client, _ = clients
    seed_keycrm_tree(keycrm)
    acc_settings.offer_mode = OfferMode.ONE_ITEM
    acc_settings.save()

    _run(acc_settings.account, acc_settings, keycrm_client)

    items = [o for o in bas.objects("acc", NOMENCLATURE) if not o["IsFolder"]]
    assert len(items) == 300
    assert Counter(o["Description"] for o in items)["Товар 7"] == 1
    shirt = next(o for o in items if o["Description"] == "Товар 7")
    offer_links = Correspondence.objects.filter(
        account=acc_settings.account, directory=KeyCrmDirectory.OFFER,
        keycrm_id__in=[keycrm.store.offers_by_sku[f"P7-{s}"] for s in "SML"])
    assert {str(link.bas_ref) for link in offer_links} == {shirt["Ref_Key"]}
    assert bas_writes(bas, "acc") == 20 + 300

    bas.clear_log()
    _run(acc_settings.account, acc_settings, keycrm_client)
    assert bas_writes(bas, "acc") == 0


@pytest.mark.django_db
def test_missing_defaults_stop_before_any_write(keycrm, bas, sb_settings, clients) -> None:
    keycrm_client, _ = clients
    seed_keycrm_tree(keycrm, products=2)
    sb_settings.unit_ref = None
    sb_settings.save()

    with pytest.raises(CatalogueConfigError, match="unit"):
        _run(sb_settings.account, sb_settings, keycrm_client)
    assert bas_writes(bas, "sb") == 0


@pytest.mark.django_db
def test_a_bas_failure_mid_run_keeps_what_was_created_and_a_rerun_creates_nothing_twice(
        keycrm, bas, sb_settings, clients) -> None:
    keycrm_client, _ = clients
    seed_keycrm_tree(keycrm, products=100)  # 100 items without an article + 300 characteristics
    done = 0

    def break_bas_at_150(**kwargs: int) -> None:
        nonlocal done
        done += kwargs.get("add", 0)
        if done == 150:  # the next create fails: BAS never repeats a POST blind
            bas.set_faults(error_count=1, only_methods=["POST"])

    with pytest.raises(BasError):
        _run(sb_settings.account, sb_settings, keycrm_client, progress=break_bas_at_150)
    assert bas_writes(bas, "sb") == 20 + 150 + 1

    again = _run(sb_settings.account, sb_settings, keycrm_client)

    items = [o for o in bas.objects("sb", NOMENCLATURE) if not o["IsFolder"]
             and o["Description"].startswith("Товар")]
    assert sorted(Counter(o["Description"] for o in items).values()) == [1] * 100
    assert len(bas.objects("sb", CHARACTERISTICS)) == 300
    assert (again.created, again.unchanged) == (400 - 150, 20 + 150)
