"""The ``shop`` fixture (registered in ``tests/conftest.py``): a shop fully set up for the order
pipeline: KeyCRM directories, BAS reference data, the BAS
Small Business preset with its fixed values picked, status correspondence for every status."""

from __future__ import annotations

import dataclasses

import pytest

from mappings.models import StatusCorrespondence
from mappings.services.profiles import profile_apply_preset
from tests.presets import pick_small_business_references

STATUSES = ("Нове", "Підтверджено", "Відправлено", "Скасовано")


@dataclasses.dataclass
class Shop:
    account: object
    profile: object
    statuses: dict[str, int]  # name → KeyCRM id
    states: dict[str, str]  # KeyCRM status name → BAS state Ref_Key
    source_id: int
    items: dict[str, str]  # SKU → BAS nomenclature Ref_Key

    def order(self, keycrm, *, status: str = "Нове", phone: str = "067 123 45 67",
              email: str = "olena@example.com", skus: tuple[str, ...] = ("TSH-BLK", "CAP-1"),
              name: str = "Олена Коваль", **extra) -> int:
        """A new order in the KeyCRM emulator; returns its id."""
        buyer = {"full_name": name}
        if phone:
            buyer["phone"] = phone
        if email:
            buyer["email"] = email
        return keycrm.seed({"orders": [{
            "source_id": self.source_id, "status_id": self.statuses[status], "buyer": buyer,
            "products": [{"sku": sku, "name": sku, "price": 100 * (i + 1), "quantity": i + 1}
                         for i, sku in enumerate(skus)],
            **extra}]})["orders"][0]


@pytest.fixture
def shop(db, keycrm, bas, keycrm_account, bas_connection) -> Shop:
    keycrm_account.bas_connection = bas_connection
    keycrm_account.save()
    ids = keycrm.seed({"statuses": [{"name": name} for name in STATUSES],
                       "sources": [{"name": "Сайт", "currency_code": "UAH"}],
                       "products": [{"name": "Футболка", "sku": "TSH-BLK", "price": 100},
                                    {"name": "Кепка", "sku": "CAP-1", "price": 200}]})
    ref = bas.reference("sb")
    items = bas.seed("sb", {"Catalog_Номенклатура": [
        {"Description": "Футболка", "Артикул": "TSH-BLK"},
        {"Description": "Кепка", "Артикул": "CAP-1"}]})["Catalog_Номенклатура"]
    states = bas.seed("sb", {"Catalog_СостоянияЗаказовПокупателей": [
        {"Description": name} for name in STATUSES]})["Catalog_СостоянияЗаказовПокупателей"]
    profile = profile_apply_preset(account=keycrm_account,
                                   preset_key="small_business_order").profile
    pick_small_business_references(profile, ref)
    statuses = dict(zip(STATUSES, ids["statuses"], strict=True))
    for (name, status_id), state in zip(statuses.items(), states, strict=True):
        StatusCorrespondence.objects.create(
            account=keycrm_account, keycrm_status_id=status_id, keycrm_status_name=name,
            bas_value=state, bas_entity_set="Catalog_СостоянияЗаказовПокупателей",
            bas_presentation=name)
    return Shop(account=keycrm_account, profile=profile, statuses=statuses,
                states=dict(zip(STATUSES, states, strict=True)),
                source_id=ids["sources"][0],
                items={"TSH-BLK": items[0], "CAP-1": items[1]})
