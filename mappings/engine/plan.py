"""The mapping engine: a KeyCRM order + a document profile → the exact BAS document to write.

``plan_document`` writes nothing. It reads the correspondence registers and searches BAS
catalogs, and returns a ``DocumentPlan``: every attribute and line with its value and how it
was found, the elements that would have to be created, and every problem. The admin's preview
and the order pipeline both call this function, so the preview shows what the pipeline writes.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

from integration.bas import literals
from integration.bas.client import BasError
from integration.bas.metadata import AttributeKind
from mappings.engine.convert import ConversionError, to_bas_value
from mappings.engine.normalize import NORMALIZERS
from mappings.engine.paths import LINES, PathError, extract, is_empty
from mappings.engine.resolve import Resolver
from mappings.models import (
    DocumentProfile,
    FieldMapping,
    KeyCrmDirectory,
    MappingKind,
    PropertyMapping,
)
from mappings.sandbox import ExpressionError, Limits
from mappings.sandbox import compile_expression as _compile_expression
from mappings.sandbox import compile_script as _compile_script

CHARACTERISTIC = "Характеристика_Key"

# Compiled expressions are immutable: compile each text once per process, not per line.
compile_expression = lru_cache(maxsize=1024)(_compile_expression)
compile_script = lru_cache(maxsize=256)(_compile_script)


class ProblemKind:
    CONFIGURATION = "configuration"  # a person must fix a mapping or a correspondence
    DATA = "data"  # the order itself carries something unusable
    BAS = "bas"  # BAS could not be asked


@dataclasses.dataclass(frozen=True)
class Problem:
    kind: str
    where: str  # "Контрагент_Key" or "Запасы[2].Номенклатура_Key"
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclasses.dataclass
class PlannedCreation:
    """An element the pipeline must create before the document (e.g. a new counterparty)."""

    entity_set: str
    body: dict[str, Any]
    directory: str  # KeyCRM directory of the element it stands for ("" if none)
    keycrm_id: int | None
    reason: str
    # A new item goes into the group mirroring its KeyCRM category (root first), and an offer
    # with properties gets a characteristic of that name.
    group_path: tuple[str, ...] = ()
    characteristic: str = ""

    @property
    def placeholder(self) -> str:
        return f"<new {self.entity_set}: {self.body.get('Description', '')}>"


@dataclasses.dataclass
class PlannedValue:
    value: Any
    how: str  # in plain words: where the value came from
    type_name: str | None = None  # composite attributes: the X_Type to send
    creation: PlannedCreation | None = None  # the value is an element yet to be created
    characteristic: str | None = None  # a nomenclature reference with its characteristic
    # Found by search for a KeyCRM element (directory, id, entity set): the pipeline records
    # the match in the register, so the next order finds it there without asking BAS.
    matched: tuple[str, int, str] | None = None


@dataclasses.dataclass
class DocumentPlan:
    entity_set: str
    section: str
    order_id: Any
    order_number: str
    header: dict[str, PlannedValue] = dataclasses.field(default_factory=dict)
    lines: list[dict[str, PlannedValue]] = dataclasses.field(default_factory=list)
    # Other tabular sections (additional properties): section → rows.
    extra_sections: dict[str, list[dict[str, PlannedValue]]] = dataclasses.field(
        default_factory=dict)
    problems: list[Problem] = dataclasses.field(default_factory=list)
    creations: list[PlannedCreation] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def body(self) -> dict[str, Any]:
        """The JSON body of the POST (elements still to be created appear as placeholders)."""
        body = _values(self.header)
        if self.section and self.lines:  # an empty section in a PATCH would erase the lines
            body[self.section] = [
                {"LineNumber": str(number), **_values(row)}
                for number, row in enumerate(self.lines, start=1)
            ]
        for section, rows in self.extra_sections.items():
            body[section] = [{"LineNumber": str(number), **_values(row)}
                             for number, row in enumerate(rows, start=1)]
        return body

    def body_json(self) -> str:
        return json.dumps(self.body(), ensure_ascii=False, indent=2, default=str)


def _values(planned: dict[str, PlannedValue]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, item in planned.items():
        out[name] = item.creation.placeholder if item.creation else item.value
        if item.type_name:
            out[f"{name}_Type"] = item.type_name
    return out


def plan_document(*, profile: DocumentProfile, order: dict[str, Any], resolver: Resolver,
                  limits: Limits | None = None) -> DocumentPlan:
    """Plan the BAS document for ``order``. Pure with respect to both systems' data: it only
    reads. Never raises for a bad order or mapping: those become ``problems``."""
    connection = profile.account.bas_connection
    tz = ZoneInfo(connection.server_timezone if connection else "Europe/Kyiv")
    plan = DocumentPlan(entity_set=profile.document_set, section=profile.lines_section,
                        order_id=order.get("id"), order_number=profile.order_number(
                            order.get("id", "")))
    context = _Context(plan=plan, resolver=resolver, tz=tz, limits=limits or Limits(),
                       configuration=connection.configuration if connection else "")
    mappings = list(profile.mappings.select_related("attribute").order_by("position", "id"))
    header = [m for m in mappings if not m.attribute.section]
    line_mappings = [m for m in mappings if m.attribute.section
                     and m.attribute.section == profile.lines_section]
    _prefetch(resolver, line_mappings, order)
    doc: dict[str, Any] = {}
    for mapping in header:
        _apply(context, mapping, order=order, line=None, doc=doc, row=None,
               into=plan.header, where=mapping.attribute.name)
    lines = order.get(LINES) or []
    if line_mappings and not lines:
        plan.problems.append(Problem(ProblemKind.DATA, profile.lines_section,
                                     _("the order has no lines")))
    has_characteristic = profile.attributes.filter(
        section=profile.lines_section, name=CHARACTERISTIC).exists()
    for number, line in enumerate(lines, start=1):
        row_values: dict[str, Any] = {}
        row: dict[str, PlannedValue] = {}
        for mapping in line_mappings:
            _apply(context, mapping, order=order, line=line, doc=doc, row=row_values,
                   into=row, where=f"{profile.lines_section}[{number}].{mapping.attribute.name}")
        if has_characteristic and CHARACTERISTIC not in row:
            _carry_characteristic(row)
        plan.lines.append(row)
    for prop in profile.property_mappings.all():
        _apply_property(context, prop, order=order, doc=doc)
    if profile.document_script.strip():
        _run_document_script(context, profile.document_script, order)
    return plan


@dataclasses.dataclass
class _Context:
    plan: DocumentPlan
    resolver: Resolver
    tz: ZoneInfo
    limits: Limits
    configuration: str

    def problem(self, kind: str, where: str, message: str) -> None:
        self.plan.problems.append(Problem(kind, where, message))


def _apply(context: _Context, mapping: FieldMapping, *, order: dict, line: dict | None,
           doc: dict[str, Any], row: dict[str, Any] | None, into: dict[str, PlannedValue],
           where: str) -> None:
    try:
        planned = _evaluate(context, mapping, order=order, line=line, doc=doc, row=row,
                            where=where)
    except PathError as exc:
        context.problem(ProblemKind.CONFIGURATION, where, str(exc))
        return
    if planned is None:
        return
    attribute = mapping.attribute
    if planned.creation is None and attribute.kind not in (AttributeKind.COMPOSITE,) \
            and planned.type_name is None:
        try:
            planned.value = to_bas_value(planned.value, attribute.edm_type, context.tz)
        except ConversionError as exc:
            context.problem(ProblemKind.DATA, where, str(exc))
            return
    into[attribute.name] = planned
    (row if row is not None else doc)[attribute.name] = planned.value


def _evaluate(context: _Context, mapping: FieldMapping, *, order: dict, line: dict | None,
              doc: dict, row: dict | None, where: str) -> PlannedValue | None:
    kind = mapping.kind
    if kind == MappingKind.CONSTANT:
        if mapping.value == "":
            if mapping.attribute.kind in (AttributeKind.REFERENCE, AttributeKind.COMPOSITE):
                catalog = mapping.bas_entity_set or "BAS"
                context.problem(ProblemKind.CONFIGURATION, where, _(
                    "the fixed value is empty: pick the %(catalog)s element in the mapping")
                    % {"catalog": catalog})
            return None
        return _constant(mapping, mapping.value, _("fixed value"))
    if kind == MappingKind.EXPRESSION:
        try:
            result = compile_expression(mapping.expression).evaluate(
                {"order": order, "line": line, "doc": doc, "row": row}, context.limits)
        except ExpressionError as exc:
            context.problem(ProblemKind.CONFIGURATION, where,
                            _("the expression failed: %(error)s") % {"error": exc})
            return None
        if is_empty(result):
            return _default(mapping)
        return PlannedValue(result, _("computed by the expression"))
    if kind == MappingKind.SEARCH:
        return _search(context, mapping, order=order, line=line, where=where)
    path = mapping.source_path or ("status_id" if kind == MappingKind.STATUS else "")
    if not path:
        context.problem(ProblemKind.CONFIGURATION, where,
                        _("the mapping has no path in the order"))
        return None
    raw = extract(order, path, line=line)
    if is_empty(raw):
        return _default(mapping)
    if kind == MappingKind.VALUE:
        if mapping.directory:
            return _directory_name(context, mapping.directory, raw, path, where)
        return PlannedValue(raw, _("from %(path)s") % {"path": mapping.source_path})
    if kind == MappingKind.DIRECTORY:
        return _by_register(context, mapping, raw, where)
    return _status(context, raw, where)


def _directory_name(context: _Context, directory: str, raw: Any, path: str,
                    where: str) -> PlannedValue | None:
    """The name of the KeyCRM directory element whose id is at the path (from the mirror)."""
    keycrm_id = _keycrm_id(raw)
    name = context.resolver.keycrm_name(directory, keycrm_id) if keycrm_id is not None else ""
    if not name:
        context.problem(ProblemKind.CONFIGURATION, where, _(
            "%(directory)s #%(id)s is not in the mirror of KeyCRM directories; sync the "
            "directories") % {"directory": KeyCrmDirectory(directory).label, "id": raw})
        return None
    return PlannedValue(name, _("name of %(directory)s #%(id)s (%(path)s)") % {
        "directory": KeyCrmDirectory(directory).label, "id": raw, "path": path})


def _apply_property(context: _Context, prop: PropertyMapping, *, order: dict,
                    doc: dict[str, Any]) -> None:
    where = f"{prop.section}: {prop.property_name or prop.property_ref}"
    try:
        if prop.kind == MappingKind.EXPRESSION:
            value = compile_expression(prop.expression).evaluate(
                {"order": order, "line": None, "doc": doc, "row": None}, context.limits)
            how = _("computed by the expression")
        else:
            value = extract(order, prop.source_path)
            how = _("from %(path)s") % {"path": prop.source_path}
            if prop.directory and not is_empty(value):
                named = _directory_name(context, prop.directory, value, prop.source_path,
                                        where)
                if named is None:
                    return
                value, how = named.value, named.how
    except (ExpressionError, PathError) as exc:
        context.problem(ProblemKind.CONFIGURATION, where, str(exc))
        return
    if is_empty(value):
        return
    rows = context.plan.extra_sections.setdefault(prop.section, [])
    rows.append({
        prop.property_column: PlannedValue(str(prop.property_ref), prop.property_name
                                           or _("additional property")),
        prop.value_column: PlannedValue(str(value), how, type_name="Edm.String"),
    })


def _default(mapping: FieldMapping) -> PlannedValue | None:
    if mapping.default_value == "":
        return None
    return _constant(mapping, mapping.default_value, _("default (the order has no value)"))


def _constant(mapping: FieldMapping, text: str, how: str) -> PlannedValue:
    attribute = mapping.attribute
    if attribute.kind == AttributeKind.COMPOSITE and mapping.bas_entity_set:
        return PlannedValue(text, how, type_name=f"StandardODATA.{mapping.bas_entity_set}")
    return PlannedValue(text, how)


def _reference(mapping: FieldMapping, ref: str, how: str, entity_set: str,
               characteristic: str | None = None) -> PlannedValue:
    type_name = (f"StandardODATA.{entity_set}"
                 if mapping.attribute.kind == AttributeKind.COMPOSITE else None)
    return PlannedValue(ref, how, type_name=type_name, characteristic=characteristic)


def _keycrm_id(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _by_register(context: _Context, mapping: FieldMapping, raw: Any,
                 where: str) -> PlannedValue | None:
    keycrm_id = _keycrm_id(raw)
    directory = mapping.directory
    label = KeyCrmDirectory(directory).label if directory else "?"
    if keycrm_id is None:
        context.problem(ProblemKind.DATA, where, _("“%(value)s” at %(path)s is not a KeyCRM id")
                        % {"value": raw, "path": mapping.source_path})
        return None
    found = context.resolver.correspondence(directory, keycrm_id)
    if found is None:
        name = context.resolver.keycrm_name(directory, keycrm_id)
        named = f"#{keycrm_id} «{name}»" if name else f"#{keycrm_id}"
        context.problem(ProblemKind.CONFIGURATION, where, _(
            "%(directory)s %(element)s has no BAS element in the correspondence register; add "
            "it there") % {"directory": label, "element": named})
        return None
    return _reference(mapping, str(found.bas_ref),
                      _register_how(label, keycrm_id, found.bas_presentation or found.bas_ref),
                      found.bas_entity_set,
                      str(found.bas_characteristic_ref) if found.bas_characteristic_ref
                      else None)


def _status(context: _Context, raw: Any, where: str) -> PlannedValue | None:
    status_id = _keycrm_id(raw)
    found = context.resolver.status(status_id) if status_id is not None else None
    if found is None:
        name = context.resolver.keycrm_name(KeyCrmDirectory.ORDER_STATUS, status_id or 0)
        named = f"«{name}» (#{raw})" if name else f"#{raw}"
        context.problem(ProblemKind.CONFIGURATION, where,
                        _("status %(status)s has no BAS state in the status correspondence")
                        % {"status": named})
        return None
    type_name = f"StandardODATA.{found.bas_entity_set}" if found.bas_entity_set else None
    return PlannedValue(found.bas_value, _("status correspondence: %(status)s → %(state)s") % {
        "status": found.keycrm_status_name or raw,
        "state": found.bas_presentation or found.bas_value}, type_name=type_name)


def _register_how(label: object, keycrm_id: int, presentation: object) -> str:
    return _("correspondence register: %(directory)s #%(id)s → %(element)s") % {
        "directory": label, "id": keycrm_id, "element": presentation}


def _search(context: _Context, mapping: FieldMapping, *, order: dict, line: dict | None,
            where: str) -> PlannedValue | None:
    """The exactly-one rule: the register first, then each search step in turn; a step that
    finds exactly one element is the match; none and several both mean "not found"."""
    entity_set = mapping.bas_entity_set
    keycrm_id = None
    if mapping.directory and mapping.source_path:
        keycrm_id = _keycrm_id(extract(order, mapping.source_path, line=line))
        if keycrm_id is not None:
            found = context.resolver.correspondence(mapping.directory, keycrm_id)
            if found is not None:
                return _reference(
                    mapping, str(found.bas_ref),
                    _register_how(KeyCrmDirectory(mapping.directory).label, keycrm_id,
                                  found.bas_presentation or found.bas_ref),
                    found.bas_entity_set,
                    str(found.bas_characteristic_ref) if found.bas_characteristic_ref else None)
    tried: list[str] = []
    searched_any = False
    for step in mapping.search_steps or []:
        field, source = step.get("field", ""), step.get("source", "")
        normalize = NORMALIZERS.get(step.get("normalize") or "text", NORMALIZERS["text"])
        value = normalize(extract(order, source, line=line))
        if value is None:
            tried.append(_("%(field)s: the order has no %(path)s") % {"field": field,
                                                                        "path": source})
            continue
        searched_any = True
        try:
            matches = context.resolver.search(entity_set, _search_filter(field, value))
        except (BasError, LookupError) as exc:
            context.problem(ProblemKind.BAS, where, _("cannot search %(set)s: %(error)s") % {
                "set": entity_set, "error": exc})
            return None
        if len(matches) == 1:
            match = matches[0]
            found = _reference(mapping, match["Ref_Key"], _(
                "found in %(set)s by %(field)s = %(value)s (%(name)s)") % {
                "set": entity_set, "field": field, "value": value,
                "name": match.get("Description", "")}, entity_set)
            if mapping.directory and keycrm_id is not None:
                found.matched = (mapping.directory, keycrm_id, entity_set)
            return found
        tried.append(f"{field} = {value}: "
                     + (_("none found") if not matches else _("several found")))
    if not searched_any and keycrm_id is None and mapping.default_value != "":
        return _default(mapping)  # nothing to search by: the source is empty
    if mapping.create_if_missing:
        creation = _plan_creation(context, mapping, order=order, line=line, keycrm_id=keycrm_id,
                                  reason="; ".join(tried) or _("no search fields"))
        return PlannedValue(None, _("will be created in %(set)s (%(reason)s)") % {
                                "set": entity_set, "reason": creation.reason},
                            type_name=(f"StandardODATA.{entity_set}" if mapping.attribute.kind
                                       == AttributeKind.COMPOSITE else None),
                            creation=creation)
    searched = "; ".join(tried) if tried else _("no search fields are set")
    context.problem(ProblemKind.CONFIGURATION, where, _(
        "no single element of %(set)s matches (%(searched)s). Link it in the correspondence "
        "register, correct the data, or allow creating it") % {"set": entity_set,
                                                               "searched": searched})
    return None


def _search_filter(field: str, value: str) -> str:
    """``Field eq 'value'``; a field inside a tabular section (``Section/Column``) is searched
    with ``any`` — e.g. a phone among a counterparty's contact details."""
    if "/" in field:
        section, column = field.split("/", 1)
        condition = f"{section}/any(d: d/{column} eq {literals.string(value)})"
    else:
        condition = f"{field} eq {literals.string(value)}"
    return f"{condition} and DeletionMark eq false"


