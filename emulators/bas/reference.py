"""Reference data every fresh base holds, with deterministic Ref_Keys.

A document needs an organization, a currency, VAT rates, a unit, a warehouse … before it can
be posted; these are the objects a new BAS base has after its start-up assistant. Their keys
are ``uuid5`` of (base, entity set, slug), so tests and fixtures can name them without asking:
``reference_key("sb", "Catalog_Валюты", "UAH")``.
"""

from __future__ import annotations

import uuid
from typing import Any

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:keycrm-bas-portal:emulators:bas")


def reference_key(base: str, set_name: str, slug: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{base}/{set_name}/{slug}"))


def _sb(base: str) -> list[tuple[str, str, dict[str, Any]]]:
    def key(set_name: str, slug: str) -> str:
        return reference_key(base, set_name, slug)

    org = key("Catalog_Организации", "main")
    uah = key("Catalog_Валюты", "UAH")
    contact = "Catalog_ВидыКонтактнойИнформации"
    return [
        ("Catalog_Организации", "main", {
            "Description": "ТОВ «Демо Торгівля»",
            "НаименованиеПолное": "Товариство з обмеженою відповідальністю «Демо Торгівля»",
            "КодПоЕДРПОУ": "41234567", "ИНН": "412345626541", "Префикс": "КЦ",
            "ЮридическоеФизическоеЛицо": "ЮридическоеЛицо"}),
        ("Catalog_Валюты", "UAH", {"Code": "980", "Description": "грн",
                                   "НаименованиеПолное": "Українська гривня"}),
        ("Catalog_СтавкиНДС", "20", {"Description": "20%", "Ставка": 20}),
        ("Catalog_СтавкиНДС", "none", {"Description": "Без ПДВ", "Ставка": 0}),
        ("Catalog_КлассификаторЕдиницИзмерения", "pcs", {
            "Code": "2009", "Description": "шт", "НаименованиеПолное": "Штука"}),
        ("Catalog_КатегорииНоменклатуры", "goods", {"Description": "Товари"}),
        ("Catalog_СтруктурныеЕдиницы", "warehouse", {
            "Description": "Основний склад", "ТипСтруктурнойЕдиницы": "Склад",
            "Организация_Key": org}),
        ("Catalog_СтруктурныеЕдиницы", "sales", {
            "Description": "Відділ продажів", "ТипСтруктурнойЕдиницы": "Подразделение",
            "Организация_Key": org}),
        ("Catalog_ВидыЦен", "retail", {"Description": "Роздрібна ціна", "ВалютаЦены_Key": uah,
                                       "ЦенаВключаетНДС": True}),
        ("Catalog_ВидыЦен", "wholesale", {"Description": "Оптова ціна", "ВалютаЦены_Key": uah,
                                          "ЦенаВключаетНДС": True}),
        ("Catalog_СостоянияЗаказовПокупателей", "new", {"Description": "Новий"}),
        ("Catalog_СостоянияЗаказовПокупателей", "in_progress", {"Description": "В роботі"}),
        ("Catalog_СостоянияЗаказовПокупателей", "Завершен", {
            "Description": "Завершено", "Predefined": True, "PredefinedDataName": "Завершен"}),
        ("Catalog_ПричиныОтменыЗаказа", "refused", {"Description": "Відмова покупця"}),
        ("Catalog_СтатьиДвиженияДенежныхСредств", "from_customers", {
            "Description": "Оплата від покупців"}),
        ("Catalog_БанковскиеСчета", "main", {
            "Description": "Основний рахунок (UAH)",
            "НомерСчета": "UA213223130000026007233566001", "ВалютаДенежныхСредств_Key": uah,
            "Owner": org, "Owner_Type": "StandardODATA.Catalog_Организации"}),
        ("Catalog_Кассы", "main", {"Description": "Основна каса",
                                   "ВалютаДенежныхСредств_Key": uah}),
        (contact, "ТелефонКонтрагента", {
            "Description": "Телефон", "Тип": "Телефон", "Predefined": True,
            "PredefinedDataName": "ТелефонКонтрагента"}),
        (contact, "EmailКонтрагента", {
            "Description": "Email", "Тип": "АдресЭлектроннойПочты", "Predefined": True,
            "PredefinedDataName": "EmailКонтрагента"}),
        (contact, "ЮрАдресКонтрагента", {
            "Description": "Юридична адреса", "Тип": "Адрес", "Predefined": True,
            "PredefinedDataName": "ЮрАдресКонтрагента"}),
        (contact, "ФактАдресКонтрагента", {
            "Description": "Фактична адреса", "Тип": "Адрес", "Predefined": True,
            "PredefinedDataName": "ФактАдресКонтрагента"}),
    ]


def _accounting(base: str) -> list[tuple[str, str, dict[str, Any]]]:
    def key(set_name: str, slug: str) -> str:
        return reference_key(base, set_name, slug)

    org = key("Catalog_Организации", "main")
    uah = key("Catalog_Валюты", "UAH")
    return [
        ("Catalog_Организации", "main", {
            "Description": "ТОВ «Демо Облік»",
            "НаименованиеПолное": "Товариство з обмеженою відповідальністю «Демо Облік»",
            "КодПоЕДРПОУ": "42345678", "ИНН": "423456726541", "Префикс": "БП",
            "ЮридическоеФизическоеЛицо": "ЮрЛицо"}),
        ("Catalog_Валюты", "UAH", {"Code": "980", "Description": "грн",
                                   "НаименованиеПолное": "Українська гривня"}),
        ("Catalog_КлассификаторЕдиницИзмерения", "pcs", {
            "Code": "2009", "Description": "шт", "НаименованиеПолное": "Штука"}),
        ("Catalog_Склады", "main", {"Description": "Основний склад", "ВидСклада": "Оптовый"}),
        ("Catalog_ТипыЦенНоменклатуры", "retail", {
            "Description": "Роздрібна", "ВалютаЦены_Key": uah, "ЦенаВключаетНДС": True}),
        ("Catalog_ТипыЦенНоменклатуры", "wholesale", {
            "Description": "Оптова", "ВалютаЦены_Key": uah, "ЦенаВключаетНДС": True}),
        ("Catalog_СтатьиДвиженияДенежныхСредств", "from_customers", {
            "Description": "Надходження від покупців"}),
        ("Catalog_БанковскиеСчета", "main", {
            "Description": "Основний рахунок (UAH)",
            "НомерСчета": "UA573052990000026009011234567", "ВалютаДенежныхСредств_Key": uah,
            "Owner": org, "Owner_Type": "StandardODATA.Catalog_Организации"}),
    ]


_BUILDERS = {"small_business": _sb, "accounting": _accounting}


def reference_objects(base: str, configuration: str) -> list[tuple[str, dict[str, Any]]]:
    """(entity set, body with its Ref_Key) for every reference object of a fresh base."""
    builder = _BUILDERS.get(configuration)
    if builder is None:
        return []
    return [(set_name, {"Ref_Key": reference_key(base, set_name, slug), **body})
            for set_name, slug, body in builder(base)]


def reference_slugs(configuration: str) -> list[tuple[str, str, str]]:
    """(entity set, slug, Description) — for documentation and the control API."""
    builder = _BUILDERS.get(configuration)
    return [(s, slug, body.get("Description", "")) for s, slug, body in builder("x")] \
        if builder else []
