"""One in-memory infobase: objects by entity set and Ref_Key, register records, users and
the publication list.

Objects are kept exactly in their wire form (the JSON 1C would return: ``Контрагент_Key``,
``LineNumber`` as a string …), so reading is a copy and ``$filter`` sees what a client sees.
Every write goes through the same coercion and the configuration's "before write" behaviour,
whether it comes from HTTP or from the control API.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime as dt
import itertools
import random
import re
import uuid
from collections.abc import Iterable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

from . import posting
from .errors import ODataError, business_error, not_found
from .filter import Guid, Resolver, is_guid
from .schema import (
    EMPTY_DATE,
    EMPTY_REF,
    NAMESPACE,
    UNDEFINED_TYPE,
    Configuration,
    EntityDef,
    Prop,
    RegisterDef,
    Shape,
    TabularSection,
    entity_shape,
    is_filled,
    row_props,
)

SERVER_TZ = ZoneInfo("Europe/Kyiv")  # BAS servers run on Kyiv wall-clock time (§3)
DEFAULT_USERS = {"Адміністратор": "secret", "odata.user": "odata"}
# Properties a client cannot set through the body (1C ignores them or sets them itself).
READ_ONLY = frozenset({"Ref_Key", "DataVersion", "Posted", "Predefined", "PredefinedDataName",
                       "LineNumber"})
SEED_SETTABLE = frozenset({"DataVersion", "Posted", "Predefined", "PredefinedDataName"})
_BIND = re.compile(r"\(guid'([0-9a-fA-F-]{36})'\)")


def now_local() -> dt.datetime:
    return dt.datetime.now(SERVER_TZ).replace(tzinfo=None, microsecond=0)


def format_datetime(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S")


def number_out(value: float) -> float | int:
    """1C writes whole numbers without a fraction (``2``, not ``2.0``)."""
    value = round(value, 6)
    return int(value) if float(value).is_integer() else value


@dataclasses.dataclass(frozen=True)
class SetInfo:
    """What an entity-set name denotes in a configuration."""

    name: str
    kind: str  # "entity", "tabular", "register", "records"
    owner: str  # the metadata object that publishing switches on and off
    entity: EntityDef | None = None
    section: TabularSection | None = None
    register: RegisterDef | None = None


# --- value coercion ---------------------------------------------------------------------------


def default_value(prop: Prop) -> Any:
    return {
        "guid": EMPTY_REF, "string": "", "enum": "", "composite": "", "double": 0,
        "int64": "0", "bool": False, "datetime": EMPTY_DATE,
    }[prop.kind]


def _bad_value(name: str, value: Any) -> ODataError:
    return ODataError(400, "4", f"Неправильне значення властивості \"{name}\": {value!r}")


def coerce_datetime(name: str, value: Any) -> str:
    if value in (None, ""):
        return EMPTY_DATE
    if not isinstance(value, str):
        raise _bad_value(name, value)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise _bad_value(name, value) from None
    if parsed.tzinfo is not None:
        # 1C reads a zoned value as an instant and keeps its own wall-clock time: the trap
        # that shifts documents by hours when a client sends UTC (§3).
        parsed = parsed.astimezone(SERVER_TZ).replace(tzinfo=None)
    return format_datetime(parsed.replace(microsecond=0))


def coerce(prop: Prop, value: Any) -> Any:
    """A written value in wire form, or ODataError 400/4."""
    kind, name = prop.kind, prop.name
    if kind == "guid":
        if value in (None, ""):
            return EMPTY_REF
        if not is_guid(value):
            raise _bad_value(name, value)
        return value.lower()
    if kind in ("string", "enum"):
        if value is None:
            return ""
        if not isinstance(value, str):
            raise _bad_value(name, value)
        members = prop.attr.members if prop.attr is not None else ()
        if kind == "enum" and value and members and value not in members:
            raise ODataError(400, "4", f"Неправильне значення перерахування \"{name}\": "
                                       f"{value!r}; допустимі: {', '.join(members)}")
        return value
    if kind in ("double", "int64"):
        if value is None:
            return default_value(prop)
        if isinstance(value, bool):
            raise _bad_value(name, value)
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise _bad_value(name, value) from None
        if not isinstance(value, int | float):
            raise _bad_value(name, value)
        return str(int(value)) if kind == "int64" else number_out(float(value))
    if kind == "bool":
        if value is None:
            return False
        if not isinstance(value, bool):
            raise _bad_value(name, value)
        return value
    if kind == "datetime":
        return coerce_datetime(name, value)
    raise _bad_value(name, value)


def coerce_composite(prop: Prop, value: Any, type_name: Any) -> tuple[Any, str]:
    """(value, X_Type) of a composite attribute, validated against its allowed types."""
    assert prop.attr is not None
    if type_name in (None, "", UNDEFINED_TYPE):
        if value not in (None, "", EMPTY_REF):
            raise ODataError(400, "4", f"Не вказано тип значення властивості \"{prop.name}\" "
                                       f"({prop.name}_Type)")
        return "", UNDEFINED_TYPE
    if not isinstance(type_name, str):
        raise _bad_value(f"{prop.name}_Type", type_name)
    short = type_name.removeprefix(f"{NAMESPACE}.")
    if short not in prop.attr.types:
        raise ODataError(400, "4", f"Тип \"{type_name}\" недопустимий для властивості "
                                   f"\"{prop.name}\"")
    if short.startswith("Edm."):
        return value, short
    if value in (None, ""):
        return EMPTY_REF, type_name
    if not is_guid(value):
        raise _bad_value(prop.name, value)
    return value.lower(), f"{NAMESPACE}.{short}"


# --- registers --------------------------------------------------------------------------------


class RegisterData:
    """Records of one register. Recorder-subordinate registers keep them by recorder;
    independent ones by (Period, dimensions). Accumulation registers also keep running totals
    per dimension combination, so a ``Balance`` without a period costs one pass over them."""

    def __init__(self, definition: RegisterDef) -> None:
        self.definition = definition
        self.props = {p.name: p for p in definition.record_props()}
        self.dim_props = [p.name for p in definition.dimension_props()]
        self.amounts = [r.name for r in definition.resources if r.kind == "double"]
        self.by_recorder: dict[str, list[dict]] = {}
        self.by_key: dict[tuple, dict] = {}
        self.totals: dict[tuple, list[float]] = {}

    def records(self) -> Iterator[dict]:
        if self.definition.subordinate:
            return itertools.chain.from_iterable(self.by_recorder.values())
        return iter(self.by_key.values())

    def count(self) -> int:
        if self.definition.subordinate:
            return sum(len(v) for v in self.by_recorder.values())
        return len(self.by_key)

    def normalize(self, record: dict) -> dict:
        result: dict[str, Any] = {}
        for name, prop in self.props.items():
            if prop.kind == "composite":
                result[name], result[f"{name}_Type"] = coerce_composite(
                    prop, record.get(name), record.get(f"{name}_Type"))
            elif name.endswith("_Type") and name[:-5] in self.props:
                continue
            else:
                result[name] = coerce(prop, record.get(name, default_value(prop)))
        if "Active" in self.props and "Active" not in record:
            result["Active"] = True
        if self.definition.kind == "accumulation" and result.get("RecordType") not in (
                "Receipt", "Expense"):
            raise ODataError(400, "4", "RecordType має бути \"Receipt\" або \"Expense\"")
        return result

    def _apply_totals(self, record: dict, sign: int) -> None:
        if self.definition.kind != "accumulation" or not record.get("Active", True):
            return
        direction = sign if record["RecordType"] == "Receipt" else -sign
        key = tuple(record[p] for p in self.dim_props)
        totals = self.totals.setdefault(key, [0.0] * len(self.amounts))
        for i, name in enumerate(self.amounts):
            totals[i] += direction * float(record.get(name) or 0)
        if all(abs(v) < 1e-9 for v in totals):
            del self.totals[key]

    def replace(self, recorder: str, records: list[dict]) -> None:
        """Set the records of one recorder (an empty list removes them)."""
        for old in self.by_recorder.pop(recorder, []):
            self._apply_totals(old, -1)
        if records:
            self.by_recorder[recorder] = records
            for record in records:
                self._apply_totals(record, +1)

    def put(self, record: dict) -> None:
        """An independent register's record, replacing the one with the same key."""
        key = (record.get("Period"), *(record[p] for p in self.dim_props))
        self.by_key[key] = record

    def remove_key(self, key: tuple) -> bool:
        return self.by_key.pop(key, None) is not None

    def total(self, dims: dict[str, Any]) -> list[float]:
        key = tuple(dims.get(p, EMPTY_REF) for p in self.dim_props)
        return list(self.totals.get(key, [0.0] * len(self.amounts)))


