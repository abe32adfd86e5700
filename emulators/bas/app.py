"""The BAS emulator: several infobases behind one web server, each publishing the standard
OData interface at ``/<base>/odata/standard.odata/`` (bas-odata.md).

Outside the protocol it offers a Python API and the same operations as control verbs
(``POST /__emulator__/<verb>``), so tests in this process and workers in others can shape it:

    base        {"name", "configuration", "users": {login: password}}   create / replace a base
    users       {"base", "users": {login: password}}                    replace a base's users
    seed        {"base", "entities": {"Catalog_X": [objects]}}          write objects as an import
    objects     {"base", "set"}                                         stored objects of one set
    movements   {"base", "register", "records": [...]}                  write register records
    publish     {"base", "sets": [...]}   (no "sets": everything)       OData composition
    unpublish   {"base", "sets": [...]}
    post        {"base", "set", "ref", "operational": false}            post a document
    reference   {"base"}                                                reference Ref_Keys
    seed_demo   {}                                                      realistic demo data
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from emulators.common import Emulator, Request, Response

from . import wire
from .errors import ODataError
from .filter import QueryError
from .reference import reference_key, reference_objects, reference_slugs
from .routes import Call, route
from .schema import configuration
from .store import Infobase

MAX_QUERY_STRING = 2048  # IIS requestLimits@maxQueryString default (§8.3)
DEFAULT_BASES = {"sb": "small_business", "acc": "accounting"}
_ROOT = re.compile(r"^/([^/]+)/odata/standard\.odata(?:/(.*))?$", re.DOTALL)


class BasEmulator(Emulator):
    name = "bas"

    def __init__(self, *, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self._seed = seed
        self.bases: dict[str, Infobase] = {}
        self.reset()

    # --- Python API -----------------------------------------------------------------------------
    def reset(self) -> None:
        """The two default bases, each holding only its reference data. The random source
        restarts too, so the keys of objects created after a reset repeat run after run."""
        with self.lock:
            self.random.seed(self._seed)
            self.bases = {}
            for name, config in DEFAULT_BASES.items():
                self.add_base(name, config)

    def add_base(self, name: str, configuration_name: str,
                 users: dict[str, str] | None = None) -> Infobase:
        """Create (or replace) a base with the configuration's reference data."""
        with self.lock:
            base = Infobase(name, configuration(configuration_name), users, self.random)
            for set_name, body in reference_objects(name, configuration_name):
                base.create(set_name, body, seeding=True)
            self.bases[name] = base
            return base

    def infobase(self, name: str) -> Infobase:
        try:
            return self.bases[name]
        except KeyError:
            raise ValueError(f"no base {name!r}; bases: {', '.join(self.bases)}") from None

    def set_users(self, base: str, users: dict[str, str]) -> None:
        with self.lock:
            self.infobase(base).users = dict(users)

    def add_user(self, base: str, login: str, password: str) -> None:
        with self.lock:
            self.infobase(base).users[login] = password

    def seed(self, base: str, entities: dict[str, list[dict]]) -> dict[str, list[str]]:
        """Write objects as a data import would: standard fields filled in, given Ref_Keys,
        Codes and Numbers kept, catalog fill checks skipped; ``"Posted": true`` posts."""
        with self.lock:
            infobase = self.infobase(base)
            created: dict[str, list[str]] = {}
            for set_name, objects in entities.items():
                if set_name not in infobase.config.entities:
                    raise ValueError(f"{set_name} is not a catalog or document of "
                                     f"{infobase.config.name}")
                created[set_name] = [infobase.create(set_name, obj, seeding=True)["Ref_Key"]
                                     for obj in objects]
            return created

    def objects(self, base: str, set_name: str) -> list[dict]:
        """Copies of the stored objects (catalog/document), rows (tabular section) or records
        (register, either name) of one set."""
        with self.lock:
            infobase = self.infobase(base)
            info = infobase.sets.get(set_name)
            if info is None:
                raise ValueError(f"{set_name} is not an entity set of {infobase.config.name}")
            if info.kind == "entity":
                return [_deep_copy(o) for o in infobase.objects[set_name].values()]
            if info.kind == "tabular":
                assert info.entity is not None
                assert info.section is not None
                return [{"Ref_Key": o["Ref_Key"], **row}
                        for o in infobase.objects[info.entity.name].values()
                        for row in o[info.section.name]]
            return [dict(r) for r in infobase.registers[info.owner].records()]

    def get_object(self, base: str, set_name: str, ref: str) -> dict | None:
        with self.lock:
            obj = self.infobase(base).get(set_name, ref)
            return None if obj is None else _deep_copy(obj)

    def unpublish(self, base: str, sets: list[str]) -> None:
        """Take objects out of the OData composition. A tabular-section or ``_RecordType``
        name stands for its object, as publishing is per metadata object in 1C."""
        with self.lock:
            infobase = self.infobase(base)
            infobase.unpublished.update(infobase.owner_object(s) for s in sets)

    def publish(self, base: str, sets: list[str] | None = None) -> None:
        with self.lock:
            infobase = self.infobase(base)
            if sets is None:
                infobase.unpublished.clear()
            else:
                infobase.unpublished.difference_update(infobase.owner_object(s) for s in sets)

    def add_movements(self, base: str, register: str, records: list[dict]) -> int:
        with self.lock:
            return self.infobase(base).add_records(register, records)

    def post_document(self, base: str, set_name: str, ref: str, *,
                      operational: bool = False) -> dict:
        with self.lock:
            return _deep_copy(self.infobase(base).post(set_name, ref, operational=operational))

    def reference(self, base: str) -> dict[str, dict[str, str]]:
        """Entity set → slug → Ref_Key of the base's reference objects."""
        infobase = self.infobase(base)
        result: dict[str, dict[str, str]] = {}
        for set_name, slug, _ in reference_slugs(infobase.config.name):
            result.setdefault(set_name, {})[slug] = reference_key(base, set_name, slug)
        return result

    def ref(self, base: str, set_name: str, slug: str) -> str:
        """The Ref_Key of one reference object, e.g. ``ref("sb", "Catalog_Валюты", "UAH")``."""
        return reference_key(base, set_name, slug)

    def seed_demo(self) -> dict[str, Any]:
        from .demo import seed_demo  # demo data is large; load it only when asked for

        with self.lock:
            return seed_demo(self)

    # --- the protocol -----------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        if len(request.raw_query) > MAX_QUERY_STRING:
            return wire.query_too_long_page()
        match = _ROOT.match(request.raw_path)
        if not match:
            return wire.not_found_page()
        base_segment = match.group(1)
        with self.lock:
            base = self.bases.get(unquote(base_segment))
            if base is None:
                return wire.not_found_page()
            query = request.query
            try:
                fmt = wire.negotiate(query, request.headers)
            except ODataError as exc:
                return wire.error_response(exc, None)
            if not _authenticated(base, request.headers.get("authorization", "")):
                return wire.error_response(
                    ODataError(401, "20", "Ідентифікацію користувача не виконано"), fmt,
                    {"WWW-Authenticate": 'Basic realm="1C"'})
            host = request.headers.get("host", "127.0.0.1")
            call = Call(request, base, f"http://{host}/{base_segment}/odata/standard.odata",
                        fmt, query)
            try:
                return route(call, match.group(2) or "")
            except ODataError as exc:
                return wire.error_response(exc, fmt)
            except QueryError as exc:
                return wire.error_response(ODataError(400, exc.code, exc.message), fmt)

    def error_response(self, status: int) -> Response:
        return wire.server_error_page(status)

    def too_many_requests(self) -> Response:
        response = wire.server_error_page(429)
        response.headers["Retry-After"] = "1"
        return response

    # --- control API ------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        with self.lock:
            return {"bases": {name: base.snapshot() for name, base in self.bases.items()}}

    def control(self, verb: str, body: Any) -> Response:
        handler = self._verbs().get(verb)
        if handler is None:
            return Response.json(404, {"error": f"unknown control verb {verb!r}"})
        try:
            return Response.json(200, handler(body or {}))
        except ODataError as exc:
            return Response.json(400, {"error": exc.message, "code": exc.code})
        except (ValueError, KeyError, TypeError) as exc:
            return Response.json(400, {"error": str(exc)})

    def _verbs(self) -> dict[str, Callable[[dict], Any]]:
        return {
            "base": lambda b: _base_summary(self.add_base(b["name"], b["configuration"],
                                                          b.get("users"))),
            "users": lambda b: self.set_users(b["base"], b["users"]) or {"ok": True},
            "seed": lambda b: {"created": self.seed(b["base"], b["entities"])},
            "objects": lambda b: {"value": self.objects(b["base"], b["set"])},
            "movements": lambda b: {"added": self.add_movements(b["base"], b["register"],
                                                                b["records"])},
            "publish": lambda b: self.publish(b["base"], b.get("sets")) or {"ok": True},
            "unpublish": lambda b: self.unpublish(b["base"], b["sets"]) or {"ok": True},
            "post": lambda b: self.post_document(b["base"], b["set"], b["ref"],
                                                 operational=bool(b.get("operational"))),
            "reference": lambda b: self.reference(b["base"]),
            "seed_demo": lambda b: self.seed_demo(),
        }


def _authenticated(base: Infobase, header: str) -> bool:
    """HTTP Basic with the credentials decoded as UTF-8 (Cyrillic logins, §1)."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token:
        return False
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    login, colon, password = decoded.partition(":")
    expected = base.users.get(login)
    return bool(colon) and expected is not None and hmac.compare_digest(
        expected.encode("utf-8"), password.encode("utf-8"))


def _base_summary(base: Infobase) -> dict[str, Any]:
    return {"name": base.name, "configuration": base.config.name, "users": sorted(base.users)}


def _deep_copy(obj: dict) -> dict:
    return {k: ([dict(r) for r in v] if isinstance(v, list) else v) for k, v in obj.items()}
