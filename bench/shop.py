"""A shop set up as the test suite's ``shop`` fixture sets it up (tests/shop.py): a KeyCRM
account and a BAS Small Business connection pointing at the emulators, the preset with its
fixed references, and a status correspondence for every status."""

from __future__ import annotations

import dataclasses
import json

from accounts.models import BasConnection, KeyCrmAccount
from emulators.bas import BasEmulator
from emulators.keycrm import KeyCrmEmulator, render
from mappings.models import StatusCorrespondence
from mappings.services.profiles import profile_apply_preset
from tests.presets import pick_small_business_references

API_KEY = "test-key"
BAS_USER, BAS_PASSWORD = "Адміністратор", "secret"
STATUSES = ("Нове", "Підтверджено", "Відправлено", "Скасовано")
SKUS = ("TSH-BLK", "CAP-1")


@dataclasses.dataclass
class Shop:
    account: KeyCrmAccount
    statuses: dict[str, int]
    source_id: int

    def orders(self, keycrm: KeyCrmEmulator, buyers: list[int], *, status: str = "Підтверджено",
               tag: str = "") -> list[int]:
        """One new order per entry of ``buyers`` (buyer k: phone and e-mail of its own)."""
        return keycrm.seed({"orders": [{
            "source_id": self.source_id, "status_id": self.statuses[status],
            "buyer": {"full_name": f"Покупець {tag}{k:05d}", "phone": f"067{k:07d}",
                      "email": f"buyer{tag}{k}@example.com"},
            "products": [{"sku": sku, "name": sku, "price": 100 * (i + 1), "quantity": i + 1}
                         for i, sku in enumerate(SKUS)]} for k in buyers]})["orders"]


def shop_create(*, keycrm: KeyCrmEmulator, bas: BasEmulator, keycrm_url: str, bas_url: str,
                name: str = "Магазин", requests_per_minute: int = 100_000) -> Shop:
    connection = BasConnection(name=f"БАС {name}", publication_url=f"{bas_url}/sb",
                               username=BAS_USER, configuration="small_business")
    connection.set_password(BAS_PASSWORD)
    connection.save()
    account = KeyCrmAccount(name=name, api_base_url=f"{keycrm_url}/v1",
                            requests_per_minute=requests_per_minute, bas_connection=connection)
    account.set_api_key(API_KEY)
    account.save()
    ids = keycrm.seed({"statuses": [{"name": s} for s in STATUSES],
                       "sources": [{"name": "Сайт", "currency_code": "UAH"}],
                       "products": [{"name": "Футболка", "sku": "TSH-BLK", "price": 100},
                                    {"name": "Кепка", "sku": "CAP-1", "price": 200}]})
    bas.seed("sb", {"Catalog_Номенклатура": [{"Description": "Футболка", "Артикул": "TSH-BLK"},
                                             {"Description": "Кепка", "Артикул": "CAP-1"}]})
    states = bas.seed("sb", {"Catalog_СостоянияЗаказовПокупателей": [
        {"Description": s} for s in STATUSES]})["Catalog_СостоянияЗаказовПокупателей"]
    profile = profile_apply_preset(account=account, preset_key="small_business_order").profile
    pick_small_business_references(profile, bas.reference("sb"))
    statuses = dict(zip(STATUSES, ids["statuses"], strict=True))
    for (status, status_id), state in zip(statuses.items(), states, strict=True):
        StatusCorrespondence.objects.create(
            account=account, keycrm_status_id=status_id, keycrm_status_name=status,
            bas_value=state, bas_entity_set="Catalog_СостоянияЗаказовПокупателей",
            bas_presentation=status)
    return Shop(account=account, statuses=statuses, source_id=ids["sources"][0])


def webhook_bytes(keycrm: KeyCrmEmulator, order_id: int) -> bytes:
    """What KeyCRM sends for the order as it is now (its row)."""
    with keycrm.lock:
        context = render.webhook_context(keycrm.store, keycrm.store.orders[order_id])
    return json.dumps({"event": "order.change_order_status", "context": context},
                      ensure_ascii=False).encode()
