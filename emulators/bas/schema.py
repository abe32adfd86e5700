"""The object model of each emulated configuration, as data.

Names are the Russian metadata identifiers of the real configurations (bas-odata.md §9): BAS
Small Business 1.6 (УНФ for Ukraine) and BAS Бухгалтерія 2.1. Everything else in the emulator —
``$metadata``, the properties an object has, what ``$filter``/``$select`` accept, how a write is
coerced, which registers a posting fills — is derived from these definitions, so adding an
attribute here is the only step needed to make it exist everywhere.

Only the attributes the integration can plausibly touch are listed; a real base has many more.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

EMPTY_REF = "00000000-0000-0000-0000-000000000000"
EMPTY_DATE = "0001-01-01T00:00:00"
UNDEFINED_TYPE = "StandardODATA.Undefined"
NAMESPACE = "StandardODATA"

# Property kinds. They decide the EDM type, how a written value is coerced and how $filter
# compares it. "composite" is the value half of a composite attribute (its ``_Type`` twin is a
# plain "string").
Kind = Literal["string", "double", "int64", "bool", "datetime", "guid", "enum", "composite"]
EDM_TYPES: dict[str, str] = {
    "string": "Edm.String",
    "enum": "Edm.String",
    "composite": "Edm.String",
    "double": "Edm.Double",
    "int64": "Edm.Int64",
    "bool": "Edm.Boolean",
    "datetime": "Edm.DateTime",
    "guid": "Edm.Guid",
}
# Value types a composite attribute may hold besides references (the "Edm.*" dispatch names).
PRIMITIVE_TYPES = ("Edm.String", "Edm.Double", "Edm.Boolean", "Edm.DateTime")


@dataclasses.dataclass(frozen=True)
class Attr:
    """An attribute of an object, a tabular-section column or a register field."""

    name: str
    kind: Literal["string", "double", "bool", "datetime", "ref", "composite", "enum"]
    target: str = ""  # ref: the entity set it points to
    types: tuple[str, ...] = ()  # composite: allowed entity sets / Edm primitive names
    members: tuple[str, ...] = ()  # enum: the member names; empty = not validated

    def properties(self) -> list[Prop]:
        if self.kind == "ref":
            return [Prop(f"{self.name}_Key", "guid", self)]
        if self.kind == "composite":
            return [Prop(self.name, "composite", self), Prop(f"{self.name}_Type", "string", self)]
        return [Prop(self.name, self.kind, self)]


@dataclasses.dataclass(frozen=True)
class Prop:
    """One OData property. ``attr`` is None for standard fields (Ref_Key, Code …)."""

    name: str
    kind: Kind
    attr: Attr | None = None
    nullable: bool = True

    @property
    def edm(self) -> str:
        return EDM_TYPES[self.kind]


def S(name: str) -> Attr:  # short constructors keep the tables below readable
    return Attr(name, "string")


def N(name: str) -> Attr:
    return Attr(name, "double")


def B(name: str) -> Attr:
    return Attr(name, "bool")


def D(name: str) -> Attr:
    return Attr(name, "datetime")


def R(name: str, target: str) -> Attr:
    return Attr(name, "ref", target=target)


def C(name: str, *types: str) -> Attr:
    return Attr(name, "composite", types=types)


def E(name: str, *members: str) -> Attr:
    return Attr(name, "enum", members=members)


@dataclasses.dataclass(frozen=True)
class TabularSection:
    name: str
    columns: tuple[Attr, ...]


@dataclasses.dataclass(frozen=True)
class Predefined:
    name: str  # PredefinedDataName
    description: str


@dataclasses.dataclass(frozen=True)
class EntityDef:
    """A catalog or a document."""

    name: str  # the entity set, e.g. "Catalog_Контрагенты"
    kind: Literal["catalog", "document"]
    attrs: tuple[Attr, ...] = ()
    tabular: tuple[TabularSection, ...] = ()
    hierarchical: bool = False  # catalogs with folders: Parent_Key + IsFolder
    owners: tuple[str, ...] = ()  # one owner → Owner_Key; several → composite Owner/Owner_Type
    code_length: int = 9
    number_prefix: str = ""  # documents: "КЦ00-" → "КЦ00-000001"
    required: tuple[str, ...] = ()  # catalogs: properties checked on every write of an item
    realtime_posting: bool = False  # may PostingModeOperational=true be used
    predefined: tuple[Predefined, ...] = ()

    @property
    def is_document(self) -> bool:
        return self.kind == "document"

    def standard_props(self) -> list[Prop]:
        props = [Prop("Ref_Key", "guid", nullable=False), Prop("DataVersion", "string"),
                 Prop("DeletionMark", "bool", nullable=False)]
        if self.is_document:
            props += [Prop("Number", "string"), Prop("Date", "datetime", nullable=False),
                      Prop("Posted", "bool", nullable=False)]
            return props
        if len(self.owners) == 1:
            props.append(Prop("Owner_Key", "guid", Attr("Owner", "ref", target=self.owners[0])))
        elif self.owners:
            owner = Attr("Owner", "composite", types=self.owners)
            props += owner.properties()
        if self.hierarchical:
            props += [Prop("Parent_Key", "guid", Attr("Parent", "ref", target=self.name)),
                      Prop("IsFolder", "bool", nullable=False)]
        props += [Prop("Code", "string"), Prop("Description", "string"),
                  Prop("Predefined", "bool", nullable=False), Prop("PredefinedDataName", "string")]
        return props

    def props(self) -> list[Prop]:
        """Scalar properties in $metadata order: standard fields, then attributes."""
        result = self.standard_props()
        for attr in self.attrs:
            result += attr.properties()
        return result

    def section(self, name: str) -> TabularSection | None:
        return next((ts for ts in self.tabular if ts.name == name), None)


@dataclasses.dataclass(frozen=True)
class RegisterDef:
    name: str  # "AccumulationRegister_ЗапасыНаСкладах"
    kind: Literal["accumulation", "information"]
    dimensions: tuple[Attr, ...]
    resources: tuple[Attr, ...]
    attributes: tuple[Attr, ...] = ()
    periodic: bool = True
    subordinate: bool = True  # recorder-subordinate (accumulation registers always are)
    recorders: tuple[str, ...] = ()

    @property
    def single_recorder(self) -> bool:
        """One recorder type → ``Recorder_Key``; several → composite ``Recorder``/_Type."""
        return len(self.recorders) == 1

    def recorder_props(self) -> list[Prop]:
        if not self.subordinate:
            return []
        if self.single_recorder:
            return [Prop("Recorder_Key", "guid", Attr("Recorder", "ref", self.recorders[0]),
                         nullable=False)]
        recorder = Attr("Recorder", "composite", types=self.recorders)
        return [Prop("Recorder", "composite", recorder, nullable=False),
                Prop("Recorder_Type", "string", recorder, nullable=False)]

    def record_props(self) -> list[Prop]:
        """Fields of one record (the ``_RecordType`` set / a RecordSet row)."""
        props = self.recorder_props()
        if self.periodic:
            props.append(Prop("Period", "datetime", nullable=False))
        if self.subordinate:
            props += [Prop("LineNumber", "int64", nullable=False), Prop("Active", "bool")]
        if self.kind == "accumulation":
            props.append(Prop("RecordType", "enum", E("RecordType", "Receipt", "Expense")))
        for attr in (*self.dimensions, *self.resources, *self.attributes):
            props += attr.properties()
        return props

    def dimension_props(self) -> list[Prop]:
        props: list[Prop] = []
        for attr in self.dimensions:
            props += attr.properties()
        return props

    def key_props(self) -> list[str]:
        """Key of the plain set's entity: the recorder, or period + dimensions."""
        if self.subordinate:
            return [p.name for p in self.recorder_props()]
        return (["Period"] if self.periodic else []) + [p.name for p in self.dimension_props()]

    def dimension(self, name: str) -> Attr | None:
        return next((d for d in self.dimensions if d.name == name), None)


