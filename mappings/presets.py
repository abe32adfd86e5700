"""Ready mappings a new account starts from, per BAS configuration.

Each preset names the document and its lines section and lists mappings by attribute name.
References the portal cannot guess (the organisation, the warehouse, the currency, the VAT rate)
are fixed values left empty, to be picked from BAS in the admin; the preview lists them as
problems until they are filled.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

LINE_SUM = "round(line.price_sold * line.quantity, 2)"


@dataclasses.dataclass(frozen=True)
class PresetMapping:
    attribute: str
    kind: str
    section: str = ""  # "" header; else the lines section
    source_path: str = ""
    directory: str = ""
    bas_entity_set: str = ""
    search_steps: tuple[dict[str, str], ...] = ()
    create_if_missing: bool = False
    expression: str = ""
    value: str = ""
    default_value: str = ""

    def fields(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("attribute")
        data.pop("section")
        data["search_steps"] = list(self.search_steps)
        return data


@dataclasses.dataclass(frozen=True)
class Preset:
    key: str
    label: str | Promise  # shown in the admin's preset choice
    configuration: str
    document_set: str
    lines_section: str
    order_id_attribute: str
    mappings: tuple[PresetMapping, ...]


def _line(attribute: str, kind: str, **fields: Any) -> PresetMapping:
    return PresetMapping(attribute=attribute, kind=kind, section="__lines__", **fields)


_COUNTERPARTY_BY_CONTACTS = (
    {"field": "КонтактнаяИнформация/НомерТелефона", "source": "buyer.phone",
     "normalize": "phone"},
    {"field": "КонтактнаяИнформация/АдресЭП", "source": "buyer.email", "normalize": "email"},
)

SMALL_BUSINESS_ORDER = Preset(
    key="small_business_order",
    label=_("BAS Small Business: customer order (Замовлення покупця)"),
    configuration="small_business",
    document_set="Document_ЗаказПокупателя",
    lines_section="Запасы",
    order_id_attribute="НомерВходящегоДокумента",
    mappings=(
        PresetMapping("Date", "value", source_path="ordered_at"),
        PresetMapping("ВидОперации", "constant", value="ЗаказНаПродажу"),
        PresetMapping("Организация_Key", "constant", bas_entity_set="Catalog_Организации"),
        PresetMapping("Контрагент_Key", "search", bas_entity_set="Catalog_Контрагенты",
                      directory="buyer", source_path="buyer.id",
                      search_steps=_COUNTERPARTY_BY_CONTACTS, create_if_missing=True),
        PresetMapping("ВалютаДокумента_Key", "constant", bas_entity_set="Catalog_Валюты"),
        PresetMapping("Курс", "constant", value="1"),
        PresetMapping("Кратность", "constant", value="1"),
        PresetMapping("НалогообложениеНДС", "constant", value="ОблагаетсяНДС"),
        PresetMapping("СуммаВключаетНДС", "constant", value="true"),
        PresetMapping("СтруктурнаяЕдиницаПродажи_Key", "constant",
                      bas_entity_set="Catalog_СтруктурныеЕдиницы"),
        PresetMapping("СтруктурнаяЕдиницаРезерв_Key", "constant",
                      bas_entity_set="Catalog_СтруктурныеЕдиницы"),
        PresetMapping("ДатаОтгрузки", "expression",
                      expression="order.shipping.shipping_date or order.ordered_at"),
        PresetMapping("НомерВходящегоДокумента", "expression", expression='f"KC-{order.id}"'),
        PresetMapping("ДатаВходящегоДокумента", "value", source_path="ordered_at"),
        PresetMapping("Комментарий", "expression",
                      expression='f"KeyCRM #{order.id}" + (f": {order.buyer_comment}" '
                                 'if order.buyer_comment else "")'),
        PresetMapping("СостояниеЗаказа", "status", source_path="status_id"),
        _line("Номенклатура_Key", "search", bas_entity_set="Catalog_Номенклатура",
              directory="offer", source_path="products[].offer.id",
              search_steps=({"field": "Артикул", "source": "products[].sku",
                             "normalize": "text"},)),
        _line("ЕдиницаИзмерения", "constant",
              bas_entity_set="Catalog_КлассификаторЕдиницИзмерения"),
        _line("Количество", "value", source_path="products[].quantity"),
        _line("Цена", "value", source_path="products[].price_sold"),
        _line("Сумма", "expression", expression=LINE_SUM),
        _line("СтавкаНДС_Key", "constant", bas_entity_set="Catalog_СтавкиНДС"),
        _line("СуммаНДС", "expression", expression=f"round({LINE_SUM} * 20 / 120, 2)"),
        _line("Всего", "expression", expression=LINE_SUM),
        _line("Содержание", "value", source_path="products[].name"),
    ),
)

ACCOUNTING_SALE = Preset(
    key="accounting_sale",
    label=_("BAS Accounting: sales invoice (Реалізація товарів і послуг)"),
    configuration="accounting",
    document_set="Document_РеализацияТоваровУслуг",
    lines_section="Товары",
    order_id_attribute="Комментарий",
    mappings=(
        PresetMapping("Date", "value", source_path="ordered_at"),
        PresetMapping("Организация_Key", "constant", bas_entity_set="Catalog_Организации"),
        PresetMapping("Контрагент_Key", "search", bas_entity_set="Catalog_Контрагенты",
                      directory="buyer", source_path="buyer.id",
                      search_steps=({"field": "Description", "source": "buyer.full_name",
                                     "normalize": "text"},),
                      create_if_missing=True),
        PresetMapping("ДоговорКонтрагента_Key", "constant",
                      bas_entity_set="Catalog_ДоговорыКонтрагентов"),
        PresetMapping("Склад_Key", "constant", bas_entity_set="Catalog_Склады"),
        PresetMapping("ВалютаДокумента_Key", "constant", bas_entity_set="Catalog_Валюты"),
        PresetMapping("КурсВзаиморасчетов", "constant", value="1"),
        PresetMapping("КратностьВзаиморасчетов", "constant", value="1"),
        PresetMapping("СуммаВключаетНДС", "constant", value="true"),
        PresetMapping("Комментарий", "expression", expression='f"KC-{order.id}"'),
        _line("Номенклатура_Key", "search", bas_entity_set="Catalog_Номенклатура",
              directory="offer", source_path="products[].offer.id",
              search_steps=({"field": "Артикул", "source": "products[].sku",
                             "normalize": "text"},)),
        _line("ЕдиницаИзмерения_Key", "constant",
              bas_entity_set="Catalog_КлассификаторЕдиницИзмерения"),
        _line("Количество", "value", source_path="products[].quantity"),
        _line("Цена", "value", source_path="products[].price_sold"),
        _line("Сумма", "expression", expression=LINE_SUM),
        _line("СтавкаНДС", "constant", value="НДС20"),
        _line("СуммаНДС", "expression", expression=f"round({LINE_SUM} * 20 / 120, 2)"),
    ),
)

PRESETS: dict[str, Preset] = {p.key: p for p in (SMALL_BUSINESS_ORDER, ACCOUNTING_SALE)}


def preset_for_configuration(configuration: str) -> Preset | None:
    return next((p for p in PRESETS.values() if p.configuration == configuration), None)