# --- the infobase -----------------------------------------------------------------------------


class Infobase:
    def __init__(self, name: str, config: Configuration, users: dict[str, str] | None,
                 rng: random.Random) -> None:
        self.name = name
        self.config = config
        self.users = dict(DEFAULT_USERS if users is None else users)
        self.unpublished: set[str] = set()
        self.rng = rng
        self.objects: dict[str, dict[str, dict]] = {name: {} for name in config.entities}
        self.order: dict[str, int] = {}
        self.registers = {name: RegisterData(d) for name, d in config.registers.items()}
        self.counters: dict[str, int] = {}
        self.version = 0
        self.sequence = itertools.count(1)
        self.indexes: dict[str, dict[str, dict[Any, set[str]]]] = {}
        self.sets: dict[str, SetInfo] = {}
        self.shapes: dict[str, Shape] = {}
        self._props: dict[str, dict[str, Prop]] = {}
        # ($metadata) the unpublished objects it was built for, and the EDMX text
        self.edmx_cache: tuple[frozenset[str], str] | None = None
        self._build_sets()
        self.resolver = Resolver(shape_of=self.published_shape, lookup=self.get)

    # --- sets and shapes ----------------------------------------------------------------------
    def _build_sets(self) -> None:
        for entity in self.config.entities.values():
            self._add_set(SetInfo(entity.name, "entity", entity.name, entity=entity),
                          entity_shape(entity))
            self._props[entity.name] = {p.name: p for p in entity.props()}
            for section in entity.tabular:
                name = f"{entity.name}_{section.name}"
                self._add_set(SetInfo(name, "tabular", entity.name, entity=entity,
                                      section=section),
                              Shape.build(name, row_props(section, with_owner=True)))
        for register in self.config.registers.values():
            records = register.record_props()
            if register.subordinate:
                self._add_set(SetInfo(register.name, "register", register.name,
                                      register=register),
                              Shape.build(register.name, register.recorder_props(), {
                                  "RecordSet": Shape.build(f"{register.name}_RowType", records)}))
                name = f"{register.name}_RecordType"
                self._add_set(SetInfo(name, "records", register.name, register=register),
                              Shape.build(name, records))
            else:
                self._add_set(SetInfo(register.name, "register", register.name,
                                      register=register),
                              Shape.build(register.name, records))

    def _add_set(self, info: SetInfo, shape: Shape) -> None:
        self.sets[info.name] = info
        self.shapes[info.name] = shape

    def is_published(self, set_name: str) -> bool:
        info = self.sets.get(set_name)
        return info is not None and info.owner not in self.unpublished

    def published_sets(self) -> list[SetInfo]:
        return [info for info in self.sets.values() if info.owner not in self.unpublished]

    def published_shape(self, set_name: str) -> Shape | None:
        return self.shapes.get(set_name) if self.is_published(set_name) else None

    def owner_object(self, set_name: str) -> str:
        info = self.sets.get(set_name)
        if info is None:
            raise ValueError(f"{set_name} is not an entity set of {self.config.name}")
        return info.owner

    def props(self, entity: EntityDef) -> dict[str, Prop]:
        return self._props[entity.name]

    # --- identities -----------------------------------------------------------------------------
    def new_ref(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def next_version(self) -> str:
        self.version += 1
        return base64.b64encode(self.version.to_bytes(8, "big")).decode("ascii")

    def _next_code(self, entity: EntityDef, prop: str) -> str:
        used = self.index(entity.name, prop)
        while True:
            self.counters[entity.name] = self.counters.get(entity.name, 0) + 1
            n = self.counters[entity.name]
            if entity.is_document:
                candidate = f"{entity.number_prefix}{n:06d}"
            else:
                candidate = str(n).zfill(entity.code_length)
            if candidate.casefold() not in used:
                return candidate

    # --- indexes ------------------------------------------------------------------------------
    @staticmethod
    def _index_value(value: Any) -> Any:
        return value.casefold() if isinstance(value, str) else value

    def index(self, set_name: str, prop: str) -> dict[Any, set[str]]:
        """Value → Ref_Keys of one property, built on first use and kept up to date after."""
        by_prop = self.indexes.setdefault(set_name, {})
        index = by_prop.get(prop)
        if index is None:
            index = {}
            for ref, obj in self.objects[set_name].items():
                index.setdefault(self._index_value(obj.get(prop)), set()).add(ref)
            by_prop[prop] = index
        return index

    def _reindex(self, set_name: str, ref: str, old: dict | None, new: dict | None) -> None:
        for prop, index in self.indexes.get(set_name, {}).items():
            if old is not None:
                refs = index.get(self._index_value(old.get(prop)))
                if refs is not None:
                    refs.discard(ref)
            if new is not None:
                index.setdefault(self._index_value(new.get(prop)), set()).add(ref)

    def candidates(self, set_name: str, equalities: Iterable[tuple[str, Any]]) -> list[dict]:
        """Objects that may satisfy a filter whose conjunctive ``prop eq literal`` terms are
        ``equalities`` — all objects when there are none. Insertion order."""
        objects = self.objects[set_name]
        for prop, value in equalities:
            if prop == "Ref_Key":
                obj = objects.get(str(value).lower())
                return [obj] if obj is not None else []
            if isinstance(value, str | Guid):
                refs = self.index(set_name, prop).get(self._index_value(value), set())
                return [objects[r] for r in sorted(refs, key=self.order.__getitem__)]
        return list(objects.values())

    # --- reads ----------------------------------------------------------------------------------
    def entity(self, set_name: str) -> EntityDef:
        return self.config.entities[set_name]

    def get(self, set_name: str, ref: str) -> dict | None:
        objects = self.objects.get(set_name)
        return None if objects is None else objects.get(str(ref).lower())

    def require(self, set_name: str, ref: str) -> dict:
        obj = self.get(set_name, ref)
        if obj is None:
            raise not_found()
        return obj

    def find_predefined(self, set_name: str, predefined_name: str) -> dict | None:
        refs = self.index(set_name, "PredefinedDataName").get(predefined_name.casefold())
        return self.objects[set_name][next(iter(refs))] if refs else None

    # --- writes ---------------------------------------------------------------------------------
    def defaults(self, entity: EntityDef) -> dict:
        obj: dict[str, Any] = {}
        for prop in entity.props():
            obj[prop.name] = default_value(prop)
            if prop.kind == "composite":
                obj[f"{prop.name}_Type"] = UNDEFINED_TYPE
        obj["DataVersion"] = ""
        for section in entity.tabular:
            obj[section.name] = []
        return obj

    def apply_body(self, entity: EntityDef, obj: dict, body: dict, *, seeding: bool) -> None:
        """Copy the known fields of a request body onto ``obj`` (unknown ones are ignored,
        as 1C does); tabular sections are replaced whole."""
        props = self.props(entity)
        composites: set[str] = set()
        for key, value in body.items():
            if "@" in key:
                self._apply_bind(props, obj, key, value)
                continue
            if key in READ_ONLY and not (seeding and key in SEED_SETTABLE):
                continue
            section = entity.section(key)
            if section is not None:
                obj[key] = self._coerce_rows(section, value)
                continue
            prop = props.get(key)
            if prop is None:
                continue
            if prop.kind == "composite":
                composites.add(key)
            elif key.endswith("_Type") and props.get(key[:-5]) is not None \
                    and props[key[:-5]].kind == "composite":
                composites.add(key[:-5])
            else:
                obj[key] = coerce(prop, value)
        for name in composites:
            obj[name], obj[f"{name}_Type"] = coerce_composite(
                props[name], body.get(name, obj.get(name)),
                body.get(f"{name}_Type", obj.get(f"{name}_Type")))

    @staticmethod
    def _apply_bind(props: dict[str, Prop], obj: dict, key: str, value: Any) -> None:
        """``"Организация@odata.bind": "Catalog_Организации(guid'…')"`` (§5)."""
        name, _, annotation = key.partition("@")
        if annotation != "odata.bind" or f"{name}_Key" not in props:
            return  # other annotations (odata.type …) carry nothing to store
        match = _BIND.search(str(value))
        if not match:
            raise _bad_value(key, value)
        obj[f"{name}_Key"] = match.group(1).lower()

    def _coerce_rows(self, section: TabularSection, rows: Any) -> list[dict]:
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ODataError(400, "4", f"Табличну частину \"{section.name}\" треба передати "
                                       "масивом об'єктів")
        props = row_props(section, with_owner=False)
        by_name = {p.name: p for p in props}
        result = []
        for number, row in enumerate(rows, start=1):
            line: dict[str, Any] = {}
            for prop in props:
                if prop.name == "LineNumber":
                    line["LineNumber"] = str(number)  # 1C numbers rows by position
                elif prop.kind == "composite":
                    line[prop.name], line[f"{prop.name}_Type"] = coerce_composite(
                        prop, row.get(prop.name), row.get(f"{prop.name}_Type"))
                elif prop.name.endswith("_Type") and prop.name[:-5] in by_name:
                    continue
                else:
                    line[prop.name] = coerce(prop, row.get(prop.name, default_value(prop)))
            result.append(line)
        return result

    def _check_required(self, entity: EntityDef, obj: dict) -> None:
        if entity.is_document:
            return
        props = self.props(entity)
        required = ("Description",) if obj.get("IsFolder") else entity.required
        missing = [
            (props[name].attr.name if props[name].attr else name)
            for name in required
            if name in props and not is_filled(props[name], obj)
        ]
        if missing:
            raise business_error("\n".join(f"Поле \"{_field_title(m)}\" не заповнено"
                                           for m in missing))

    def _finish(self, entity: EntityDef, obj: dict, *, seeding: bool, is_new: bool) -> None:
        posting.before_write(self, entity, obj, is_new=is_new)
        if not seeding:
            self._check_required(entity, obj)
        if entity.is_document:
            if not obj.get("Number"):
                obj["Number"] = self._next_code(entity, "Number")
            if obj.get("Date") in (None, "", EMPTY_DATE):
                obj["Date"] = format_datetime(now_local())
            if obj.get("Posted") and obj.get("DeletionMark") and not seeding:
                raise business_error(
                    f"Документ {obj['Number']} проведено: позначити його на вилучення можна "
                    "лише після скасування проведення")
        elif not obj.get("Code"):
            obj["Code"] = self._next_code(entity, "Code")
        if not (seeding and obj.get("DataVersion")):
            obj["DataVersion"] = self.next_version()

    def _store(self, set_name: str, obj: dict, old: dict | None) -> None:
        ref = obj["Ref_Key"]
        if old is None:
            self.order[ref] = next(self.sequence)
        self.objects[set_name][ref] = obj
        self._reindex(set_name, ref, old, obj)

    def create(self, set_name: str, body: dict, *, seeding: bool = False) -> dict:
        entity = self.entity(set_name)
        if not isinstance(body, dict):
            raise ODataError(400, "2", "Тіло запиту має бути об'єктом JSON")
        obj = self.defaults(entity)
        ref = body.get("Ref_Key")
        if ref in (None, "", EMPTY_REF):
            ref = self.new_ref()
        elif not is_guid(ref):
            raise _bad_value("Ref_Key", ref)
        ref = ref.lower()
        if ref in self.objects[set_name]:
            raise ODataError(400, "15", "Сутність з таким ключем уже існує")
        self.apply_body(entity, obj, body, seeding=seeding)
        obj["Ref_Key"] = ref
        # Only /Post posts; a seeded "Posted": true is honoured by really posting.
        wants_posting = seeding and entity.is_document and bool(obj.get("Posted"))
        if entity.is_document:
            obj["Posted"] = False
        self._finish(entity, obj, seeding=seeding, is_new=True)
        self._store(set_name, obj, None)
        if wants_posting:
            try:
                return self.post(set_name, ref, operational=False)
            except ODataError:
                self.delete(set_name, ref)
                raise
        return obj

    def update(self, set_name: str, ref: str, body: dict, *, if_match: str | None = None,
               replace: bool = False) -> dict:
        entity = self.entity(set_name)
        if not isinstance(body, dict):
            raise ODataError(400, "2", "Тіло запиту має бути об'єктом JSON")
        old = self.require(set_name, ref)
        self._check_version(old, if_match)
        if replace:
            obj = self.defaults(entity)
            # A full replacement keeps what the client cannot set and, when it does not
            # send them, the number and code the object already has.
            for keep in ("Ref_Key", "Posted", "Predefined", "PredefinedDataName", "Code",
                         "Number", "Date"):
                if keep in old and (keep not in body or keep in READ_ONLY):
                    obj[keep] = old[keep]
        else:
            obj = {k: (list(v) if isinstance(v, list) else v) for k, v in old.items()}
        self.apply_body(entity, obj, body, seeding=False)
        self._finish(entity, obj, seeding=False, is_new=False)
        self._store(set_name, obj, old)
        return obj

    @staticmethod
    def _check_version(obj: dict, if_match: str | None) -> None:
        if if_match is None or if_match.strip() == "*":
            return
        expected = if_match.strip().removeprefix("W/").strip('"')
        if expected != obj["DataVersion"]:
            raise ODataError(412, "-1", "Версія об'єкта не збігається: його змінив інший "
                                        f"користувач (DataVersion {obj['DataVersion']})")

    def delete(self, set_name: str, ref: str, *, if_match: str | None = None) -> None:
        entity = self.entity(set_name)
        obj = self.require(set_name, ref)
        self._check_version(obj, if_match)
        if obj.get("Predefined"):
            raise business_error(f"Не можна вилучити зумовлений елемент "
                                 f"\"{obj.get('Description')}\"")
        if entity.is_document:
            self._write_movements(entity, obj, {})
        del self.objects[set_name][obj["Ref_Key"]]
        self.order.pop(obj["Ref_Key"], None)
        self._reindex(set_name, obj["Ref_Key"], obj, None)

    # --- posting --------------------------------------------------------------------------------
    def post(self, set_name: str, ref: str, *, operational: bool) -> dict:
        entity = self.entity(set_name)
        old = self.require(set_name, ref)
        title = f"{set_name.removeprefix('Document_')} {old['Number']}"
        if old.get("DeletionMark"):
            raise business_error(f"Документ {title} позначено на вилучення: його не можна "
                                 "провести")
        if operational:
            if not entity.realtime_posting:
                raise business_error(f"Оперативне проведення документа {title} заборонено. "
                                     "Проводьте з PostingModeOperational=false")
            if old["Date"][:10] != format_datetime(now_local())[:10]:
                raise business_error("Оперативне проведення документа не поточною датою "
                                     "неможливе")
        obj = {k: (list(v) if isinstance(v, list) else v) for k, v in old.items()}
        posting.before_write(self, entity, obj, is_new=False)
        problems = posting.check(self, entity, obj)
        if problems:
            raise business_error("\n".join(problems))
        self._write_movements(entity, obj, None)
        obj["Posted"] = True
        obj["DataVersion"] = self.next_version()
        self._store(set_name, obj, old)
        return obj

    def unpost(self, set_name: str, ref: str) -> dict:
        entity = self.entity(set_name)
        old = self.require(set_name, ref)
        self._write_movements(entity, old, {})
        obj = dict(old)
        obj["Posted"] = False
        obj["DataVersion"] = self.next_version()
        self._store(set_name, obj, old)
        return obj

    def _write_movements(self, entity: EntityDef, doc: dict,
                         movements: dict[str, list[dict]] | None) -> None:
        """Replace the document's register records. ``movements`` None: compute them (after
        the old ones are gone, so that costs and remainders never count the document twice);
        ``{}``: just remove them."""
        ref = doc["Ref_Key"]
        for data in self.registers.values():
            if data.definition.subordinate and ref in data.by_recorder:
                data.replace(ref, [])
        if movements is None:
            movements = posting.movements(self, entity, doc)
        for register_name, records in movements.items():
            data = self.registers[register_name]
            recorder = self._recorder_fields(data.definition, entity.name, ref)
            full = []
            for number, record in enumerate(records, start=1):
                full.append(data.normalize({"Period": doc["Date"], **record, **recorder,
                                            "LineNumber": str(number), "Active": True}))
            data.replace(ref, full)

    @staticmethod
    def _recorder_fields(definition: RegisterDef, set_name: str, ref: str) -> dict[str, str]:
        if definition.single_recorder:
            return {"Recorder_Key": ref}
        return {"Recorder": ref, "Recorder_Type": f"{NAMESPACE}.{set_name}"}

    # --- seeded register records ----------------------------------------------------------------
    def add_records(self, register_name: str, records: list[dict]) -> int:
        """Records written directly (control API), as a data import would. Records without a
        recorder are grouped under one synthetic recorder per call."""
        data = self.registers.get(register_name)
        if data is None:
            raise ValueError(f"{register_name} is not a register of {self.config.name}")
        definition = data.definition
        if not definition.subordinate:
            for record in records:
                data.put(data.normalize(record))
            return len(records)
        synthetic = self.new_ref()
        grouped: dict[str, list[dict]] = {}
        for record in records:
            record = dict(record)
            recorder_key = "Recorder_Key" if definition.single_recorder else "Recorder"
            recorder = str(record.get(recorder_key) or synthetic).lower()
            record[recorder_key] = recorder
            if not definition.single_recorder and not record.get("Recorder_Type"):
                record["Recorder_Type"] = f"{NAMESPACE}.{definition.recorders[0]}"
            record.setdefault("Period", format_datetime(now_local()))
            grouped.setdefault(recorder, []).append(record)
        for recorder, group in grouped.items():
            existing = data.by_recorder.get(recorder, [])
            full = list(existing)
            for record in group:
                record["LineNumber"] = str(len(full) + 1)
                full.append(data.normalize(record))
            data.replace(recorder, full)
        return len(records)

    # --- state ----------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "configuration": self.config.name,
            "users": dict(self.users),
            "unpublished": sorted(self.unpublished),
            "objects": {name: [copy.deepcopy(o) for o in objs.values()]
                        for name, objs in self.objects.items() if objs},
            "registers": {name: [dict(r) for r in data.records()]
                          for name, data in self.registers.items() if data.count()},
        }


def _field_title(name: str) -> str:
    return name.removesuffix("_Key")