def _plan_creation(context: _Context, mapping: FieldMapping, *, order: dict, line: dict | None,
                   keycrm_id: int | None, reason: str) -> PlannedCreation:
    entity_set = mapping.bas_entity_set
    creation = PlannedCreation(
        entity_set=entity_set,
        body=creation_body(entity_set, order=order, line=line,
                           configuration=context.configuration),
        directory=mapping.directory, keycrm_id=keycrm_id, reason=reason)
    if entity_set == "Catalog_Номенклатура" and line is not None:
        offer = line.get("offer") or {}
        product_id = _keycrm_id(offer.get("product_id"))
        if product_id is not None:
            creation.group_path = tuple(context.resolver.category_path(product_id))
        creation.characteristic = ", ".join(
            str(p.get("value")) for p in line.get("properties") or [] if p.get("value"))
    for existing in context.plan.creations:  # one new element, however many lines need it
        if existing == creation:
            return existing
    context.plan.creations.append(creation)
    return creation


def creation_body(entity_set: str, *, order: dict, line: dict | None,
                  configuration: str) -> dict[str, Any]:
    """What a new element gets from the order: a counterparty from the buyer, an item from
    the line."""
    if entity_set == "Catalog_Контрагенты":
        buyer = order.get("buyer") or {}
        name = buyer.get("full_name") or f"KeyCRM buyer {buyer.get('id', '')}".strip()
        body: dict[str, Any] = {"Description": name, "НаименованиеПолное": name,
                                "Комментарий": f"KeyCRM buyer #{buyer.get('id', '')}"}
        if configuration == "small_business":
            body["Покупатель"] = True
            contacts = []
            phone = NORMALIZERS["phone"](buyer.get("phone"))
            if phone:
                contacts.append({"Тип": "Телефон", "Представление": phone,
                                 "НомерТелефона": phone})
            email = NORMALIZERS["email"](buyer.get("email"))
            if email:
                contacts.append({"Тип": "АдресЭлектроннойПочты", "Представление": email,
                                 "АдресЭП": email})
            body["КонтактнаяИнформация"] = [
                {"LineNumber": str(i), **row} for i, row in enumerate(contacts, start=1)]
        return body
    if entity_set == "Catalog_Номенклатура" and line is not None:
        name = line.get("name") or line.get("sku") or "KeyCRM item"
        return {"Description": name, "НаименованиеПолное": name,
                "Артикул": line.get("sku") or ""}
    return {"Description": str(order.get("id", ""))}


