"""What each BAS configuration calls the objects the portal works with.

Names come from ``bas-odata.md`` §9 (configuration dumps); the customer's ``$metadata`` is the
final truth, which is why "Check connection" compares this list with what the base publishes.
"""

from __future__ import annotations

import dataclasses

from django.db import models
from django.utils.translation import gettext_lazy as _


class BasConfiguration(models.TextChoices):
    SMALL_BUSINESS = "small_business", _("BAS Small Business")
    ACCOUNTING = "accounting", _("BAS Accounting (PROF/CORP)")
    UT = "ut", _("BAS Trade Management (UT)")
    ERP = "erp", _("BAS ERP")
    KUP = "kup", _("BAS Complex Enterprise Management (KUP)")


@dataclasses.dataclass(frozen=True)
class ConfigurationObjects:
    customer_order: str | None  # None: the configuration has no customer order document
    sales_invoice: str
    counterparties: str
    nomenclature: str
    characteristics: str | None
    warehouses: str
    stock_register: str | None
    price_register: str
    # Published sets without which the portal's main flows cannot work.
    required_sets: tuple[str, ...]


_SMALL_BUSINESS = ConfigurationObjects(
    customer_order="Document_ЗаказПокупателя",
    sales_invoice="Document_РасходнаяНакладная",
    counterparties="Catalog_Контрагенты",
    nomenclature="Catalog_Номенклатура",
    characteristics="Catalog_ХарактеристикиНоменклатуры",
    warehouses="Catalog_СтруктурныеЕдиницы",
    stock_register="AccumulationRegister_ЗапасыНаСкладах",
    price_register="InformationRegister_ЦеныНоменклатуры",
    required_sets=(
        "Catalog_Контрагенты",
        "Catalog_ДоговорыКонтрагентов",
        "Catalog_Номенклатура",
        "Catalog_ХарактеристикиНоменклатуры",
        "Catalog_КлассификаторЕдиницИзмерения",
        "Catalog_Организации",
        "Catalog_СтруктурныеЕдиницы",
        "Catalog_Валюты",
        "Catalog_ВидыЦен",
        "Catalog_СтавкиНДС",
        "Catalog_СостоянияЗаказовПокупателей",
        "Document_ЗаказПокупателя",
        "Document_РасходнаяНакладная",
        "Document_ПоступлениеНаСчет",
        "Document_ПоступлениеВКассу",
        "AccumulationRegister_ЗапасыНаСкладах",
        "InformationRegister_ЦеныНоменклатуры",
    ),
)

_ACCOUNTING = ConfigurationObjects(
    customer_order=None,
    sales_invoice="Document_РеализацияТоваровУслуг",
    counterparties="Catalog_Контрагенты",
    nomenclature="Catalog_Номенклатура",
    characteristics=None,
    warehouses="Catalog_Склады",
    stock_register=None,  # stock lives in the accounting register (accounts 28x)
    price_register="InformationRegister_ЦеныНоменклатуры",
    required_sets=(
        "Catalog_Контрагенты",
        "Catalog_ДоговорыКонтрагентов",
        "Catalog_Номенклатура",
        "Catalog_КлассификаторЕдиницИзмерения",
        "Catalog_Организации",
        "Catalog_Склады",
        "Catalog_Валюты",
        "Catalog_ТипыЦенНоменклатуры",
        "Document_РеализацияТоваровУслуг",
        "Document_СчетНаОплатуПокупателю",
        "Document_ПоступлениеНаРасчетныйСчет",
        "Document_ПриходныйКассовыйОрдер",
        "InformationRegister_ЦеныНоменклатуры",
    ),
)

_ERP_FAMILY = ConfigurationObjects(
    customer_order="Document_ЗаказКлиента",
    sales_invoice="Document_РеализацияТоваровУслуг",
    counterparties="Catalog_Контрагенты",
    nomenclature="Catalog_Номенклатура",
    characteristics="Catalog_ХарактеристикиНоменклатуры",
    warehouses="Catalog_Склады",
    stock_register="AccumulationRegister_СвободныеОстатки",
    price_register="InformationRegister_ЦеныНоменклатуры",
    required_sets=(
        "Catalog_Партнеры",
        "Catalog_Контрагенты",
        "Catalog_СоглашенияСКлиентами",
        "Catalog_ДоговорыКонтрагентов",
        "Catalog_Номенклатура",
        "Catalog_ХарактеристикиНоменклатуры",
        "Catalog_УпаковкиЕдиницыИзмерения",
        "Catalog_Организации",
        "Catalog_Склады",
        "Catalog_Валюты",
        "Catalog_ВидыЦен",
        "Document_ЗаказКлиента",
        "Document_РеализацияТоваровУслуг",
        "Document_ПоступлениеБезналичныхДенежныхСредств",
        "Document_ПриходныйКассовыйОрдер",
        "AccumulationRegister_СвободныеОстатки",
        "InformationRegister_ЦеныНоменклатуры",
    ),
)

OBJECTS: dict[str, ConfigurationObjects] = {
    BasConfiguration.SMALL_BUSINESS: _SMALL_BUSINESS,
    BasConfiguration.ACCOUNTING: _ACCOUNTING,
    BasConfiguration.UT: _ERP_FAMILY,
    BasConfiguration.ERP: _ERP_FAMILY,
    BasConfiguration.KUP: _ERP_FAMILY,
}


def objects_for(configuration: str) -> ConfigurationObjects:
    return OBJECTS[BasConfiguration(configuration)]


# Where an administrator publishes objects, in the configuration's own words (bas-odata.md §1).
PUBLISH_HINTS: dict[str, str] = {
    BasConfiguration.SMALL_BUSINESS: _(
        "In BAS open the data processor “Налаштування стандартного інтерфейсу OData” "
        "(All functions → Data processors, or the link e1cib/app/"
        "Обработка.НастройкаСтандартногоИнтерфейсаOData), tick these objects and save."
    ),
    BasConfiguration.ACCOUNTING: _(
        "In BAS open Administration → “Налаштування стандартного інтерфейсу OData”, tick these "
        "objects and save."
    ),
}
_ERP_HINT = _(
    "This configuration has no built-in OData settings form: run an external data processor "
    "that calls УстановитьСоставСтандартногоИнтерфейсаOData with these objects, and give the "
    "integration user roles that cover them."
)


def publish_hint(configuration: str) -> str:
    return str(PUBLISH_HINTS.get(configuration, _ERP_HINT))