@dataclasses.dataclass
class Configuration:
    name: str
    title: str
    entities: dict[str, EntityDef]
    registers: dict[str, RegisterDef]

    def object_names(self) -> list[str]:
        return [*self.entities, *self.registers]


def is_filled(prop: Prop, obj: dict) -> bool:
    value = obj.get(prop.name)
    if prop.kind == "guid":
        return bool(value) and value != EMPTY_REF
    if prop.kind == "composite":
        return obj.get(f"{prop.name}_Type") not in (None, "", UNDEFINED_TYPE) and value not in (
            None, "", EMPTY_REF)
    if prop.kind in ("string", "enum"):
        return bool(value and str(value).strip())
    if prop.kind in ("double", "int64"):
        return float(value or 0) != 0
    if prop.kind == "datetime":
        return bool(value) and value != EMPTY_DATE
    return True


# --- shapes: what $filter / $select / $orderby see -------------------------------------------


@dataclasses.dataclass
class Shape:
    """The properties of one entity set (or row type) as the query layer needs them."""

    name: str
    props: dict[str, Prop]
    navigation: dict[str, str]  # "Контрагент" → "Catalog_Контрагенты" (for Контрагент_Key)
    tabular: dict[str, Shape] = dataclasses.field(default_factory=dict)

    @classmethod
    def build(cls, name: str, props: list[Prop],
              tabular: dict[str, Shape] | None = None) -> Shape:
        navigation = {
            p.attr.name: p.attr.target
            for p in props
            if p.attr is not None and p.attr.kind == "ref" and p.name.endswith("_Key")
        }
        return cls(name, {p.name: p for p in props}, navigation, tabular or {})


def row_props(section: TabularSection, *, with_owner: bool) -> list[Prop]:
    props = [Prop("Ref_Key", "guid", nullable=False)] if with_owner else []
    props.append(Prop("LineNumber", "int64", nullable=False))
    for column in section.columns:
        props += column.properties()
    return props


def entity_shape(entity: EntityDef) -> Shape:
    tabular = {
        ts.name: Shape.build(f"{entity.name}_{ts.name}_RowType", row_props(ts, with_owner=False))
        for ts in entity.tabular
    }
    return Shape.build(entity.name, entity.props(), tabular)


