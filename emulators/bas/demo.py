"""Realistic Ukrainian demo data for both default bases (``--seed-demo``).

Everything is written through the same paths a client uses (documents are posted, so register
balances come from real movements), and every key is deterministic: running the seed twice
gives the same Ref_Keys, which keeps screenshots and manual test notes valid.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .reference import reference_key

if TYPE_CHECKING:
    from .app import BasEmulator

UNIT_TYPE = "StandardODATA.Catalog_КлассификаторЕдиницИзмерения"
NOMENCLATURE_TYPE = "StandardODATA.Catalog_Номенклатура"

# (slug, parent slug or "", name) — three levels of folders.
FOLDERS = [
    ("clothes", "", "Одяг"),
    ("shoes", "", "Взуття"),
    ("accessories", "", "Аксесуари"),
    ("clothes-men", "clothes", "Чоловічий одяг"),
    ("clothes-women", "clothes", "Жіночий одяг"),
    ("shoes-men", "shoes", "Чоловіче взуття"),
    ("shoes-women", "shoes", "Жіноче взуття"),
    ("bags", "accessories", "Сумки та рюкзаки"),
    ("tshirts", "clothes-men", "Футболки"),
    ("jeans", "clothes-men", "Джинси"),
    ("dresses", "clothes-women", "Сукні"),
    ("blouses", "clothes-women", "Блузи"),
    ("sneakers", "shoes-men", "Кросівки"),
    ("boots", "shoes-women", "Черевики"),
]

# (slug, folder, name, article, retail price, sizes, colours)
PRODUCTS = [
    ("tshirt-basic", "tshirts", "Футболка базова бавовняна", "TS-001", 450,
     ("S", "M", "L", "XL"), ("Чорний", "Білий")),
    ("tshirt-print", "tshirts", "Футболка з принтом «Карпати»", "TS-014", 590,
     ("M", "L"), ("Сірий",)),
    ("jeans-slim", "jeans", "Джинси slim fit", "JN-203", 1450, ("30", "32", "34"),
     ("Синій",)),
    ("dress-linen", "dresses", "Сукня лляна міді", "DR-310", 1890, ("S", "M"),
     ("Бежевий", "Оливковий")),
    ("blouse-silk", "blouses", "Блуза шовкова", "BL-118", 1250, ("S", "M", "L"),
     ("Молочний",)),
    ("sneakers-run", "sneakers", "Кросівки бігові Swift", "SN-540", 2790, ("41", "42", "43"),
     ("Чорний",)),
    ("boots-chelsea", "boots", "Черевики челсі шкіряні", "BT-077", 3350, ("37", "38", "39"),
     ("Коричневий",)),
    ("backpack-city", "bags", "Рюкзак міський 20 л", "BG-020", 1190, (), ()),
    ("socks-pack", "clothes-men", "Шкарпетки, набір 3 пари", "SC-003", 190, (), ()),
]

# (slug, name, full name, kind, EDRPOU, phone, e-mail)
CUSTOMERS = [
    ("petrenko", "Петренко Олена", "Петренко Олена Іванівна", "ФизическоеЛицо", "",
     "+380671234567", "olena.petrenko@ukr.net"),
    ("kovalenko", "Коваленко Андрій", "Коваленко Андрій Миколайович", "ФизическоеЛицо", "",
     "+380501112233", "a.kovalenko@gmail.com"),
    ("shevchuk", "ФОП Шевчук Ірина", "ФОП Шевчук Ірина Петрівна",
     "ИндивидуальныйПредприниматель", "3123409876", "+380931234000", "shevchuk.fop@i.ua"),
    ("lvivmoda", "ТОВ «Львів Мода»", "Товариство з обмеженою відповідальністю «Львів Мода»",
     "ЮридическоеЛицо", "43811122", "+380322456789", "info@lvivmoda.com.ua"),
    ("odesa-style", "ТОВ «Одеса Стиль»", "Товариство з обмеженою відповідальністю «Одеса Стиль»",
     "ЮридическоеЛицо", "44122233", "+380487001122", "sales@odesastyle.ua"),
    ("bondar", "Бондар Максим", "Бондар Максим Олегович", "ФизическоеЛицо", "",
     "+380661234321", "m.bondar@meta.ua"),
]
SUPPLIERS = [
    ("textile-ua", "ТОВ «Текстиль Україна»", "43000111", "+380442223344"),
    ("shoe-factory", "ПрАТ «Взуттєва фабрика «Пролісок»", "00306123", "+380572001010"),
]


def seed_demo(emulator: BasEmulator) -> dict[str, Any]:
    summary = {}
    for name, base in emulator.bases.items():
        if base.config.name == "small_business":
            summary[name] = _small_business(emulator, name)
        elif base.config.name == "accounting":
            summary[name] = _accounting(emulator, name)
    return summary


def _key(base: str, set_name: str, slug: str) -> str:
    return reference_key(base, f"demo:{set_name}", slug)


def _folders(base: str) -> list[dict]:
    return [{"Ref_Key": _key(base, "Catalog_Номенклатура", slug), "IsFolder": True,
             "Description": name,
             "Parent_Key": _key(base, "Catalog_Номенклатура", parent) if parent else None}
            for slug, parent, name in FOLDERS]


def _small_business(emulator: BasEmulator, base: str) -> dict[str, int]:
    ref = emulator.ref
    org = ref(base, "Catalog_Организации", "main")
    uah = ref(base, "Catalog_Валюты", "UAH")
    vat20 = ref(base, "Catalog_СтавкиНДС", "20")
    pcs = ref(base, "Catalog_КлассификаторЕдиницИзмерения", "pcs")
    goods = ref(base, "Catalog_КатегорииНоменклатуры", "goods")
    warehouse = ref(base, "Catalog_СтруктурныеЕдиницы", "warehouse")
    retail = ref(base, "Catalog_ВидыЦен", "retail")
    wholesale = ref(base, "Catalog_ВидыЦен", "wholesale")
    phone_kind = ref(base, "Catalog_ВидыКонтактнойИнформации", "ТелефонКонтрагента")
    email_kind = ref(base, "Catalog_ВидыКонтактнойИнформации", "EmailКонтрагента")

    def k(set_name: str, slug: str) -> str:
        return _key(base, set_name, slug)

    parties: list[dict] = [
        {"Ref_Key": k("Catalog_Контрагенты", "buyers"), "IsFolder": True,
         "Description": "Покупці"},
        {"Ref_Key": k("Catalog_Контрагенты", "suppliers"), "IsFolder": True,
         "Description": "Постачальники"},
    ]
    contracts: list[dict] = []
    for slug, name, full, kind, edrpou, phone, email in CUSTOMERS:
        per_contract = kind == "ЮридическоеЛицо"
        parties.append({
            "Ref_Key": k("Catalog_Контрагенты", slug), "Description": name,
            "Parent_Key": k("Catalog_Контрагенты", "buyers"), "НаименованиеПолное": full,
            "ВидКонтрагента": kind, "КодПоЕДРПОУ": edrpou, "Покупатель": True,
            "ВестиРасчетыПоДоговорам": per_contract,
            "ДоговорПоУмолчанию_Key": k("Catalog_ДоговорыКонтрагентов", slug),
            "КонтактнаяИнформация": [
                {"Тип": "Телефон", "Вид_Key": phone_kind, "Представление": _pretty(phone),
                 "НомерТелефона": phone, "НомерТелефонаБезКодов": phone[-7:]},
                {"Тип": "АдресЭлектроннойПочты", "Вид_Key": email_kind,
                 "Представление": email, "АдресЭП": email},
            ]})
        contracts.append(_sb_contract(k, slug, "СПокупателем", org, uah, retail))
    for slug, name, edrpou, phone in SUPPLIERS:
        parties.append({
            "Ref_Key": k("Catalog_Контрагенты", slug), "Description": name,
            "Parent_Key": k("Catalog_Контрагенты", "suppliers"), "НаименованиеПолное": name,
            "ВидКонтрагента": "ЮридическоеЛицо", "КодПоЕДРПОУ": edrpou, "Поставщик": True,
            "ВестиРасчетыПоДоговорам": True,
            "ДоговорПоУмолчанию_Key": k("Catalog_ДоговорыКонтрагентов", slug),
            "КонтактнаяИнформация": [
                {"Тип": "Телефон", "Вид_Key": phone_kind, "Представление": _pretty(phone),
                 "НомерТелефона": phone}]})
        contracts.append(_sb_contract(k, slug, "СПоставщиком", org, uah, wholesale))

    items = _folders(base)
    characteristics: list[dict] = []
    prices: list[dict] = []
    receipt_rows: dict[str, list[dict]] = {"textile-ua": [], "shoe-factory": []}
    for slug, folder, name, article, price, sizes, colours in PRODUCTS:
        item_key = k("Catalog_Номенклатура", slug)
        items.append({
            "Ref_Key": item_key, "Description": name, "НаименованиеПолное": name,
            "Parent_Key": k("Catalog_Номенклатура", folder), "Артикул": article,
            "ТипНоменклатуры": "Запас", "ЕдиницаИзмерения_Key": pcs,
            "КатегорияНоменклатуры_Key": goods, "СтавкаНДС_Key": vat20,
            "ИспользоватьХарактеристики": bool(sizes)})
        supplier = "shoe-factory" if folder in ("sneakers", "boots") else "textile-ua"
        variants = [(f"{colour}, {size}", f"{slug}:{colour}:{size}")
                    for colour in colours for size in sizes] or [("", "")]
        for description, variant_slug in variants:
            variant = EMPTY if not variant_slug else k("Catalog_ХарактеристикиНоменклатуры",
                                                        variant_slug)
            if variant_slug:
                characteristics.append({
                    "Ref_Key": variant, "Description": description, "Owner": item_key,
                    "Owner_Type": NOMENCLATURE_TYPE})
            for kind, value in ((retail, price), (wholesale, round(price * 0.7))):
                prices.append({"Period": "2025-01-01T00:00:00", "ВидЦен_Key": kind,
                               "Номенклатура_Key": item_key, "Характеристика_Key": variant,
                               "Цена": value, "Актуальность": True,
                               "ЕдиницаИзмерения": pcs, "ЕдиницаИзмерения_Type": UNIT_TYPE})
            quantity = 12 if variant_slug else 40
            cost = round(price * 0.55)
            receipt_rows[supplier].append(_sb_line(item_key, variant, quantity, cost, pcs,
                                                   vat20))
    items.append({"Ref_Key": k("Catalog_Номенклатура", "delivery"),
                  "Description": "Доставка Новою Поштою", "Артикул": "SRV-NP",
                  "ТипНоменклатуры": "Услуга", "ЕдиницаИзмерения_Key": pcs,
                  "КатегорияНоменклатуры_Key": goods, "СтавкаНДС_Key": vat20})

    emulator.seed(base, {
        "Catalog_Контрагенты": parties,
        "Catalog_ДоговорыКонтрагентов": contracts,
        "Catalog_Номенклатура": items,
        "Catalog_ХарактеристикиНоменклатуры": characteristics,
    })
    emulator.add_movements(base, "InformationRegister_ЦеныНоменклатуры", prices)
    receipts = [
        {"Ref_Key": k("Document_ПриходнаяНакладная", supplier),
         "Date": f"2025-01-{10 + i:02d}T09:00:00", "ВидОперации": "ПоступлениеОтПоставщика",
         "Организация_Key": org, "Контрагент_Key": k("Catalog_Контрагенты", supplier),
         "Договор_Key": k("Catalog_ДоговорыКонтрагентов", supplier),
         "СтруктурнаяЕдиница_Key": warehouse, "ВалютаДокумента_Key": uah, "Курс": 1,
         "Кратность": 1, "НалогообложениеНДС": "ОблагаетсяНДС", "СуммаВключаетНДС": True,
         "Запасы": rows, "Posted": True}
        for i, (supplier, rows) in enumerate(receipt_rows.items())
    ]
    tshirt = k("Catalog_Номенклатура", "tshirt-basic")
    black_m = k("Catalog_ХарактеристикиНоменклатуры", "tshirt-basic:Чорний:M")
    order_key = k("Document_ЗаказПокупателя", "demo-1")
    order = {
        "Ref_Key": order_key, "Date": "2025-02-03T11:20:00", "ВидОперации": "ЗаказНаПродажу",
        "Организация_Key": org, "Контрагент_Key": k("Catalog_Контрагенты", "petrenko"),
        "ВалютаДокумента_Key": uah, "Курс": 1, "Кратность": 1, "ВидЦен_Key": retail,
        "НалогообложениеНДС": "ОблагаетсяНДС", "СуммаВключаетНДС": True,
        "СтруктурнаяЕдиницаПродажи_Key": ref(base, "Catalog_СтруктурныеЕдиницы", "sales"),
        "СтруктурнаяЕдиницаРезерв_Key": warehouse, "НомерВходящегоДокумента": "KC-1001",
        "ДатаВходящегоДокумента": "2025-02-03T11:19:00", "Комментарий": "KeyCRM order 1001",
        "Запасы": [_sb_line(tshirt, black_m, 2, 450, pcs, vat20)], "Posted": True,
    }
    sale = {
        "Ref_Key": k("Document_РасходнаяНакладная", "demo-1"), "Date": "2025-02-04T10:00:00",
        "ВидОперации": "ПродажаПокупателю", "Организация_Key": org,
        "Контрагент_Key": k("Catalog_Контрагенты", "petrenko"),
        "СтруктурнаяЕдиница_Key": warehouse, "ВалютаДокумента_Key": uah, "Курс": 1,
        "Кратность": 1, "ВидЦен_Key": retail, "НалогообложениеНДС": "ОблагаетсяНДС",
        "СуммаВключаетНДС": True, "Заказ": order_key,
        "Заказ_Type": "StandardODATA.Document_ЗаказПокупателя",
        "Запасы": [_sb_line(tshirt, black_m, 2, 450, pcs, vat20)], "Posted": True,
    }
    emulator.seed(base, {"Document_ПриходнаяНакладная": receipts,
                         "Document_ЗаказПокупателя": [order],
                         "Document_РасходнаяНакладная": [sale]})
    return {"counterparties": len(parties), "nomenclature": len(items),
            "characteristics": len(characteristics), "prices": len(prices),
            "documents": len(receipts) + 2}


EMPTY = "00000000-0000-0000-0000-000000000000"


def _pretty(phone: str) -> str:
    """+380671234567 → +380 67 123 45 67"""
    return f"{phone[:4]} {phone[4:6]} {phone[6:9]} {phone[9:11]} {phone[11:]}"


def _sb_contract(k: Any, slug: str, kind: str, org: str, uah: str, price_kind: str) -> dict:
    return {"Ref_Key": k("Catalog_ДоговорыКонтрагентов", slug), "Description": "Основний договір",
            "Owner_Key": k("Catalog_Контрагенты", slug), "ВидДоговора": kind,
            "Организация_Key": org, "ВалютаРасчетов_Key": uah, "ВидЦен_Key": price_kind}


def _sb_line(item: str, variant: str, quantity: float, price: float, unit: str,
             vat: str) -> dict:
    amount = quantity * price
    return {"Номенклатура_Key": item, "Характеристика_Key": variant, "Количество": quantity,
            "ЕдиницаИзмерения": unit, "ЕдиницаИзмерения_Type": UNIT_TYPE, "Цена": price,
            "Сумма": amount, "СтавкаНДС_Key": vat, "СуммаНДС": round(amount / 6, 2),
            "Всего": amount}


def _accounting(emulator: BasEmulator, base: str) -> dict[str, int]:
    ref = emulator.ref
    org = ref(base, "Catalog_Организации", "main")
    uah = ref(base, "Catalog_Валюты", "UAH")
    pcs = ref(base, "Catalog_КлассификаторЕдиницИзмерения", "pcs")
    retail = ref(base, "Catalog_ТипыЦенНоменклатуры", "retail")
    wholesale = ref(base, "Catalog_ТипыЦенНоменклатуры", "wholesale")

    def k(set_name: str, slug: str) -> str:
        return _key(base, set_name, slug)

    parties, contracts = [], []
    for slug, name, full, kind, edrpou, phone, email in CUSTOMERS:
        parties.append({
            "Ref_Key": k("Catalog_Контрагенты", slug), "Description": name,
            "НаименованиеПолное": full, "КодПоЕДРПОУ": edrpou,
            "ЮридическоеФизическоеЛицо": "ЮрЛицо" if kind == "ЮридическоеЛицо" else "ФизЛицо",
            "ОсновнойДоговорКонтрагента_Key": k("Catalog_ДоговорыКонтрагентов", slug),
            "Комментарий": f"Тел. {_pretty(phone)}, {email}"})
        contracts.append({
            "Ref_Key": k("Catalog_ДоговорыКонтрагентов", slug), "Description": "Основний договір",
            "Owner_Key": k("Catalog_Контрагенты", slug), "ВидДоговора": "СПокупателем",
            "Организация_Key": org, "ВалютаВзаиморасчетов_Key": uah, "ТипЦен_Key": retail,
            "ВедениеВзаиморасчетов": "ПоДоговоруВЦелом"})
    items = _folders(base)
    price_rows = []
    for slug, folder, name, article, price, _sizes, _colours in PRODUCTS:
        item_key = k("Catalog_Номенклатура", slug)
        items.append({
            "Ref_Key": item_key, "Description": name, "НаименованиеПолное": name,
            "Parent_Key": k("Catalog_Номенклатура", folder), "Артикул": article,
            "БазоваяЕдиницаИзмерения_Key": pcs, "СтавкаНДС": "НДС20"})
        price_rows += [
            {"Номенклатура_Key": item_key, "ТипЦен_Key": retail, "Цена": price,
             "Валюта_Key": uah},
            {"Номенклатура_Key": item_key, "ТипЦен_Key": wholesale, "Цена": round(price * 0.7),
             "Валюта_Key": uah},
        ]
    emulator.seed(base, {"Catalog_Контрагенты": parties,
                         "Catalog_ДоговорыКонтрагентов": contracts,
                         "Catalog_Номенклатура": items})
    dress = k("Catalog_Номенклатура", "dress-linen")
    emulator.seed(base, {
        "Document_УстановкаЦенНоменклатуры": [{
            "Ref_Key": k("Document_УстановкаЦенНоменклатуры", "initial"),
            "Date": "2025-01-01T00:00:00", "Комментарий": "Початкові ціни",
            "Товары": price_rows, "Posted": True}],
        "Document_РеализацияТоваровУслуг": [{
            "Ref_Key": k("Document_РеализацияТоваровУслуг", "demo-1"),
            "Date": "2025-02-05T12:00:00", "Организация_Key": org,
            "Контрагент_Key": k("Catalog_Контрагенты", "lvivmoda"),
            "ДоговорКонтрагента_Key": k("Catalog_ДоговорыКонтрагентов", "lvivmoda"),
            "Склад_Key": ref(base, "Catalog_Склады", "main"), "ВалютаДокумента_Key": uah,
            "КурсВзаиморасчетов": 1, "КратностьВзаиморасчетов": 1, "ТипЦен_Key": wholesale,
            "СуммаВключаетНДС": True, "УчитыватьНДС": True,
            "Товары": [{"Номенклатура_Key": dress, "ЕдиницаИзмерения_Key": pcs,
                        "Коэффициент": 1, "Количество": 5, "Цена": 1323, "Сумма": 6615,
                        "СтавкаНДС": "НДС20", "СуммаНДС": 1102.5}],
            "Posted": True}],
    })
    return {"counterparties": len(parties), "nomenclature": len(items),
            "prices": len(price_rows), "documents": 2}
