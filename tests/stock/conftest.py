"""A shop whose KeyCRM offers are linked to BAS items with balances in one BAS warehouse."""

from __future__ import annotations

import dataclasses

import pytest

from mappings.models import Correspondence, KeyCrmDirectory
from staging.services.outbox import outbox_due, outbox_send
from stock.models import StockSettings

NOMENCLATURE = "Catalog_Номенклатура"
STOCK_REGISTER = "AccumulationRegister_ЗапасыНаСкладах"


@dataclasses.dataclass
class StockShop:
    account: object
    settings: StockSettings
    warehouse_ref: str  # BAS Ref_Key
    warehouse_id: int  # KeyCRM id
    offers: list[int]  # KeyCRM offer ids, in the order of ``items``
    items: list[str]  # BAS nomenclature Ref_Keys
    skus: list[str]

    def move(self, bas, quantities: dict[int, float], *, expense: bool = False) -> None:
        """Receipts (or expenses) of the ``index → quantity`` items in the BAS warehouse."""
        bas.add_movements("sb", STOCK_REGISTER, [
            {"RecordType": "Expense" if expense else "Receipt", "Period": "2025-01-01T00:00:00",
             "Номенклатура_Key": self.items[i], "СтруктурнаяЕдиница_Key": self.warehouse_ref,
             "Количество": quantity} for i, quantity in quantities.items()])


def build_stock_shop(keycrm, bas, account, connection, *, size: int,
                     link: bool = True) -> StockShop:
    account.bas_connection = connection
    account.save(update_fields=["bas_connection"])
    skus = [f"SKU-{i:05d}" for i in range(size)]
    warehouse_id = keycrm.seed({"warehouses": [{"name": "Інтернет-склад"}]})["warehouses"][0]
    keycrm.seed({"products": [{"name": f"Товар {sku}", "sku": sku, "price": 10} for sku in skus]})
    with keycrm.lock:
        offers = [keycrm.store.offers_by_sku[sku] for sku in skus]
    items = bas.seed("sb", {NOMENCLATURE: [{"Description": f"Товар {sku}", "Артикул": sku}
                                           for sku in skus]})[NOMENCLATURE]
    if link:
        Correspondence.objects.bulk_create([
            Correspondence(account=account, directory=KeyCrmDirectory.OFFER, keycrm_id=offer,
                           bas_entity_set=NOMENCLATURE, bas_ref=item, bas_presentation=sku)
            for offer, item, sku in zip(offers, items, skus, strict=True)])
    warehouse_ref = bas.ref("sb", "Catalog_СтруктурныеЕдиницы", "warehouse")
    settings = StockSettings.objects.create(account=account, bas_warehouses=[warehouse_ref],
                                            keycrm_warehouse_id=warehouse_id)
    return StockShop(account=account, settings=settings, warehouse_ref=warehouse_ref,
                     warehouse_id=warehouse_id, offers=offers, items=items, skus=skus)


def send_all() -> int:
    """Send every due outbox message as a worker would; returns how many were sent."""
    sent = 0
    for message_id in outbox_due(limit=10_000):
        message = outbox_send(message_id=message_id, worker="test")
        sent += message is not None
    return sent


def keycrm_quantity(keycrm, offer_id: int, warehouse_id: int) -> float | None:
    with keycrm.lock:
        row = keycrm.store.stocks.get(offer_id, {}).get(warehouse_id)
        return None if row is None else float(row["quantity"])


@pytest.fixture
def stock_shop(db, keycrm, bas, keycrm_account, bas_connection) -> StockShop:
    """Ten linked offers with 1..10 in stock."""
    shop = build_stock_shop(keycrm, bas, keycrm_account, bas_connection, size=10)
    shop.move(bas, {i: i + 1 for i in range(10)})
    return shop