# --- shared attribute sets -----------------------------------------------------------------

CONTACT_KINDS = ("Адрес", "Телефон", "АдресЭлектроннойПочты", "ВебСтраница", "Факс", "Другое",
                 "Skype")
VAT_TAXATION = ("ОблагаетсяНДС", "НеОблагаетсяНДС", "НаЭкспорт")
UNIT_TYPES = ("Catalog_КлассификаторЕдиницИзмерения", "Catalog_ЕдиницыИзмерения")
NOMENCLATURE_TYPES = ("Запас", "Услуга", "Работа", "Операция", "ВидРабот")


def _sb_goods_columns(*extra: Attr) -> tuple[Attr, ...]:
    return (
        R("Номенклатура", "Catalog_Номенклатура"),
        R("Характеристика", "Catalog_ХарактеристикиНоменклатуры"),
        R("Партия", "Catalog_ПартииНоменклатуры"),
        N("Количество"),
        C("ЕдиницаИзмерения", *UNIT_TYPES),
        N("Цена"),
        N("ПроцентСкидкиНаценки"),
        N("Сумма"),
        R("СтавкаНДС", "Catalog_СтавкиНДС"),
        N("СуммаНДС"),
        N("Всего"),
        S("Содержание"),
        N("КлючСвязи"),
        *extra,
    )


_SB_DOC_MONEY = (
    R("ВалютаДокумента", "Catalog_Валюты"),
    N("Курс"),
    N("Кратность"),
    R("ВидЦен", "Catalog_ВидыЦен"),
    E("НалогообложениеНДС", *VAT_TAXATION),
    B("СуммаВключаетНДС"),
    B("НДСВключатьВСтоимость"),
    B("АвторасчетНДС"),
)

_SB_PAYMENT_ROWS = TabularSection("РасшифровкаПлатежа", (
    R("Договор", "Catalog_ДоговорыКонтрагентов"),
    B("ПризнакАванса"),
    C("Заказ", "Document_ЗаказПокупателя", "Document_ЗаказПоставщику"),
    C("СчетНаОплату", "Document_СчетНаОплату", "Document_ЗаказПокупателя"),
    C("Документ", "Document_РасходнаяНакладная", "Document_ПриходнаяНакладная"),
    N("СуммаРасчетов"),
    N("Курс"),
    N("Кратность"),
    N("СуммаПлатежа"),
    R("СтавкаНДС", "Catalog_СтавкиНДС"),
    N("СуммаНДС"),
    E("ТипСуммы"),
))


def _sb_payment(name: str, prefix: str, account: Attr, *extra: Attr) -> EntityDef:
    return EntityDef(
        name, "document", number_prefix=prefix, realtime_posting=True,
        attrs=(
            E("ВидОперации", "ОтПокупателя", "ОтПоставщика", "ВозвратОтПоставщика",
              "ПрочееПоступление", "ПолучениеНаличныхВБанке"),
            R("Организация", "Catalog_Организации"),
            account,
            R("Контрагент", "Catalog_Контрагенты"),
            N("СуммаДокумента"),
            R("ВалютаДенежныхСредств", "Catalog_Валюты"),
            R("Статья", "Catalog_СтатьиДвиженияДенежныхСредств"),
            E("НалогообложениеНДС", *VAT_TAXATION),
            N("Курс"),
            N("Кратность"),
            N("СуммаУчета"),
            *extra,
            C("ДокументОснование", "Document_ЗаказПокупателя", "Document_СчетНаОплату",
              "Document_РасходнаяНакладная"),
            S("НомерВходящегоДокумента"),
            D("ДатаВходящегоДокумента"),
            S("Комментарий"),
            R("Ответственный", "Catalog_Сотрудники"),
        ),
        tabular=(_SB_PAYMENT_ROWS,),
    )


def _sb_retail_receipt() -> EntityDef:
    """Document_ЧекККМ: a retail sale punched on a fiscal register (УНФ names; bas-odata.md
    does not list it, so the fiscal attributes — НомерЧекаККМ as text for ПРРО fiscal codes,
    СсылкаНаЧек — are inferred and configurable in the portal)."""
    return EntityDef(
        "Document_ЧекККМ", "document", number_prefix="ЧК00-", realtime_posting=True,
        attrs=(
            R("Организация", "Catalog_Организации"),
            R("КассаККМ", "Catalog_КассыККМ"),
            R("СтруктурнаяЕдиница", "Catalog_СтруктурныеЕдиницы"),
            *_SB_DOC_MONEY,
            E("Статус", "Пробит", "Архивный", "Отложен"),
            S("НомерЧекаККМ"),
            S("СсылкаНаЧек"),
            N("ПолученоНаличными"),
            C("ДокументОснование", "Document_ЗаказПокупателя", "Document_СчетНаОплату",
              "Document_РасходнаяНакладная"),
            N("СуммаДокумента"),
            S("Комментарий"),
            R("Ответственный", "Catalog_Сотрудники"),
        ),
        tabular=(
            TabularSection("Запасы", _sb_goods_columns()),
            TabularSection("ОплатаПлатежнымиКартами", (
                S("ВидПлатежнойКарты"),
                S("НомерПлатежнойКарты"),
                N("Сумма"),
                S("СсылочныйНомер"),
            )),
        ),
    )


