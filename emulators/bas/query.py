"""System query options applied to a list of rows: ``$filter``, ``$orderby``, ``$skip``,
``$top``, ``$inlinecount``, ``$select`` (with tabular-section columns and ``____Presentation``)
and ``$expand`` of plain references."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .errors import ODataError
from .filter import QueryError, compile_filter, compile_orderby, sort_rows
from .schema import EMPTY_REF, NAMESPACE, UNDEFINED_TYPE, Shape
from .store import Infobase

KNOWN_OPTIONS = frozenset({"$format", "$filter", "$select", "$orderby", "$top", "$skip",
                           "$inlinecount", "$expand", "$allowedOnly"})
PRESENTATION = "____Presentation"


def check_options(query: Mapping[str, str]) -> None:
    for name in query:
        if name.startswith("$") and name not in KNOWN_OPTIONS:
            raise ODataError(400, "0", f"Параметр {name} не підтримується")


def _non_negative(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    if not raw.isdigit():
        raise QueryError(f"Значення {name} має бути невід'ємним цілим числом: {raw!r}")
    return int(raw)


@dataclasses.dataclass
class Page:
    rows: list[dict]
    count: int | None  # $inlinecount=allpages


def run_query(query: Mapping[str, str], shape: Shape, base: Infobase,
              source: Callable[[tuple[tuple[str, Any], ...]], Iterable[dict]], *,
              filter_shape: Shape | None = None) -> Page:
    """Filter, order and page the rows ``source`` yields for the filter's equality hints."""
    compiled = compile_filter(query.get("$filter", ""), filter_shape or shape, base.resolver)
    predicate = compiled.predicate
    rows = [row for row in source(compiled.equalities) if predicate(row)]
    if query.get("$orderby", "").strip():
        sort_rows(rows, compile_orderby(query["$orderby"], shape, base.resolver))
    inline = query.get("$inlinecount", "none").strip().lower()
    if inline not in ("none", "allpages"):
        raise QueryError(f"Неправильне значення $inlinecount: {inline!r}")
    skip, top = _non_negative(query, "$skip"), _non_negative(query, "$top")
    if inline == "allpages":
        # The vendor's chapter: with $inlinecount, $skip and $top are ignored (§4, §8.9).
        return Page(rows, len(rows))
    if skip:
        rows = rows[skip:]
    if top is not None:
        rows = rows[:top]
    return Page(rows, None)


class Projector:
    """``$select`` / ``$expand`` for one shape; call it on each stored row."""

    def __init__(self, query: Mapping[str, str], shape: Shape, base: Infobase, *,
                 single: bool = False) -> None:
        self.shape = shape
        self.base = base
        self.everything = True
        self.skip_tabular = False
        self.props: set[str] = set()
        self.columns: dict[str, list[str] | None] = {}
        self.presentations: list[str] = []
        self.expand: list[str] = []
        self._parse_select(query.get("$select", ""))
        self._parse_expand(query.get("$expand", ""), single)

    def _parse_select(self, text: str) -> None:
        items = [item.strip() for item in text.split(",") if item.strip()]
        if not items:
            return
        self.everything = "*" in items or "**" in items
        self.skip_tabular = "**" in items and "*" not in items
        for item in items:
            if item in ("*", "**"):
                continue
            if item.endswith(PRESENTATION) or item == "Presentation":
                self._add_presentation(item)
            elif "/" in item:
                section, _, column = item.partition("/")
                row_shape = self.shape.tabular.get(section)
                if row_shape is None or (column != "*" and column not in row_shape.props):
                    raise _unknown(item)
                if column == "*":
                    self.columns[section] = None
                elif self.columns.get(section, []) is not None:
                    self.columns.setdefault(section, []).append(column)
            elif item in self.shape.props:
                self.props.add(item)
            elif item in self.shape.tabular:
                self.columns[item] = None
            else:
                raise _unknown(item)

    def _add_presentation(self, item: str) -> None:
        name = item[: -len(PRESENTATION)] if item.endswith(PRESENTATION) else ""
        if name and name != "*" and name not in self.shape.navigation \
                and name not in self.shape.props:
            raise _unknown(item)
        self.presentations.append(name)

    def _parse_expand(self, text: str, single: bool) -> None:
        items = [item.strip() for item in text.split(",") if item.strip()]
        if items and single:
            raise ODataError(400, "0", "$expand не підтримується для окремої сутності: "
                                       "використовуйте колекцію з $filter=Ref_Key eq guid'…'")
        for item in items:
            if item == "*":
                self.expand.extend(self.shape.navigation)
            elif item in self.shape.navigation:
                self.expand.append(item)
            else:
                raise ODataError(400, "0", f"Розгортання \"{item}\" не підтримується")

    def __call__(self, row: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.shape.props:
            if (self.everything or name in self.props) and name in row:
                out[name] = row[name]
        for section in self.shape.tabular:
            if section not in row:
                continue
            wanted = self.columns.get(section)
            whole = (self.everything and not self.skip_tabular) or (
                section in self.columns and wanted is None)
            if whole:
                out[section] = [dict(line) for line in row[section]]
            elif wanted is not None:
                out[section] = [{c: line.get(c) for c in wanted} for line in row[section]]
        for name in self.presentations:
            self._present(name, row, out)
        for name in self.expand:
            target = self.shape.navigation[name]
            obj = self.base.get(target, row.get(f"{name}_Key") or EMPTY_REF)
            out[name] = dict(obj) if obj is not None else None
        return out

    def _present(self, name: str, row: Mapping[str, Any], out: dict[str, Any]) -> None:
        if name == "":
            out["Presentation"] = presentation(self.base, self.shape.name, row)
            return
        names = list(self.shape.navigation) if name == "*" else [name]
        for attr in names:
            out[f"{attr}{PRESENTATION}"] = self._attr_presentation(attr, row)

    def _attr_presentation(self, attr: str, row: Mapping[str, Any]) -> str:
        target = self.shape.navigation.get(attr)
        if target is not None:
            obj = self.base.get(target, row.get(f"{attr}_Key") or EMPTY_REF)
            return presentation(self.base, target, obj) if obj else ""
        type_name = row.get(f"{attr}_Type")
        if type_name and type_name != UNDEFINED_TYPE and type_name.startswith(NAMESPACE):
            target = type_name.removeprefix(f"{NAMESPACE}.")
            obj = self.base.get(target, row.get(attr) or EMPTY_REF)
            return presentation(self.base, target, obj) if obj else ""
        value = row.get(attr)
        return "" if value is None else str(value)


def presentation(base: Infobase, set_name: str, obj: Mapping[str, Any] | None) -> str:
    if not obj:
        return ""
    if set_name.startswith("Document_"):
        date = str(obj.get("Date", ""))
        shown = f"{date[8:10]}.{date[5:7]}.{date[:4]} {date[11:19]}" if len(date) >= 19 else date
        return f"{set_name.removeprefix('Document_')} {obj.get('Number', '')} від {shown}"
    return str(obj.get("Description", ""))


def _unknown(item: str) -> ODataError:
    return ODataError(400, "10", f"Властивість \"{item}\" не знайдена (Property not found)")
