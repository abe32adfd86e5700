"""An order's life in BAS Accounting, where the order's document is the sales invoice itself:
paid (a bank receipt whose breakdown names the invoice as the deal) → shipped (nothing to
create, and the log says why) → cancelled (a return based on the invoice; no order to
close)."""

from __future__ import annotations

import pytest

from accounts.models import BasConnection
from documents.models import DocumentAction
from mappings.services.profiles import profile_apply_preset
from tests.conftest import BAS_PASSWORD, BAS_USER
from tests.documents.helpers import set_up_followups, webhook, work
from tests.presets import set_mapping

pytestmark = pytest.mark.django_db

SALES = "Document_РеализацияТоваровУслуг"
BANK = "Document_ПоступлениеНаРасчетныйСчет"
RETURNS = "Document_ВозвратТоваровОтПокупателя"


@pytest.fixture
def acc_shop(shop, keycrm, bas):
    connection = BasConnection(name="БАС Бух", publication_url=f"{bas.url}/acc",
                               username=BAS_USER, configuration="accounting")
    connection.set_password(BAS_PASSWORD)
    connection.save()
    shop.account.bas_connection = connection
    shop.account.save()
    ref = bas.reference("acc")
    pcs = ref["Catalog_КлассификаторЕдиницИзмерения"]["pcs"]
    items = bas.seed("acc", {"Catalog_Номенклатура": [
        {"Description": "Футболка", "Артикул": "TSH-BLK", "БазоваяЕдиницаИзмерения_Key": pcs},
        {"Description": "Кепка", "Артикул": "CAP-1", "БазоваяЕдиницаИзмерения_Key": pcs},
    ]})["Catalog_Номенклатура"]
    [party] = bas.seed("acc", {"Catalog_Контрагенты": [{"Description": "Роздрібний покупець"}]}
                       )["Catalog_Контрагенты"]
    [contract] = bas.seed("acc", {"Catalog_ДоговорыКонтрагентов": [
        {"Description": "Основний", "Owner_Key": party, "ВидДоговора": "СПокупателем"}]}
    )["Catalog_ДоговорыКонтрагентов"]
    profile = profile_apply_preset(account=shop.account, preset_key="accounting_sale").profile
    set_mapping(profile, "Организация_Key", value=ref["Catalog_Организации"]["main"])
    set_mapping(profile, "ДоговорКонтрагента_Key", value=contract)
    set_mapping(profile, "Склад_Key", value=ref["Catalog_Склады"]["main"])
    set_mapping(profile, "ВалютаДокумента_Key", value=ref["Catalog_Валюты"]["UAH"])
    set_mapping(profile, "ЕдиницаИзмерения_Key", "Товары", value=pcs)
    ids = keycrm.seed({"payment_methods": [{"name": "Картка"}, {"name": "Готівка"}]})
    methods = dict(zip(("card", "cash"), ids["payment_methods"], strict=True))
    set_up_followups(account=shop.account, ref=ref, methods=methods, statuses=shop.statuses,
                     shipped="Відправлено", cancelled="Скасовано", cash_desk=False)
    return ref, methods, dict(zip(("TSH-BLK", "CAP-1"), items, strict=True)), contract


def test_paid_shipped_cancelled_in_accounting(client, shop, acc_shop, keycrm, bas):
    ref, methods, items, contract = acc_shop
    order_id = shop.order(keycrm, status="Підтверджено", payments=[
        {"amount": 500, "payment_method_id": methods["card"], "status": "paid"}])
    [payment_id] = [p["id"] for p in keycrm.store.orders[order_id]["payments"]]
    webhook(client, shop.account, keycrm, order_id)
    [record] = work()
    assert record.state == "done", record.message
    [sale] = bas.objects("acc", SALES)
    [bank] = bas.objects("acc", BANK)
    assert (bank["Posted"], bank["СуммаДокумента"], bank["ВидОперации"]) == (
        True, 500, "ОплатаПокупателя")
    assert bank["СчетОрганизации_Key"] == ref["Catalog_БанковскиеСчета"]["main"]
    assert (bank["Контрагент_Key"], bank["ДоговорКонтрагента_Key"]) == (
        sale["Контрагент_Key"], contract)
    assert bank["Комментарий"] == f"KeyCRM payment #{payment_id}"
    assert [(r["Сделка"], r["Сделка_Type"], r["СуммаПлатежа"])
            for r in bank["РасшифровкаПлатежа"]] == [(sale["Ref_Key"], f"StandardODATA.{SALES}",
                                                     500)]

    keycrm.set_order_status(order_id, shop.statuses["Відправлено"])
    webhook(client, shop.account, keycrm, order_id)
    [record] = work()
    assert record.state == "done", record.message
    assert len(bas.objects("acc", SALES)) == 1
    ship = DocumentAction.objects.get(action="ship")
    assert ship.outcome == "skipped"
    assert "itself the sales invoice" in ship.reason

    keycrm.set_order_status(order_id, shop.statuses["Скасовано"])
    webhook(client, shop.account, keycrm, order_id)
    [record] = work()
    assert record.state == "done", record.message
    [returned] = bas.objects("acc", RETURNS)
    assert returned["Posted"] is True
    assert (returned["ДокументОснование"], returned["ДокументОснование_Type"]) == (
        sale["Ref_Key"], f"StandardODATA.{SALES}")
    assert (returned["Контрагент_Key"], returned["ДоговорКонтрагента_Key"],
            returned["Склад_Key"]) == (sale["Контрагент_Key"], contract,
                                       ref["Catalog_Склады"]["main"])
    assert [(r["Номенклатура_Key"], r["Количество"], r["Сумма"]) for r in returned["Товары"]
            ] == [(items["TSH-BLK"], 1, 100), (items["CAP-1"], 2, 400)]
    assert returned["СуммаДокумента"] == sale["СуммаДокумента"] == 500
    close = DocumentAction.objects.get(action="close")
    assert close.outcome == "skipped"
    assert "no customer order" in close.reason

    # The same cancellation again creates nothing.
    webhook(client, shop.account, keycrm, order_id)
    work()
    assert len(bas.objects("acc", RETURNS)) == len(bas.objects("acc", BANK)) == 1