def _small_business() -> Configuration:
    catalogs = [
        EntityDef("Catalog_Контрагенты", "catalog", hierarchical=True, attrs=(
            E("ВидКонтрагента", "ЮридическоеЛицо", "ИндивидуальныйПредприниматель",
              "ФизическоеЛицо", "ГосударственныйОрган"),
            S("НаименованиеПолное"),
            S("ИНН"),
            S("КодПоЕДРПОУ"),
            B("Покупатель"),
            B("Поставщик"),
            R("ДоговорПоУмолчанию", "Catalog_ДоговорыКонтрагентов"),
            B("ВестиРасчетыПоДоговорам"),
            B("ВестиРасчетыПоЗаказам"),
            R("Ответственный", "Catalog_Сотрудники"),
            S("Комментарий"),
        ), tabular=(TabularSection("КонтактнаяИнформация", (
            E("Тип", *CONTACT_KINDS),
            R("Вид", "Catalog_ВидыКонтактнойИнформации"),
            S("Представление"),
            S("ЗначенияПолей"),
            S("НомерТелефона"),
            S("НомерТелефонаБезКодов"),
            S("АдресЭП"),
            S("Страна"),
            S("Регион"),
            S("Город"),
        )),), required=("Description",)),
        EntityDef("Catalog_ДоговорыКонтрагентов", "catalog", owners=("Catalog_Контрагенты",),
                  attrs=(
            E("ВидДоговора", "СПокупателем", "СПоставщиком", "СКомитентом", "СКомиссионером",
              "Прочее"),
            S("НомерДоговора"),
            D("ДатаДоговора"),
            R("Организация", "Catalog_Организации"),
            R("ВалютаРасчетов", "Catalog_Валюты"),
            R("ВидЦен", "Catalog_ВидыЦен"),
            S("Комментарий"),
        ), required=("Description", "Owner_Key")),
        EntityDef("Catalog_Номенклатура", "catalog", hierarchical=True, code_length=11, attrs=(
            S("Артикул"),
            S("НаименованиеПолное"),
            E("ТипНоменклатуры", *NOMENCLATURE_TYPES),
            R("ЕдиницаИзмерения", "Catalog_КлассификаторЕдиницИзмерения"),
            R("КатегорияНоменклатуры", "Catalog_КатегорииНоменклатуры"),
            R("СтавкаНДС", "Catalog_СтавкиНДС"),
            B("ИспользоватьХарактеристики"),
            B("ИспользоватьПартии"),
            R("Склад", "Catalog_СтруктурныеЕдиницы"),
            S("Комментарий"),
        ), required=("Description", "ТипНоменклатуры", "ЕдиницаИзмерения_Key",
                     "КатегорияНоменклатуры_Key")),
        EntityDef("Catalog_ХарактеристикиНоменклатуры", "catalog",
                  owners=("Catalog_Номенклатура", "Catalog_КатегорииНоменклатуры"),
                  attrs=(S("НаименованиеПолное"),),
                  required=("Description", "Owner")),
        EntityDef("Catalog_КатегорииНоменклатуры", "catalog", hierarchical=True,
                  required=("Description",)),
        EntityDef("Catalog_КлассификаторЕдиницИзмерения", "catalog", code_length=4,
                  attrs=(S("НаименованиеПолное"),), required=("Description",)),
        EntityDef("Catalog_Организации", "catalog", attrs=(
            S("НаименованиеПолное"),
            S("КодПоЕДРПОУ"),
            S("ИНН"),
            S("Префикс"),
            E("ЮридическоеФизическоеЛицо", "ЮридическоеЛицо", "ФизическоеЛицо"),
        ), required=("Description",)),
        EntityDef("Catalog_СтруктурныеЕдиницы", "catalog", attrs=(
            E("ТипСтруктурнойЕдиницы", "Склад", "Подразделение", "Розница",
              "РозницаСуммовойУчет"),
            R("Организация", "Catalog_Организации"),
            S("Комментарий"),
        ), required=("Description", "ТипСтруктурнойЕдиницы")),
        EntityDef("Catalog_Валюты", "catalog", code_length=3,
                  attrs=(S("НаименованиеПолное"),), required=("Description",)),
        EntityDef("Catalog_ВидыЦен", "catalog", attrs=(
            R("ВалютаЦены", "Catalog_Валюты"),
            B("ЦенаВключаетНДС"),
            S("Комментарий"),
        ), required=("Description",)),
        EntityDef("Catalog_СтавкиНДС", "catalog", attrs=(N("Ставка"), B("Расчетная")),
                  required=("Description",)),
        EntityDef("Catalog_СостоянияЗаказовПокупателей", "catalog", attrs=(S("Цвет"),),
                  predefined=(Predefined("Завершен", "Завершено"),),
                  required=("Description",)),
        EntityDef("Catalog_ПричиныОтменыЗаказа", "catalog", required=("Description",)),
        EntityDef("Catalog_СтатьиДвиженияДенежныхСредств", "catalog", hierarchical=True,
                  attrs=(S("Комментарий"),), required=("Description",)),
        EntityDef("Catalog_БанковскиеСчета", "catalog",
                  owners=("Catalog_Организации", "Catalog_Контрагенты"), attrs=(
            S("НомерСчета"),
            R("Банк", "Catalog_Банки"),
            R("ВалютаДенежныхСредств", "Catalog_Валюты"),
        ), required=("Description",)),
        EntityDef("Catalog_Кассы", "catalog",
                  attrs=(R("ВалютаДенежныхСредств", "Catalog_Валюты"),),
                  required=("Description",)),
        # The fiscal register (РРО / ПРРО) a retail receipt is punched on.
        EntityDef("Catalog_КассыККМ", "catalog", attrs=(
            R("Организация", "Catalog_Организации"),
            R("СтруктурнаяЕдиница", "Catalog_СтруктурныеЕдиницы"),
            R("ВалютаДенежныхСредств", "Catalog_Валюты"),
            S("РегистрационныйНомер"),
        ), required=("Description",)),
        EntityDef("Catalog_ВидыКонтактнойИнформации", "catalog", hierarchical=True, attrs=(
            E("Тип", *CONTACT_KINDS),
        ), predefined=(
            Predefined("ТелефонКонтрагента", "Телефон"),
            Predefined("EmailКонтрагента", "Email"),
            Predefined("ЮрАдресКонтрагента", "Юридична адреса"),
            Predefined("ФактАдресКонтрагента", "Фактична адреса"),
        ), required=("Description",)),
    ]
    documents = [
        EntityDef("Document_ЗаказПокупателя", "document", number_prefix="КЦ00-", attrs=(
            E("ВидОперации", "ЗаказНаПродажу", "ЗаказНаПереработку"),
            R("Организация", "Catalog_Организации"),
            R("Контрагент", "Catalog_Контрагенты"),
            R("Договор", "Catalog_ДоговорыКонтрагентов"),
            *_SB_DOC_MONEY,
            D("ДатаОтгрузки"),
            R("СтруктурнаяЕдиницаПродажи", "Catalog_СтруктурныеЕдиницы"),
            R("СтруктурнаяЕдиницаРезерв", "Catalog_СтруктурныеЕдиницы"),
            C("СостояниеЗаказа", "Catalog_СостоянияЗаказовПокупателей",
              "Catalog_СостоянияЗаказНарядов"),
            C("ВидЗаказа", "Catalog_ВидыЗаказовПокупателей", "Catalog_ВидыЗаказНарядов"),
            E("ВариантЗавершения", "Успешно", "Отменен"),
            R("ПричинаОтмены", "Catalog_ПричиныОтменыЗаказа"),
            B("ЗапланироватьОплату"),
            E("ТипДенежныхСредств", "Наличные", "Безналичные"),
            R("БанковскийСчет", "Catalog_БанковскиеСчета"),
            R("Касса", "Catalog_Кассы"),
            S("НомерВходящегоДокумента"),
            D("ДатаВходящегоДокумента"),
            S("Комментарий"),
            N("СуммаДокумента"),
            R("Ответственный", "Catalog_Сотрудники"),
        ), tabular=(
            TabularSection("Запасы", _sb_goods_columns(
                N("Резерв"),
                D("ДатаОтгрузки"),
                B("ТипНоменклатурыЗапас"),
                N("ПроцентАвтоматическойСкидки"),
                N("СуммаАвтоматическойСкидки"),
            )),
            TabularSection("ДополнительныеРеквизиты", (
                R("Свойство", "ChartOfCharacteristicTypes_ДополнительныеРеквизитыИСведения"),
                C("Значение", "Catalog_ЗначенияСвойствОбъектов", *PRIMITIVE_TYPES),
                S("ТекстоваяСтрока"),
            )),
        )),
        EntityDef("Document_РасходнаяНакладная", "document", number_prefix="РН00-", attrs=(
            E("ВидОперации", "ПродажаПокупателю", "ВозвратПоставщику", "ПередачаНаКомиссию"),
            R("Организация", "Catalog_Организации"),
            R("Контрагент", "Catalog_Контрагенты"),
            R("Договор", "Catalog_ДоговорыКонтрагентов"),
            R("СтруктурнаяЕдиница", "Catalog_СтруктурныеЕдиницы"),
            R("Ячейка", "Catalog_Ячейки"),
            C("Заказ", "Document_ЗаказПокупателя", "Document_ЗаказПоставщику"),
            C("ДокументОснование", "Document_ЗаказПокупателя", "Document_СчетНаОплату",
              "Document_ПриходнаяНакладная"),
            *_SB_DOC_MONEY,
            N("СуммаДокумента"),
            S("Комментарий"),
            R("Ответственный", "Catalog_Сотрудники"),
        ), tabular=(TabularSection("Запасы", _sb_goods_columns(
            C("Заказ", "Document_ЗаказПокупателя", "Document_ЗаказПоставщику"),
        )),)),
        EntityDef("Document_ПриходнаяНакладная", "document", number_prefix="ПН00-", attrs=(
            E("ВидОперации", "ПоступлениеОтПоставщика", "ВозвратОтПокупателя",
              "ПриемНаКомиссию"),
            R("Организация", "Catalog_Организации"),
            R("Контрагент", "Catalog_Контрагенты"),
            R("Договор", "Catalog_ДоговорыКонтрагентов"),
            R("СтруктурнаяЕдиница", "Catalog_СтруктурныеЕдиницы"),
            R("Ячейка", "Catalog_Ячейки"),
            C("Заказ", "Document_ЗаказПоставщику", "Document_ЗаказПокупателя"),
            C("ДокументОснование", "Document_РасходнаяНакладная", "Document_ЗаказПоставщику"),
            *_SB_DOC_MONEY,
            N("СуммаДокумента"),
            S("НомерВходящегоДокумента"),
            D("ДатаВходящегоДокумента"),
            S("Комментарий"),
        ), tabular=(TabularSection("Запасы", _sb_goods_columns(
            C("Заказ", "Document_ЗаказПоставщику", "Document_ЗаказПокупателя"),
        )),)),
        EntityDef("Document_СчетНаОплату", "document", number_prefix="СФ00-", attrs=(
            R("Организация", "Catalog_Организации"),
            R("Контрагент", "Catalog_Контрагенты"),
            R("Договор", "Catalog_ДоговорыКонтрагентов"),
            *_SB_DOC_MONEY,
            C("ДокументОснование", "Document_ЗаказПокупателя"),
            R("БанковскийСчет", "Catalog_БанковскиеСчета"),
            N("СуммаДокумента"),
            S("Комментарий"),
        ), tabular=(TabularSection("Запасы", _sb_goods_columns()),)),
        _sb_payment("Document_ПоступлениеНаСчет", "ПС00-",
                    R("БанковскийСчет", "Catalog_БанковскиеСчета"), S("НазначениеПлатежа")),
        _sb_payment("Document_ПоступлениеВКассу", "ПК00-", R("Касса", "Catalog_Кассы"),
                    S("ПринятоОт"), S("Основание")),
        _sb_retail_receipt(),
    ]
    stock_dims = (
        R("Организация", "Catalog_Организации"),
        R("Номенклатура", "Catalog_Номенклатура"),
        R("Характеристика", "Catalog_ХарактеристикиНоменклатуры"),
        R("Партия", "Catalog_ПартииНоменклатуры"),
    )
    registers = [
        RegisterDef("AccumulationRegister_ЗапасыНаСкладах", "accumulation", dimensions=(
            *stock_dims,
            R("СтруктурнаяЕдиница", "Catalog_СтруктурныеЕдиницы"),
            R("Ячейка", "Catalog_Ячейки"),
        ), resources=(N("Количество"),),
            recorders=("Document_ПриходнаяНакладная", "Document_РасходнаяНакладная")),
        RegisterDef("AccumulationRegister_Запасы", "accumulation", dimensions=(
            R("Организация", "Catalog_Организации"),
            R("СчетУчета", "ChartOfAccounts_Управленческий"),
            R("СтруктурнаяЕдиница", "Catalog_СтруктурныеЕдиницы"),
            R("Номенклатура", "Catalog_Номенклатура"),
            R("Характеристика", "Catalog_ХарактеристикиНоменклатуры"),
            R("Партия", "Catalog_ПартииНоменклатуры"),
            R("ЗаказПокупателя", "Document_ЗаказПокупателя"),
        ), resources=(N("Количество"), N("Сумма")),
            recorders=("Document_ПриходнаяНакладная", "Document_РасходнаяНакладная")),
        RegisterDef("AccumulationRegister_ЗаказыПокупателей", "accumulation", dimensions=(
            R("Организация", "Catalog_Организации"),
            R("ЗаказПокупателя", "Document_ЗаказПокупателя"),
            R("Номенклатура", "Catalog_Номенклатура"),
            R("Характеристика", "Catalog_ХарактеристикиНоменклатуры"),
        ), resources=(N("Количество"),),
            recorders=("Document_ЗаказПокупателя", "Document_РасходнаяНакладная")),
        RegisterDef("InformationRegister_ЦеныНоменклатуры", "information", dimensions=(
            R("ВидЦен", "Catalog_ВидыЦен"),
            R("Номенклатура", "Catalog_Номенклатура"),
            R("Характеристика", "Catalog_ХарактеристикиНоменклатуры"),
        ), resources=(N("Цена"), B("Актуальность"), C("ЕдиницаИзмерения", *UNIT_TYPES)),
            attributes=(R("Автор", "Catalog_Пользователи"),),
            subordinate=False),
    ]
    return Configuration(
        "small_business", "BAS Small Business",
        {e.name: e for e in (*catalogs, *documents)}, {r.name: r for r in registers},
    )


