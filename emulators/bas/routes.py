"""The resource paths of ``/<base>/odata/standard.odata/`` and their handlers.

    (empty) / $metadata                       service document / EDMX
    <Set>  <Set>/$count  <Set>(<key>)          catalogs and documents: read, create, update,
    <Set>(<key>)/Post|Unpost                   delete; posting
    <Set>(<key>)/<Property>[/<Property>]       one property / a referenced object / rows
    <Document>_<Section>                       tabular-section rows (read only)
    <Register>  <Register>_RecordType          record sets / flat records
    <Register>/Balance|Turnovers(...)          accumulation register virtual tables
    <Register>[_RecordType]/SliceLast|SliceFirst(...)  periodic information registers
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, unquote

from emulators.common import Request, Response

from . import edmx, wire
from .errors import ODataError, not_found
from .filter import Guid, QueryError, compile_filter, parse_key, parse_literal, split_params
from .filter import string_param_variants as condition_variants
from .query import Projector, check_options, run_query
from .schema import EMPTY_REF, NAMESPACE, Prop, RegisterDef, Shape
from .store import Infobase, RegisterData, SetInfo, format_datetime, number_out

_SLASH = "\x00"  # stands for an encoded "/" (%2F) while a path is split


@dataclasses.dataclass
class Call:
    request: Request
    base: Infobase
    root: str  # http://host/<base>/odata/standard.odata
    fmt: wire.Format
    query: dict[str, str]

    @property
    def method(self) -> str:
        return "GET" if self.request.method == "HEAD" else self.request.method

    def metadata_url(self, fragment: str) -> str:
        return f"{self.root}/$metadata#{fragment}"

    def body(self) -> Any:
        try:
            return json.loads(self.request.body.decode("utf-8")) if self.request.body else {}
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ODataError(400, "2", f"Неправильний формат тіла запиту: {exc}") from None


# --- responses --------------------------------------------------------------------------------


def _collection(call: Call, fragment: str, rows: list[dict], count: int | None = None,
                set_name: str = "") -> Response:
    if not call.fmt.json:
        return wire.atom_feed(call.root, set_name or fragment, rows, count)
    payload: dict[str, Any] = {}
    if call.fmt.metadata != "none":
        payload["odata.metadata"] = call.metadata_url(fragment)
    if count is not None:
        payload["odata.count"] = str(count)
    payload["value"] = rows
    return wire.json_response(200, payload)


def _element(call: Call, set_name: str, row: dict, status: int = 200,
             headers: dict[str, str] | None = None) -> Response:
    if not call.fmt.json:
        return wire.atom_entry(call.root, set_name, row, status, headers)
    payload: dict[str, Any] = {}
    if call.fmt.metadata != "none":
        payload["odata.metadata"] = call.metadata_url(f"{set_name}/@Element")
    payload.update(row)
    return wire.json_response(status, payload, headers)


def _method_not_allowed(call: Call) -> ODataError:
    return ODataError(405, "19", f"Метод HTTP {call.request.method} тут не допускається")


def _allow(call: Call, *methods: str) -> None:
    if call.method not in methods:
        raise _method_not_allowed(call)


# --- path parsing -----------------------------------------------------------------------------


def split_path(raw: str) -> list[str]:
    """Split at ``/`` outside parentheses and quotes, then decode each segment. An encoded
    ``%2F`` never splits (1C then fails to find the set, as it does)."""
    text = unquote(raw.replace("%2F", _SLASH).replace("%2f", _SLASH), errors="strict")
    segments, current, depth, quoted = [], [], 0, False
    for ch in text:
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif ch == "/" and depth == 0 and not quoted:
            segments.append("".join(current))
            current = []
            continue
        current.append(ch)
    segments.append("".join(current))
    return [s.replace(_SLASH, "/") for s in segments if s != ""]


def split_call(segment: str) -> tuple[str, str | None]:
    """``Name(args)`` → (Name, args); ``Name`` → (Name, None)."""
    if "(" not in segment:
        return segment, None
    name, _, rest = segment.partition("(")
    if not rest.endswith(")"):
        raise ODataError(400, "6", f"Неправильна адреса ресурсу: {segment}")
    return name, rest[:-1]


def route(call: Call, rest: str) -> Response:
    if rest.strip("/") == "":
        _allow(call, "GET")
        return _service_document(call)
    if rest == "$metadata":
        _allow(call, "GET")
        return Response(200, metadata(call.base).encode("utf-8"),
                        {"Content-Type": "application/xml;charset=utf-8"})
    check_options(call.query)
    segments = split_path(rest)
    name, key = split_call(segments[0])
    info = call.base.sets.get(name)
    if info is None or not call.base.is_published(name):
        raise ODataError(404, "8", f"Не знайдено тип сутності \"{name}\" (Entity type not found)")
    handler = _HANDLERS[info.kind]
    return handler(call, info, key, segments[1:])


def metadata(base: Infobase) -> str:
    """EDMX of the base, rebuilt only when the publication list changes."""
    marker = frozenset(base.unpublished)
    if base.edmx_cache is None or base.edmx_cache[0] != marker:
        base.edmx_cache = (marker, edmx.build_metadata(base))
    return base.edmx_cache[1]


def _service_document(call: Call) -> Response:
    names = [info.name for info in call.base.published_sets()]
    if not call.fmt.json:
        return wire.atom_service(call.root, names)
    return wire.json_response(200, {"odata.metadata": f"{call.root}/$metadata",
                                    "value": [{"name": n, "url": n} for n in names]})


# --- catalogs and documents -------------------------------------------------------------------


def _ref_from_key(key: str) -> str:
    parts = parse_key(key)
    if len(parts) == 1 and parts[0][0] in (None, "Ref_Key") and isinstance(parts[0][1], Guid):
        return str(parts[0][1])
    raise ODataError(400, "6", f"Неправильний ключ сутності: ({key})")


def _entity_set(call: Call, info: SetInfo, key: str | None, tail: list[str]) -> Response:
    base, set_name = call.base, info.name
    shape = base.shapes[set_name]
    if key is None or key.strip() == "":
        if tail == ["$count"]:
            _allow(call, "GET")
            return _count(call, shape, lambda eq: base.candidates(set_name, eq))
        if tail:
            raise ODataError(400, "6", f"Метод {tail[0]} не знайдено для {set_name}")
        if call.method == "GET":
            page = run_query(call.query, shape, base, lambda eq: base.candidates(set_name, eq))
            project = Projector(call.query, shape, base)
            return _collection(call, set_name, [project(r) for r in page.rows], page.count)
        if call.method == "POST":
            obj = base.create(set_name, call.body())
            location = f"{call.root}/{quote(set_name)}(guid'{obj['Ref_Key']}')"
            return _element(call, set_name, dict(obj), 201, {"Location": location})
        raise _method_not_allowed(call)
    ref = _ref_from_key(key)
    if tail:
        function, args = split_call(tail[0])
        if function in ("Post", "Unpost") and info.entity is not None \
                and info.entity.is_document:
            return _posting(call, set_name, ref, function, args)
        if call.method != "GET":
            raise ODataError(400, "6", f"Метод \"{function}\" не знайдено для {set_name} "
                                       "(Method not found)")
        return _navigate(call, info, base.require(set_name, ref), tail)
    if_match = call.request.headers.get("if-match")
    if call.method == "GET":
        row = Projector(call.query, shape, base, single=True)(base.require(set_name, ref))
        return _element(call, set_name, row)
    if call.method in ("PATCH", "PUT"):
        obj = base.update(set_name, ref, call.body(), if_match=if_match,
                          replace=call.method == "PUT")
        return _element(call, set_name, dict(obj))
    if call.method == "DELETE":
        base.delete(set_name, ref, if_match=if_match)
        return Response(204)
    raise _method_not_allowed(call)


def _posting(call: Call, set_name: str, ref: str, function: str, args: str | None) -> Response:
    _allow(call, "POST")
    if function == "Unpost":
        call.base.unpost(set_name, ref)
        return Response(200)
    params = split_params(args) if args else {}
    raw = params.get("PostingModeOperational", call.query.get("PostingModeOperational",
                                                              "false"))
    if raw.strip().lower() not in ("true", "false"):
        raise ODataError(400, "4", f"Неправильне значення PostingModeOperational: {raw!r}")
    call.base.post(set_name, ref, operational=raw.strip().lower() == "true")
    return Response(200)


def _navigate(call: Call, info: SetInfo, obj: dict, tail: list[str]) -> Response:
    """``X(guid)/Запасы``, ``X(guid)/Контрагент``, ``X(guid)/Контрагент/Description``."""
    base, shape, set_name, current = call.base, call.base.shapes[info.name], info.name, obj
    for position, name in enumerate(tail):
        last = position == len(tail) - 1
        if name in shape.tabular and last:
            return _collection(call, f"{set_name}/{name}", [dict(r) for r in current[name]])
        if name in shape.props and last:
            value = current.get(name)
            if not call.fmt.json:
                return Response.text(200, "" if value is None else str(value))
            return wire.json_response(200, {"odata.metadata": call.metadata_url(
                f"{shape.props[name].edm}"), "value": value})
        target = shape.navigation.get(name)
        if target is None or not base.is_published(target):
            raise ODataError(400, "10", f"Властивість \"{name}\" не знайдена (Property not found)")
        current = base.get(target, current.get(f"{name}_Key") or EMPTY_REF)
        if current is None:
            raise not_found()
        shape, set_name = base.shapes[target], target
    return _element(call, set_name, dict(current))


def _count(call: Call, shape: Shape, source: Callable[[Any], Iterable[dict]]) -> Response:
    compiled = compile_filter(call.query.get("$filter", ""), shape, call.base.resolver)
    count = sum(1 for row in source(compiled.equalities) if compiled.predicate(row))
    return Response.text(200, str(count))


# --- tabular sections -------------------------------------------------------------------------


def _tabular_set(call: Call, info: SetInfo, key: str | None, tail: list[str]) -> Response:
    base, set_name = call.base, info.name
    assert info.entity is not None
    assert info.section is not None
    owner, section = info.entity.name, info.section.name
    shape = base.shapes[set_name]

    def rows(equalities: Any) -> Iterable[dict]:
        for obj in base.candidates(owner, [e for e in equalities if e[0] == "Ref_Key"]):
            for line in obj[section]:
                yield {"Ref_Key": obj["Ref_Key"], **line}

    if call.method == "POST":
        raise ODataError(400, "13", "Пряме створення рядків табличної частини не "
                                    "підтримується: передайте рядки в об'єкті-власнику")
    _allow(call, "GET")
    if key is None or key.strip() == "":
        if tail == ["$count"]:
            return _count(call, shape, rows)
        page = run_query(call.query, shape, base, rows)
        project = Projector(call.query, shape, base)
        return _collection(call, set_name, [project(r) for r in page.rows], page.count)
    parts = dict(parse_key(key))
    ref, line = parts.get("Ref_Key"), parts.get("LineNumber")
    if not isinstance(ref, Guid) or line is None:
        raise ODataError(400, "7", "Ключ рядка: (Ref_Key=guid'…',LineNumber=N)")
    obj = base.require(owner, ref)
    row = next((r for r in obj[section] if r["LineNumber"] == str(line)), None)
    if row is None:
        raise not_found()
    return _element(call, set_name, {"Ref_Key": obj["Ref_Key"], **row})


# --- registers --------------------------------------------------------------------------------


def _register_set(call: Call, info: SetInfo, key: str | None, tail: list[str]) -> Response:
    assert info.register is not None
    register, base = info.register, call.base
    data = base.registers[register.name]
    shape = base.shapes[info.name]
    if tail == ["$count"]:
        _allow(call, "GET")
        return _count(call, shape, lambda eq: _record_sets(register, data))
    if tail:
        function, args = split_call(tail[0])
        return _virtual_table(call, info, data, function, args)
    if not register.subordinate:
        return _independent_records(call, info, data, key, shape)
    if call.method != "GET":
        raise _method_not_allowed(call)
    record_sets = _record_sets(register, data)
    if key is not None and key.strip():
        recorder = _recorder_from_key(key)
        found = next((s for s in record_sets if _recorder_of(register, s) == recorder), None)
        if found is None:
            raise not_found()
        return _element(call, info.name, found)
    page = run_query(call.query, shape, base, lambda eq: record_sets)
    project = Projector(call.query, shape, base)
    return _collection(call, info.name, [project(r) for r in page.rows], page.count)


def _record_sets(register: RegisterDef, data: RegisterData) -> list[dict]:
    if not register.subordinate:
        return list(data.records())
    return [_record_set(register, recorder, records)
            for recorder, records in data.by_recorder.items()]


def _record_set(register: RegisterDef, recorder: str, records: list[dict]) -> dict:
    head: dict[str, Any]
    if register.single_recorder:
        head = {"Recorder_Key": recorder}
    else:
        head = {"Recorder": recorder, "Recorder_Type": records[0].get("Recorder_Type")}
    return {**head, "RecordSet": [dict(r) for r in records]}


def _recorder_of(register: RegisterDef, record_set: dict) -> str:
    return record_set["Recorder_Key" if register.single_recorder else "Recorder"]


def _recorder_from_key(key: str) -> str:
    for name, value in parse_key(key):
        if name in (None, "Recorder", "Recorder_Key") and isinstance(value, str):
            return value.lower()
    raise ODataError(400, "7", f"Неправильний ключ набору записів: ({key})")


def _independent_records(call: Call, info: SetInfo, data: RegisterData, key: str | None,
                         shape: Shape) -> Response:
    register, base = data.definition, call.base
    if call.method == "POST":
        body = call.body()
        if not isinstance(body, dict):
            raise ODataError(400, "2", "Тіло запиту має бути об'єктом JSON")
        record = data.normalize(body)
        data.put(record)
        return _element(call, info.name, dict(record), 201)
    if key is None or key.strip() == "":
        _allow(call, "GET")
        page = run_query(call.query, shape, base, lambda eq: list(data.records()))
        project = Projector(call.query, shape, base)
        return _collection(call, info.name, [project(r) for r in page.rows], page.count)
    record_key = _independent_key(register, data, key)
    if call.method == "DELETE":
        if not data.remove_key(record_key):
            raise not_found()
        return Response(204)
    _allow(call, "GET")
    record = data.by_key.get(record_key)
    if record is None:
        raise not_found()
    return _element(call, info.name, dict(record))


def _independent_key(register: RegisterDef, data: RegisterData, key: str) -> tuple:
    parts = {name: value for name, value in parse_key(key) if name}
    period = parts.get("Period")
    values: list[Any] = [format_datetime(period) if isinstance(period, dt.datetime) else None]
    for prop in data.dim_props:
        value = parts.get(prop, EMPTY_REF if prop.endswith("_Key") else "")
        values.append(str(value).lower() if isinstance(value, Guid) else value)
    if not register.periodic:
        values[0] = None
    return tuple(values)


def _records_set(call: Call, info: SetInfo, key: str | None, tail: list[str]) -> Response:
    assert info.register is not None
    data = call.base.registers[info.register.name]
    shape = call.base.shapes[info.name]
    if tail == ["$count"]:
        _allow(call, "GET")
        return _count(call, shape, lambda eq: data.records())
    if tail:
        function, args = split_call(tail[0])
        return _virtual_table(call, info, data, function, args)
    _allow(call, "GET")
    page = run_query(call.query, shape, call.base, lambda eq: data.records())
    project = Projector(call.query, shape, call.base)
    return _collection(call, info.name, [project(r) for r in page.rows], page.count)


# --- virtual tables ---------------------------------------------------------------------------

_FUNCTION_PARAMS = {
    "Balance": ("Period", "Condition", "Dimensions"),
    "Turnovers": ("StartPeriod", "EndPeriod", "Condition", "Dimensions"),
    "SliceLast": ("Period", "Condition"),
    "SliceFirst": ("Period", "Condition"),
}


def _bound_functions(info: SetInfo) -> tuple[str, ...]:
    register = info.register
    assert register is not None
    if register.kind == "accumulation":
        return ("Balance", "Turnovers") if info.kind == "register" else ()
    if not register.periodic:
        return ()
    slices_here = (info.kind == "records") == register.subordinate
    return ("SliceLast", "SliceFirst") if slices_here else ()


def _virtual_table(call: Call, info: SetInfo, data: RegisterData, function: str,
                   args: str | None) -> Response:
    if function not in _bound_functions(info):
        raise ODataError(400, "6", f"Метод \"{function}\" не знайдено для {info.name} "
                                   "(Method not found)")
    _allow(call, "GET")
    params = _function_params(call, function, args)
    register = data.definition
    if function == "Balance":
        rows = _balance(call, data, params)
        fragment = f"{register.name}_Balance"
    elif function == "Turnovers":
        rows = _turnovers(call, data, params)
        fragment = f"{register.name}_Turnover"
    else:
        rows = _slice(call, data, params, last=function == "SliceLast")
        fragment = f"{register.name}_{function}"
    # The result type declares its resources even when no row came back (an empty balance
    # still lets a client $select ``КоличествоBalance``), as the $metadata ComplexType does.
    declared = {"Balance": ("Balance",),
                "Turnovers": ("Receipt", "Expense", "Turnover")}.get(function, ())
    rows_shape = rows or [{f"{name}{suffix}": None for name in data.amounts
                           for suffix in declared}]
    shape = Shape.build(fragment, _result_props(register, rows_shape))
    resources = [p for p in shape.props if p not in register_dimension_names(register)]
    filter_text = call.query.get("$filter", "")
    if function in ("Balance", "Turnovers") and any(r in filter_text for r in resources):
        raise QueryError("Операция не разрешена в предложении ГДЕ: ресурси віртуальної таблиці "
                         "не можна фільтрувати")
    page = run_query(call.query, shape, call.base, lambda eq: rows)
    project = Projector(call.query, shape, call.base)
    return _collection(call, f"Collection({NAMESPACE}.{fragment})",
                       [project(r) for r in page.rows], page.count, set_name=fragment)


def register_dimension_names(register: RegisterDef) -> set[str]:
    return {p.name for p in register.dimension_props()}


def _result_props(register: RegisterDef, rows: list[dict]) -> list[Prop]:
    known = {p.name: p for p in register.record_props()}
    names: dict[str, None] = {}
    for row in rows[:1] or [{}]:
        names.update(dict.fromkeys(row))
    for prop in register.dimension_props():
        names.setdefault(prop.name)
    return [known.get(n) or Prop(n, "double") for n in names]


def _function_params(call: Call, function: str, args: str | None) -> dict[str, str]:
    allowed = _FUNCTION_PARAMS[function]
    params = split_params(args) if args and args.strip() else {}
    for name in params:
        if name not in allowed:
            raise ODataError(501, "0", f"Параметр \"{name}\" не підтримується")
    for name in allowed:  # the query-string form: …/Balance()?Period=…&Condition=…
        if name not in params and name in call.query:
            params[name] = call.query[name]
    return params


def _datetime_param(params: dict[str, str], name: str) -> dt.datetime | None:
    raw = params.get(name)
    if raw is None or raw.strip() == "":
        return None
    value = parse_literal(raw)
    if not isinstance(value, dt.datetime):
        raise ODataError(400, "21", f"Параметр {name} має бути datetime'…'")
    return value


def _condition(call: Call, params: dict[str, str], shape: Shape) -> Callable[[dict], bool]:
    raw = params.get("Condition")
    if raw is None or raw.strip() == "":
        return lambda row: True
    first_error: QueryError | None = None
    for text in condition_variants(raw):
        try:
            return compile_filter(text, shape, call.base.resolver).predicate
        except QueryError as exc:
            first_error = first_error or exc
    assert first_error is not None
    raise first_error


def _group_props(register: RegisterDef, params: dict[str, str]) -> list[str]:
    raw = params.get("Dimensions")
    if raw is None or raw.strip() == "":
        return [p.name for p in register.dimension_props()]
    names = [n.strip().removesuffix("_Key") for n in condition_variants(raw)[0].split(",")]
    props: list[str] = []
    for name in names:
        dimension = register.dimension(name)
        if dimension is None:
            raise ODataError(400, "21", f"Невідомий вимір \"{name}\" регістра {register.name}")
        props += [p.name for p in dimension.properties()]
    return props


def _dims_shape(register: RegisterDef) -> Shape:
    return Shape.build(f"{register.name}_Dimensions", register.dimension_props())


def _balance(call: Call, data: RegisterData, params: dict[str, str]) -> list[dict]:
    register = data.definition
    condition = _condition(call, params, _dims_shape(register))
    group = _group_props(register, params)
    period = _datetime_param(params, "Period")
    sums: dict[tuple, list[float]] = {}
    if period is None:
        # No period: the current totals, which include every movement (also future-dated).
        for key, totals in data.totals.items():
            row = dict(zip(data.dim_props, key, strict=True))
            if condition(row):
                _accumulate(sums, tuple(row[p] for p in group), totals)
    else:
        moment = format_datetime(period)
        for record in data.records():
            # A balance at a moment excludes the movements of that very moment.
            if record.get("Active", True) and record["Period"] < moment and condition(record):
                sign = 1 if record["RecordType"] == "Receipt" else -1
                _accumulate(sums, tuple(record[p] for p in group),
                            [sign * float(record.get(a) or 0) for a in data.amounts])
    rows = []
    for key, totals in sums.items():
        if all(abs(v) < 1e-9 for v in totals):
            continue
        row = dict(zip(group, key, strict=True))
        for name, value in zip(data.amounts, totals, strict=True):
            row[f"{name}Balance"] = number_out(value)
        rows.append(row)
    return rows


def _accumulate(sums: dict[tuple, list[float]], key: tuple, values: list[float]) -> None:
    target = sums.setdefault(key, [0.0] * len(values))
    for i, value in enumerate(values):
        target[i] += value


def _turnovers(call: Call, data: RegisterData, params: dict[str, str]) -> list[dict]:
    register = data.definition
    condition = _condition(call, params, _dims_shape(register))
    group = _group_props(register, params)
    start = _datetime_param(params, "StartPeriod")
    end = _datetime_param(params, "EndPeriod")
    low = format_datetime(start) if start else ""
    high = format_datetime(end) if end else "9999"
    sums: dict[tuple, list[float]] = {}
    width = len(data.amounts)
    for record in data.records():
        if not (record.get("Active", True) and low <= record["Period"] <= high
                and condition(record)):
            continue
        values = [0.0] * (2 * width)
        offset = 0 if record["RecordType"] == "Receipt" else width
        for i, name in enumerate(data.amounts):
            values[offset + i] = float(record.get(name) or 0)
        _accumulate(sums, tuple(record[p] for p in group), values)
    rows = []
    for key, values in sums.items():
        row = dict(zip(group, key, strict=True))
        for i, name in enumerate(data.amounts):
            receipt, expense = values[i], values[width + i]
            row[f"{name}Receipt"] = number_out(receipt)
            row[f"{name}Expense"] = number_out(expense)
            row[f"{name}Turnover"] = number_out(receipt - expense)
        rows.append(row)
    return rows


def _slice(call: Call, data: RegisterData, params: dict[str, str], *, last: bool) -> list[dict]:
    register = data.definition
    shape = Shape.build(f"{register.name}_Slice", register.record_props())
    condition = _condition(call, params, shape)
    period = _datetime_param(params, "Period")
    moment = format_datetime(period) if period else None
    best: dict[tuple, dict] = {}
    for record in data.records():
        if not record.get("Active", True) or not condition(record):
            continue
        if moment is not None and (record["Period"] > moment if last
                                   else record["Period"] < moment):
            continue
        key = tuple(record[p] for p in data.dim_props)
        current = best.get(key)
        if current is None or (record["Period"] >= current["Period"] if last
                               else record["Period"] < current["Period"]):
            best[key] = record
    hidden = {"LineNumber", "Active"}
    return [{k: v for k, v in record.items() if k not in hidden} for record in best.values()]


_HANDLERS: dict[str, Callable[[Call, SetInfo, str | None, list[str]], Response]] = {
    "entity": _entity_set,
    "tabular": _tabular_set,
    "register": _register_set,
    "records": _records_set,
}

