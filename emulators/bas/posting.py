"""What the configurations' own code does on write and on posting: defaults and totals before
a write (ПередЗаписью / ОбработкаЗаполнения), fill checks on posting
(ОбработкаПроверкиЗаполнения) and register movements (ОбработкаПроведения).

Each behaviour is looked up in an explicit table by (configuration, entity set); a document
with no rule posts without checks and without movements. Messages name the attribute by its
metadata identifier, e.g. ``Поле "Контрагент" не заповнено``, so a client can show them as is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .schema import EMPTY_REF, NAMESPACE, EntityDef, Prop, is_filled, row_props

if TYPE_CHECKING:
    from .store import Infobase

Movements = dict[str, list[dict[str, Any]]]
_STOCK_TYPES = ("Запас", "")  # ТипНоменклатуры of items that move stock ("" = unknown)
COMPLETED_STATE = "Завершен"


def _title(prop: Prop) -> str:
    return prop.attr.name if prop.attr is not None else prop.name


@dataclasses.dataclass(frozen=True)
class Rule:
    header: tuple[str, ...] = ()  # properties that must be filled
    section: str = ""  # the tabular section that must have rows
    columns: tuple[str, ...] = ()  # row properties that must be filled
    positive: tuple[str, ...] = ()  # row numbers that must be > 0
    # (property, value, more header properties required when property == value)
    when: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    rows_when: tuple[str, str] | None = None  # section required only when property == value
    custom: Callable[[Infobase, dict], list[str]] | None = None
    movements: Callable[[Infobase, dict], Movements] | None = None


def check(base: Infobase, entity: EntityDef, doc: dict) -> list[str]:
    """Posting fill checks → user messages (empty: the document may be posted)."""
    rule = _RULES.get((base.config.name, entity.name))
    if rule is None:
        return []
    props = base.props(entity)
    required = list(rule.header)
    for prop_name, value, extra in rule.when:
        if doc.get(prop_name) == value:
            required += extra
    problems = [f"Поле \"{_title(props[name])}\" не заповнено"
                for name in required if not is_filled(props[name], doc)]
    rows_needed = rule.section and (rule.rows_when is None
                                    or doc.get(rule.rows_when[0]) == rule.rows_when[1])
    if rows_needed:
        problems += _check_rows(entity, doc, rule)
    if rule.custom is not None:
        problems += rule.custom(base, doc)
    return problems


def _check_rows(entity: EntityDef, doc: dict, rule: Rule) -> list[str]:
    section = entity.section(rule.section)
    assert section is not None
    rows = doc.get(rule.section) or []
    if not rows:
        return [f"Не заповнено список \"{rule.section}\""]
    columns = {p.name: p for p in row_props(section, with_owner=False)}
    problems = []
    for row in rows:
        line = row.get("LineNumber")
        for name in rule.columns:
            if not is_filled(columns[name], row):
                problems.append(f"Не заповнено колонку \"{_title(columns[name])}\" у рядку "
                                f"{line} списку \"{rule.section}\"")
        for name in rule.positive:
            if float(row.get(name) or 0) < 0:
                problems.append(f"Значення \"{name}\" у рядку {line} списку "
                                f"\"{rule.section}\" має бути більшим за нуль")
    return problems


def movements(base: Infobase, entity: EntityDef, doc: dict) -> Movements:
    rule = _RULES.get((base.config.name, entity.name))
    if rule is None or rule.movements is None:
        return {}
    return rule.movements(base, doc)


def before_write(base: Infobase, entity: EntityDef, obj: dict, *, is_new: bool) -> None:
    """Defaults and totals the configuration computes on every write."""
    if not entity.is_document and not obj.get("IsFolder") and "НаименованиеПолное" in obj \
            and not obj["НаименованиеПолное"]:
        obj["НаименованиеПолное"] = obj.get("Description", "")
    hook = _BEFORE_WRITE.get((base.config.name, entity.name))
    if hook is not None:
        hook(base, obj, is_new)


# --- BAS Small Business -----------------------------------------------------------------------


def _sb_default_contract(base: Infobase, doc: dict) -> None:
    """ПередЗаписью: a counterparty that does not keep per-contract settlements gets its
    default contract (§5)."""
    if doc.get("Договор_Key") not in (None, "", EMPTY_REF):
        return
    party = base.get("Catalog_Контрагенты", doc.get("Контрагент_Key", EMPTY_REF))
    if party and not party.get("ВестиРасчетыПоДоговорам") \
            and party.get("ДоговорПоУмолчанию_Key") not in (None, "", EMPTY_REF):
        doc["Договор_Key"] = party["ДоговорПоУмолчанию_Key"]


def _sb_totals(base: Infobase, doc: dict) -> None:
    rows = doc.get("Запасы") or []
    if doc.get("АвторасчетНДС"):
        for row in rows:
            rate = base.get("Catalog_СтавкиНДС", row.get("СтавкаНДС_Key", EMPTY_REF))
            percent = float(rate.get("Ставка") or 0) if rate else 0.0
            amount = float(row.get("Сумма") or 0)
            vat = amount * percent / (100 + percent) if doc.get("СуммаВключаетНДС") \
                else amount * percent / 100
            row["СуммаНДС"] = _money(vat)
    doc["СуммаДокумента"] = _money(sum(float(r.get("Всего") or 0) for r in rows))


def _money(value: float) -> float | int:
    value = round(value + 0.0, 2)
    return int(value) if value.is_integer() else value


def _sb_order_before_write(base: Infobase, doc: dict, is_new: bool) -> None:
    if is_new and doc.get("СостояниеЗаказа_Type") in (None, "", f"{NAMESPACE}.Undefined"):
        # ОбработкаЗаполнения: the first state that is not "Завершен" (usually "Новий").
        states = base.objects.get("Catalog_СостоянияЗаказовПокупателей", {})
        first = next((s for s in states.values()
                      if s.get("PredefinedDataName") != COMPLETED_STATE
                      and not s.get("DeletionMark")), None)
        if first is not None:
            doc["СостояниеЗаказа"] = first["Ref_Key"]
            doc["СостояниеЗаказа_Type"] = f"{NAMESPACE}.Catalog_СостоянияЗаказовПокупателей"
    _sb_default_contract(base, doc)
    _sb_totals(base, doc)


def _sb_invoice_before_write(base: Infobase, doc: dict, is_new: bool) -> None:
    _sb_default_contract(base, doc)
    _sb_totals(base, doc)


def _sb_contract_check(base: Infobase, doc: dict) -> list[str]:
    """Договор is required unless the counterparty keeps no per-contract settlements."""
    if doc.get("Договор_Key") not in (None, "", EMPTY_REF):
        return []
    party = base.get("Catalog_Контрагенты", doc.get("Контрагент_Key", EMPTY_REF))
    if party and party.get("ВестиРасчетыПоДоговорам"):
        return ["Поле \"Договор\" не заповнено"]
    return []


def _is_stock_item(base: Infobase, row: dict) -> bool:
    item = base.get("Catalog_Номенклатура", row.get("Номенклатура_Key", EMPTY_REF))
    return item is None or item.get("ТипНоменклатуры", "") in _STOCK_TYPES


def _goods(row: dict, doc: dict) -> dict[str, Any]:
    return {
        "Организация_Key": doc.get("Организация_Key", EMPTY_REF),
        "Номенклатура_Key": row.get("Номенклатура_Key", EMPTY_REF),
        "Характеристика_Key": row.get("Характеристика_Key", EMPTY_REF),
        "Партия_Key": row.get("Партия_Key", EMPTY_REF),
    }


def _order_of(row: dict, doc: dict) -> str | None:
    """The customer order a shipped line closes: the line's Заказ, else the header's."""
    for source in (row, doc):
        if source.get("Заказ_Type") == f"{NAMESPACE}.Document_ЗаказПокупателя" \
                and source.get("Заказ") not in (None, "", EMPTY_REF):
            return source["Заказ"]
    return None


def _sb_receipt_movements(base: Infobase, doc: dict) -> Movements:
    stock, costs = [], []
    for row in doc.get("Запасы") or []:
        if not _is_stock_item(base, row):
            continue
        goods = _goods(row, doc)
        quantity = float(row.get("Количество") or 0)
        stock.append({**goods, "RecordType": "Receipt", "Количество": quantity,
                      "СтруктурнаяЕдиница_Key": doc.get("СтруктурнаяЕдиница_Key", EMPTY_REF),
                      "Ячейка_Key": doc.get("Ячейка_Key", EMPTY_REF)})
        amount = float(row.get("Сумма") or 0)
        if doc.get("СуммаВключаетНДС"):
            amount -= float(row.get("СуммаНДС") or 0)
        costs.append({**goods, "RecordType": "Receipt", "Количество": quantity,
                      "Сумма": round(amount, 2),
                      "СтруктурнаяЕдиница_Key": doc.get("СтруктурнаяЕдиница_Key", EMPTY_REF)})
    return {"AccumulationRegister_ЗапасыНаСкладах": stock, "AccumulationRegister_Запасы": costs}


def _sb_sale_movements(base: Infobase, doc: dict) -> Movements:
    stock, costs, orders = [], [], []
    cost_register = base.registers["AccumulationRegister_Запасы"]
    for row in doc.get("Запасы") or []:
        goods = _goods(row, doc)
        quantity = float(row.get("Количество") or 0)
        order = _order_of(row, doc)
        if order is not None:
            orders.append({"Организация_Key": goods["Организация_Key"],
                           "ЗаказПокупателя_Key": order,
                           "Номенклатура_Key": goods["Номенклатура_Key"],
                           "Характеристика_Key": goods["Характеристика_Key"],
                           "RecordType": "Expense", "Количество": quantity})
        if not _is_stock_item(base, row):
            continue
        unit = doc.get("СтруктурнаяЕдиница_Key", EMPTY_REF)
        stock.append({**goods, "RecordType": "Expense", "Количество": quantity,
                      "СтруктурнаяЕдиница_Key": unit,
                      "Ячейка_Key": doc.get("Ячейка_Key", EMPTY_REF)})
        # Cost at the moving average of what the warehouse holds now.
        on_hand, value = cost_register.total({**goods, "СтруктурнаяЕдиница_Key": unit})
        cost = value / on_hand * quantity if on_hand > 0 else 0.0
        costs.append({**goods, "RecordType": "Expense", "Количество": quantity,
                      "Сумма": round(cost, 2), "СтруктурнаяЕдиница_Key": unit})
    return {"AccumulationRegister_ЗапасыНаСкладах": stock, "AccumulationRegister_Запасы": costs,
            "AccumulationRegister_ЗаказыПокупателей": orders}


def _is_completed(base: Infobase, doc: dict) -> bool:
    if doc.get("СостояниеЗаказа_Type") != f"{NAMESPACE}.Catalog_СостоянияЗаказовПокупателей":
        return False
    state = base.get("Catalog_СостоянияЗаказовПокупателей", doc.get("СостояниеЗаказа") or "")
    return bool(state) and state.get("PredefinedDataName") == COMPLETED_STATE


def _sb_order_movements(base: Infobase, doc: dict) -> Movements:
    """Receipt of the ordered quantities; a completed order also writes off what was not
    shipped, so its open balance becomes zero."""
    records = []
    register = base.registers["AccumulationRegister_ЗаказыПокупателей"]
    completed = _is_completed(base, doc)
    for row in doc.get("Запасы") or []:
        dims = {"Организация_Key": doc.get("Организация_Key", EMPTY_REF),
                "ЗаказПокупателя_Key": doc["Ref_Key"],
                "Номенклатура_Key": row.get("Номенклатура_Key", EMPTY_REF),
                "Характеристика_Key": row.get("Характеристика_Key", EMPTY_REF)}
        quantity = float(row.get("Количество") or 0)
        records.append({**dims, "RecordType": "Receipt", "Количество": quantity})
        if completed:
            shipped = -register.total(dims)[0]
            rest = quantity - shipped
            if rest > 0:
                records.append({**dims, "RecordType": "Expense", "Количество": rest})
    return {"AccumulationRegister_ЗаказыПокупателей": records}


def _sb_order_check(base: Infobase, doc: dict) -> list[str]:
    problems = _sb_contract_check(base, doc)
    if doc.get("ВариантЗавершения") == "Отменен" and _is_completed(base, doc) \
            and doc.get("ПричинаОтмены_Key") in (None, "", EMPTY_REF):
        problems.append("Поле \"ПричинаОтмены\" не заповнено")
    return problems


def _sb_receipt_check(base: Infobase, doc: dict) -> list[str]:
    paid = float(doc.get("ПолученоНаличными") or 0) + sum(
        float(r.get("Сумма") or 0) for r in doc.get("ОплатаПлатежнымиКартами") or [])
    if round(paid, 2) < round(float(doc.get("СуммаДокумента") or 0), 2):
        return [f"Сума оплати ({_money(paid)}) менша за суму чека "
                f"({_money(float(doc.get('СуммаДокумента') or 0))})"]
    return []


def _sb_receipt_before_write(base: Infobase, doc: dict, is_new: bool) -> None:
    _sb_totals(base, doc)


_SB_GOODS_COLUMNS = ("Номенклатура_Key", "Количество", "ЕдиницаИзмерения", "Цена",
                     "СтавкаНДС_Key")
_SB_MONEY = ("ВалютаДокумента_Key", "Курс", "Кратность", "НалогообложениеНДС")

# --- BAS Бухгалтерія --------------------------------------------------------------------------


def _acc_totals(base: Infobase, doc: dict, is_new: bool) -> None:
    rows = doc.get("Товары") or []
    inclusive = doc.get("СуммаВключаетНДС")
    total = sum(float(r.get("Сумма") or 0) + (0 if inclusive else float(r.get("СуммаНДС") or 0))
                for r in rows)
    doc["СуммаДокумента"] = _money(total)


def _acc_price_movements(base: Infobase, doc: dict) -> Movements:
    return {"InformationRegister_ЦеныНоменклатуры": [
        {"ТипЦен_Key": row.get("ТипЦен_Key", EMPTY_REF),
         "Номенклатура_Key": row.get("Номенклатура_Key", EMPTY_REF),
         "Цена": row.get("Цена", 0), "Валюта_Key": row.get("Валюта_Key", EMPTY_REF)}
        for row in doc.get("Товары") or []
    ]}


_ACC_GOODS_COLUMNS = ("Номенклатура_Key", "Количество", "Цена", "СтавкаНДС")
_ACC_PAYMENT_COLUMNS = ("ДоговорКонтрагента_Key", "СуммаПлатежа")

_RULES: dict[tuple[str, str], Rule] = {
    ("small_business", "Document_ЗаказПокупателя"): Rule(
        header=("ВидОперации", "Организация_Key", "Контрагент_Key",
                "СтруктурнаяЕдиницаПродажи_Key", *_SB_MONEY),
        section="Запасы", columns=_SB_GOODS_COLUMNS, positive=("Количество",),
        custom=_sb_order_check, movements=_sb_order_movements,
    ),
    ("small_business", "Document_РасходнаяНакладная"): Rule(
        header=("ВидОперации", "Организация_Key", "Контрагент_Key", "СтруктурнаяЕдиница_Key",
                *_SB_MONEY),
        section="Запасы", columns=_SB_GOODS_COLUMNS, positive=("Количество",),
        custom=_sb_contract_check, movements=_sb_sale_movements,
    ),
    ("small_business", "Document_ПриходнаяНакладная"): Rule(
        header=("ВидОперации", "Организация_Key", "Контрагент_Key", "СтруктурнаяЕдиница_Key",
                *_SB_MONEY),
        section="Запасы", columns=("Номенклатура_Key", "Количество", "ЕдиницаИзмерения"),
        positive=("Количество",), custom=_sb_contract_check, movements=_sb_receipt_movements,
    ),
    ("small_business", "Document_СчетНаОплату"): Rule(
        header=("Организация_Key", "Контрагент_Key", *_SB_MONEY),
        section="Запасы", columns=("Номенклатура_Key", "Количество", "Цена"),
        positive=("Количество",), custom=_sb_contract_check,
    ),
    ("small_business", "Document_ПоступлениеНаСчет"): Rule(
        header=("ВидОперации", "Организация_Key", "БанковскийСчет_Key",
                "ВалютаДенежныхСредств_Key", "Статья_Key", "СуммаДокумента"),
        when=(("ВидОперации", "ОтПокупателя", ("Контрагент_Key",)),),
        section="РасшифровкаПлатежа", columns=("СуммаРасчетов", "СуммаПлатежа"),
        rows_when=("ВидОперации", "ОтПокупателя"),
    ),
    ("small_business", "Document_ПоступлениеВКассу"): Rule(
        header=("ВидОперации", "Организация_Key", "Касса_Key", "ВалютаДенежныхСредств_Key",
                "Статья_Key", "СуммаДокумента"),
        when=(("ВидОперации", "ОтПокупателя", ("Контрагент_Key",)),),
        section="РасшифровкаПлатежа", columns=("СуммаРасчетов", "СуммаПлатежа"),
        rows_when=("ВидОперации", "ОтПокупателя"),
    ),
    # A retail receipt: the register, the retail unit and its goods; the money it took must
    # equal the receipt (cash received + card rows). No register movements are emulated.
    ("small_business", "Document_ЧекККМ"): Rule(
        header=("Организация_Key", "КассаККМ_Key", "СтруктурнаяЕдиница_Key", *_SB_MONEY),
        section="Запасы", columns=_SB_GOODS_COLUMNS, positive=("Количество",),
        custom=_sb_receipt_check,
    ),
    ("accounting", "Document_РеализацияТоваровУслуг"): Rule(
        header=("Организация_Key", "Контрагент_Key", "ДоговорКонтрагента_Key", "Склад_Key",
                "ВалютаДокумента_Key"),
        section="Товары", columns=_ACC_GOODS_COLUMNS, positive=("Количество",),
    ),
    ("accounting", "Document_СчетНаОплатуПокупателю"): Rule(
        header=("Организация_Key", "Контрагент_Key", "ДоговорКонтрагента_Key",
                "ВалютаДокумента_Key"),
        section="Товары", columns=("Номенклатура_Key", "Количество"), positive=("Количество",),
    ),
    ("accounting", "Document_ВозвратТоваровОтПокупателя"): Rule(
        header=("Организация_Key", "Контрагент_Key", "ДоговорКонтрагента_Key", "Склад_Key"),
        section="Товары", columns=("Номенклатура_Key", "Количество"), positive=("Количество",),
    ),
    ("accounting", "Document_ПоступлениеНаРасчетныйСчет"): Rule(
        header=("ВидОперации", "Организация_Key", "СчетОрганизации_Key", "ВалютаДокумента_Key",
                "СуммаДокумента"),
        when=(("ВидОперации", "ОплатаПокупателя", ("Контрагент_Key",)),),
        section="РасшифровкаПлатежа", columns=_ACC_PAYMENT_COLUMNS,
        rows_when=("ВидОперации", "ОплатаПокупателя"),
    ),
    ("accounting", "Document_ПриходныйКассовыйОрдер"): Rule(
        header=("ВидОперации", "Организация_Key", "ВалютаДокумента_Key", "СуммаДокумента"),
        when=(("ВидОперации", "ОплатаПокупателя", ("Контрагент_Key",)),),
        section="РасшифровкаПлатежа", columns=_ACC_PAYMENT_COLUMNS,
        rows_when=("ВидОперации", "ОплатаПокупателя"),
    ),
    ("accounting", "Document_УстановкаЦенНоменклатуры"): Rule(
        section="Товары", columns=("Номенклатура_Key", "ТипЦен_Key", "Цена"),
        movements=_acc_price_movements,
    ),
}

_BEFORE_WRITE: dict[tuple[str, str], Callable[[Infobase, dict, bool], None]] = {
    ("small_business", "Document_ЗаказПокупателя"): _sb_order_before_write,
    ("small_business", "Document_РасходнаяНакладная"): _sb_invoice_before_write,
    ("small_business", "Document_ПриходнаяНакладная"): _sb_invoice_before_write,
    ("small_business", "Document_СчетНаОплату"): _sb_invoice_before_write,
    ("small_business", "Document_ЧекККМ"): _sb_receipt_before_write,
    ("accounting", "Document_РеализацияТоваровУслуг"): _acc_totals,
    ("accounting", "Document_СчетНаОплатуПокупателю"): _acc_totals,
    ("accounting", "Document_ВозвратТоваровОтПокупателя"): _acc_totals,
}