ACC_VAT = ("НДС20", "НДС14", "НДС7", "НДС0", "БезНДС", "НеНДС")
_ACC_GOODS = TabularSection("Товары", (
    R("Номенклатура", "Catalog_Номенклатура"),
    R("ЕдиницаИзмерения", "Catalog_КлассификаторЕдиницИзмерения"),
    N("Коэффициент"),
    N("Количество"),
    N("Цена"),
    N("Сумма"),
    E("СтавкаНДС", *ACC_VAT),
    N("СуммаНДС"),
))
_ACC_MONEY = (
    R("ВалютаДокумента", "Catalog_Валюты"),
    N("КурсВзаиморасчетов"),
    N("КратностьВзаиморасчетов"),
    R("ТипЦен", "Catalog_ТипыЦенНоменклатуры"),
    B("СуммаВключаетНДС"),
    B("УчитыватьНДС"),
)
_ACC_PAYMENT_ROWS = TabularSection("РасшифровкаПлатежа", (
    R("ДоговорКонтрагента", "Catalog_ДоговорыКонтрагентов"),
    C("Сделка", "Document_СчетНаОплатуПокупателю", "Document_РеализацияТоваровУслуг"),
    N("КурсВзаиморасчетов"),
    N("КратностьВзаиморасчетов"),
    N("СуммаПлатежа"),
    N("СуммаВзаиморасчетов"),
    E("СтавкаНДС", *ACC_VAT),
    N("СуммаНДС"),
    R("СтатьяДвиженияДенежныхСредств", "Catalog_СтатьиДвиженияДенежныхСредств"),
    E("СпособПогашенияЗадолженности", "Автоматически", "ПоДокументу", "НеПогашать"),
))