def _carry_characteristic(row: dict[str, PlannedValue]) -> None:
    """A nomenclature found through an offer's correspondence brings its characteristic."""
    for planned in row.values():
        if planned.characteristic:
            row[CHARACTERISTIC] = PlannedValue(planned.characteristic,
                                               _("the offer's characteristic (register)"))
            return


def _prefetch(resolver: Resolver, mappings: Iterable[FieldMapping], order: dict) -> None:
    lines = order.get(LINES) or []
    for mapping in mappings:
        if mapping.kind in (MappingKind.DIRECTORY, MappingKind.SEARCH) and mapping.directory \
                and mapping.source_path:
            try:
                ids = {_keycrm_id(extract(order, mapping.source_path, line=line))
                       for line in lines}
            except PathError:
                continue
            resolver.prefetch(mapping.directory, {i for i in ids if i is not None})


def _run_document_script(context: _Context, source: str, order: dict) -> None:
    plan = context.plan
    doc = {name: value.value for name, value in plan.header.items()}
    rows = [{name: value.value for name, value in row.items()} for row in plan.lines]
    try:
        result = compile_script(source).run({"doc": doc, "lines": rows, "order": order},
                                            context.limits)
    except ExpressionError as exc:
        context.problem(ProblemKind.CONFIGURATION, _("document script"), str(exc))
        return
    _merge(plan.header, result.get("doc", doc))
    for planned_row, row in zip(plan.lines, result.get("lines", rows), strict=False):
        _merge(planned_row, row)


def _merge(planned: dict[str, PlannedValue], values: dict[str, Any]) -> None:
    for name, value in values.items():
        current = planned.get(name)
        if current is None or (current.creation is None and current.value != value):
            planned[name] = PlannedValue(value, _("set by the document script"),
                                         type_name=current.type_name if current else None)


def describe(plan: DocumentPlan) -> str:
    """A short text of the plan's outcome for logs and messages."""
    if plan.ok:
        return _("%(set)s for order %(number)s: %(attributes)d attributes, %(lines)d lines, "
                 "%(creations)d to create") % {
            "set": plan.entity_set, "number": plan.order_number,
            "attributes": len(plan.header), "lines": len(plan.lines),
            "creations": len(plan.creations)}
    return "; ".join(str(p) for p in plan.problems)
