"""The BAS Small Business emulator knows the retail receipt (``Document_ЧекККМ``) and its fiscal
register catalog (``Catalog_КассыККМ``): both are in ``$metadata``, a receipt's total comes from
its goods, and posting checks the register, the retail unit, the lines and that the money taken
covers the receipt. BAS Бухгалтерія publishes no such document."""

from __future__ import annotations

# ruff: noqa: F811 - the fixtures of test_bas_emulator are imported to be used by name here
from tests.emulators.test_bas_emulator import (  # noqa: F401 - fixtures
    EMPTY,
    UNIT_TYPE,
    Bas,
    acc,
    emu,
    goods,
    odata_error,
    post,
    ref,
    sb,
    server,
)

RECEIPT = "Document_ЧекККМ"


def _receipt_body(emu, goods: dict[str, str], register: str, **overrides) -> dict:
    body = {
        "Организация_Key": ref(emu, "Catalog_Организации", "main"),
        "КассаККМ_Key": register,
        "СтруктурнаяЕдиница_Key": ref(emu, "Catalog_СтруктурныеЕдиницы", "warehouse"),
        "ВалютаДокумента_Key": ref(emu, "Catalog_Валюты", "UAH"),
        "Курс": 1, "Кратность": 1, "НалогообложениеНДС": "ОблагаетсяНДС",
        "СуммаВключаетНДС": True, "Статус": "Пробит", "НомерЧекаККМ": "FN-77",
        "СсылкаНаЧек": "https://check.example/FN-77",
        "Запасы": [{"LineNumber": "1", "Номенклатура_Key": goods["cap"], "Количество": 2,
                    "ЕдиницаИзмерения": ref(emu, "Catalog_КлассификаторЕдиницИзмерения", "pcs"),
                    "ЕдиницаИзмерения_Type": UNIT_TYPE, "Цена": 150, "Сумма": 300,
                    "Всего": 300, "СтавкаНДС_Key": ref(emu, "Catalog_СтавкиНДС", "20")}],
        "ОплатаПлатежнымиКартами": [{"LineNumber": "1", "Сумма": 300,
                                     "СсылочныйНомер": "tx-1"}],
    }
    return {**body, **overrides}


def test_a_retail_receipt_is_published_totalled_and_posted(emu, sb: Bas,
                                                          goods: dict[str, str]) -> None:
    names = [s["name"] for s in sb.get("").json()["value"]]
    assert {RECEIPT, "Catalog_КассыККМ"} <= set(names)
    [register] = emu.seed("sb", {"Catalog_КассыККМ": [
        {"Description": "ПРРО магазину", "РегистрационныйНомер": "4000123456"}]}
    )["Catalog_КассыККМ"]

    created = sb.post(RECEIPT, _receipt_body(emu, goods, register))
    assert created.status_code == 201, created.text
    receipt = created.json()
    assert (receipt["СуммаДокумента"], receipt["НомерЧекаККМ"], receipt["Number"][:5]) == (
        300, "FN-77", "ЧК00-")
    assert post(sb, RECEIPT, receipt["Ref_Key"]).status_code == 200
    assert sb.get(f"{RECEIPT}(guid'{receipt['Ref_Key']}')").json()["Posted"] is True
    found = sb.values(RECEIPT, {"$filter": "НомерЧекаККМ eq 'FN-77'",
                                "$select": "Ref_Key,СсылкаНаЧек"})
    assert found == [{"Ref_Key": receipt["Ref_Key"],
                      "СсылкаНаЧек": "https://check.example/FN-77"}]


def test_posting_a_receipt_checks_register_and_money(emu, sb: Bas,
                                                     goods: dict[str, str]) -> None:
    [register] = emu.seed("sb", {"Catalog_КассыККМ": [{"Description": "ПРРО"}]}
                          )["Catalog_КассыККМ"]
    no_register = sb.post(RECEIPT, _receipt_body(emu, goods, EMPTY)).json()
    message = odata_error(post(sb, RECEIPT, no_register["Ref_Key"]))[1]
    assert "Поле \"КассаККМ\" не заповнено" in message
    unpaid = sb.post(RECEIPT, _receipt_body(emu, goods, register,
                                            ОплатаПлатежнымиКартами=[],
                                            ПолученоНаличными=100)).json()
    failed = post(sb, RECEIPT, unpaid["Ref_Key"])
    assert failed.status_code == 500
    assert odata_error(failed)[1] == "Сума оплати (100) менша за суму чека (300)"
    cash = sb.post(RECEIPT, _receipt_body(emu, goods, register, ОплатаПлатежнымиКартами=[],
                                          ПолученоНаличными=300)).json()
    assert post(sb, RECEIPT, cash["Ref_Key"]).status_code == 200


def test_accounting_publishes_no_retail_receipt(acc: Bas) -> None:
    names = {s["name"] for s in acc.get("").json()["value"]}
    assert RECEIPT not in names
    assert acc.get(RECEIPT).status_code == 404