def _acc_party(*extra: Attr) -> tuple[Attr, ...]:
    return (
        R("Организация", "Catalog_Организации"),
        R("Контрагент", "Catalog_Контрагенты"),
        R("ДоговорКонтрагента", "Catalog_ДоговорыКонтрагентов"),
        *extra,
    )


def _accounting() -> Configuration:
    catalogs = [
        EntityDef("Catalog_Контрагенты", "catalog", hierarchical=True, attrs=(
            E("ЮридическоеФизическоеЛицо", "ЮрЛицо", "ФизЛицо"),
            S("НаименованиеПолное"),
            S("ИНН"),
            S("КодПоЕДРПОУ"),
            R("ОсновнойДоговорКонтрагента", "Catalog_ДоговорыКонтрагентов"),
            R("ОсновнойБанковскийСчет", "Catalog_БанковскиеСчета"),
            R("ГоловнойКонтрагент", "Catalog_Контрагенты"),
            B("ОбособленноеПодразделение"),
            S("Комментарий"),
        ), required=("Description",)),
        EntityDef("Catalog_ДоговорыКонтрагентов", "catalog", owners=("Catalog_Контрагенты",),
                  attrs=(
            E("ВидДоговора", "СПоставщиком", "СПокупателем", "СКомитентом", "СКомиссионером",
              "Прочее"),
            S("Номер"),
            D("Дата"),
            R("Организация", "Catalog_Организации"),
            R("ВалютаВзаиморасчетов", "Catalog_Валюты"),
            R("ТипЦен", "Catalog_ТипыЦенНоменклатуры"),
            E("ВедениеВзаиморасчетов", "ПоДоговоруВЦелом", "ПоЗаказам", "ПоСчетам"),
            S("Комментарий"),
        ), required=("Description", "Owner_Key")),
        EntityDef("Catalog_Номенклатура", "catalog", hierarchical=True, code_length=11, attrs=(
            S("Артикул"),
            S("НаименованиеПолное"),
            R("БазоваяЕдиницаИзмерения", "Catalog_КлассификаторЕдиницИзмерения"),
            B("Услуга"),
            R("НоменклатурнаяГруппа", "Catalog_НоменклатурныеГруппы"),
            E("СтавкаНДС", *ACC_VAT),
            S("Комментарий"),
        ), required=("Description", "БазоваяЕдиницаИзмерения_Key")),
        EntityDef("Catalog_КлассификаторЕдиницИзмерения", "catalog", code_length=4,
                  attrs=(S("НаименованиеПолное"),), required=("Description",)),
        EntityDef("Catalog_Организации", "catalog", attrs=(
            S("НаименованиеПолное"),
            S("КодПоЕДРПОУ"),
            S("ИНН"),
            S("Префикс"),
            E("ЮридическоеФизическоеЛицо", "ЮрЛицо", "ФизЛицо"),
        ), required=("Description",)),
        EntityDef("Catalog_Склады", "catalog", hierarchical=True, attrs=(
            E("ВидСклада", "Оптовый", "Розничный", "НТТ"),
            R("ТипЦенРозничнойТорговли", "Catalog_ТипыЦенНоменклатуры"),
            S("Комментарий"),
        ), required=("Description",)),
        EntityDef("Catalog_Валюты", "catalog", code_length=3,
                  attrs=(S("НаименованиеПолное"),), required=("Description",)),
        EntityDef("Catalog_ТипыЦенНоменклатуры", "catalog", attrs=(
            R("ВалютаЦены", "Catalog_Валюты"),
            B("ЦенаВключаетНДС"),
            S("Комментарий"),
        ), required=("Description",)),
        EntityDef("Catalog_СтатьиДвиженияДенежныхСредств", "catalog", hierarchical=True,
                  attrs=(S("Комментарий"),), required=("Description",)),
        EntityDef("Catalog_БанковскиеСчета", "catalog",
                  owners=("Catalog_Организации", "Catalog_Контрагенты"), attrs=(
            S("НомерСчета"),
            R("Банк", "Catalog_Банки"),
            R("ВалютаДенежныхСредств", "Catalog_Валюты"),
        ), required=("Description",)),
    ]
    documents = [
        EntityDef("Document_РеализацияТоваровУслуг", "document", number_prefix="РТ00-",
                  realtime_posting=True, attrs=_acc_party(
            E("ВидОперации", "ПродажаКомиссия", "ВПереработку", "Оборудование"),
            R("Склад", "Catalog_Склады"),
            *_ACC_MONEY,
            C("ДокументОснование", "Document_СчетНаОплатуПокупателю"),
            N("СуммаДокумента"),
            S("Комментарий"),
            R("Ответственный", "Catalog_Пользователи"),
        ), tabular=(_ACC_GOODS,)),
        EntityDef("Document_СчетНаОплатуПокупателю", "document", number_prefix="СП00-",
                  realtime_posting=True, attrs=_acc_party(
            *_ACC_MONEY,
            R("СтруктурнаяЕдиница", "Catalog_БанковскиеСчета"),
            N("СуммаДокумента"),
            S("Комментарий"),
        ), tabular=(_ACC_GOODS,)),
        EntityDef("Document_ПоступлениеНаРасчетныйСчет", "document", number_prefix="ПР00-",
                  realtime_posting=True, attrs=_acc_party(
            E("ВидОперации", "ОплатаПокупателя", "ВозвратДенежныхСредствПоставщиком",
              "ПрочееПоступление"),
            R("СчетОрганизации", "Catalog_БанковскиеСчета"),
            R("ВалютаДокумента", "Catalog_Валюты"),
            N("СуммаДокумента"),
            R("СтатьяДвиженияДенежныхСредств", "Catalog_СтатьиДвиженияДенежныхСредств"),
            S("НазначениеПлатежа"),
            S("НомерВходящегоДокумента"),
            D("ДатаВходящегоДокумента"),
            C("ДокументОснование", "Document_СчетНаОплатуПокупателю",
              "Document_РеализацияТоваровУслуг"),
            S("Комментарий"),
        ), tabular=(_ACC_PAYMENT_ROWS,)),
        EntityDef("Document_ПриходныйКассовыйОрдер", "document", number_prefix="ПКО0-",
                  realtime_posting=True, attrs=_acc_party(
            E("ВидОперации", "ОплатаПокупателя", "ВозвратДенежныхСредствПодотчетником",
              "ПрочийПриход"),
            R("ВалютаДокумента", "Catalog_Валюты"),
            N("СуммаДокумента"),
            R("СтатьяДвиженияДенежныхСредств", "Catalog_СтатьиДвиженияДенежныхСредств"),
            S("ПринятоОт"),
            S("Основание"),
            C("ДокументОснование", "Document_СчетНаОплатуПокупателю",
              "Document_РеализацияТоваровУслуг"),
            S("Комментарий"),
        ), tabular=(_ACC_PAYMENT_ROWS,)),
        EntityDef("Document_ВозвратТоваровОтПокупателя", "document", number_prefix="ВП00-",
                  realtime_posting=True, attrs=_acc_party(
            R("Склад", "Catalog_Склады"),
            *_ACC_MONEY,
            C("ДокументОснование", "Document_РеализацияТоваровУслуг"),
            N("СуммаДокумента"),
            S("Комментарий"),
        ), tabular=(_ACC_GOODS,)),
        EntityDef("Document_УстановкаЦенНоменклатуры", "document", number_prefix="УЦ00-",
                  attrs=(S("Комментарий"), R("Ответственный", "Catalog_Пользователи")),
                  tabular=(TabularSection("Товары", (
                      R("Номенклатура", "Catalog_Номенклатура"),
                      R("ТипЦен", "Catalog_ТипыЦенНоменклатуры"),
                      N("Цена"),
                      R("Валюта", "Catalog_Валюты"),
                  )),)),
    ]
    registers = [
        RegisterDef("InformationRegister_ЦеныНоменклатуры", "information", dimensions=(
            R("ТипЦен", "Catalog_ТипыЦенНоменклатуры"),
            R("Номенклатура", "Catalog_Номенклатура"),
        ), resources=(N("Цена"), R("Валюта", "Catalog_Валюты")),
            attributes=(R("ЕдиницаИзмерения", "Catalog_КлассификаторЕдиницИзмерения"),),
            recorders=("Document_УстановкаЦенНоменклатуры",)),
    ]
    return Configuration(
        "accounting", "BAS Бухгалтерія",
        {e.name: e for e in (*catalogs, *documents)}, {r.name: r for r in registers},
    )


CONFIGURATIONS: dict[str, Configuration] = {
    c.name: c for c in (_small_business(), _accounting())
}


def configuration(name: str) -> Configuration:
    try:
        return CONFIGURATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown configuration {name!r}; known: {', '.join(CONFIGURATIONS)}"
        ) from None
