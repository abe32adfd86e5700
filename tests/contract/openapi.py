"""Validation of KeyCRM exchanges against the vendor's OpenAPI document.

The document has known defects (keycrm-api.md §10). They are corrected here, in memory, each
with its reason, before anything is validated; nothing else about the document is changed:
* response-code keys are YAML integers → strings;
* ``security: {}`` → ``[]``; a boolean ``required`` on a property → dropped;
* ``custom_fields[].value`` is typed string although select fields take arrays (and numbers and
  booleans occur) → any JSON value;
* ``POST /products/categories`` requires ``full_name`` where the field is ``name`` → ``name``;
* ``POST /products/{productId}/offers`` requires a top-level ``name`` where the only property
  is ``offers`` (the same slip, not listed in keycrm-api.md §10) → ``offers``;
* live KeyCRM returns null for many fields typed non-nullable → responses (only responses) are
  validated with every schema nullable.
Requests — what *we* send — are validated against the corrected document as it stands.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml
from openapi_schema_validator import OAS30Validator

DEFAULT_SPEC = Path(__file__).resolve().parents[3] / "shared" / "reference" / "keycrm-openapi.yaml"
# KeyCRM documents none of these codes but answers with them (keycrm-api.md §1.2, §1.8).
UNDOCUMENTED_ERRORS = {400, 404, 422, 429}


def spec_path() -> Path:
    return Path(os.environ.get("KEYCRM_OPENAPI_SPEC", DEFAULT_SPEC))


@dataclasses.dataclass
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    parameters: list[dict[str, Any]]
    request_schema: dict[str, Any] | None
    request_required: bool
    responses: dict[str, dict[str, Any] | None]  # status → schema (None: no body documented)


class Contract:
    def __init__(self, path: Path) -> None:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        fixed = _fix_document(raw)
        self.base_path = "/v1"
        self.operations = _operations(fixed)

    def find(self, method: str, path: str) -> Operation | None:
        relative = path.removeprefix(self.base_path) or "/"
        # Literal paths win over templated ones (/order/status before /order/{orderId}).
        matches = [op for op in self.operations
                   if op.method == method and op.pattern.fullmatch(relative)]
        matches.sort(key=lambda op: op.template.count("{"))
        return matches[0] if matches else None

    def check_request(self, method: str, path: str, raw_query: str, body: bytes) -> list[str]:
        where = f"{method} {path}"
        operation = self.find(method, path)
        if operation is None:
            return [f"{where}: not an operation of the OpenAPI document"]
        problems: list[str] = []
        declared = {p["name"]: p for p in operation.parameters if p.get("in") == "query"}
        deep_objects = {n for n, p in declared.items() if p.get("style") == "deepObject"}
        seen: set[str] = set()
        for name, value in _query_pairs(raw_query):
            base = name.split("[", 1)[0]
            if "[" in name and base in deep_objects:
                seen.add(base)
                continue
            param = declared.get(name)
            if param is None:
                problems.append(f"{where}: query parameter {name!r} is not documented")
                continue
            seen.add(name)
            problems += _check_value(where, f"query {name}", param.get("schema", {}), value)
        for name, param in declared.items():
            if param.get("required") and name not in seen:
                problems.append(f"{where}: required query parameter {name!r} missing")
        path_values = operation.pattern.fullmatch(path.removeprefix(self.base_path))
        for param in operation.parameters:
            if param.get("in") == "path" and path_values:
                value = path_values.group(param["name"])
                problems += _check_value(where, f"path {param['name']}",
                                         param.get("schema", {}), value)
        if body:
            if operation.request_schema is None:
                problems.append(f"{where}: sends a body where none is documented")
            else:
                problems += _schema_errors(where, "request body", operation.request_schema,
                                           json.loads(body))
        elif operation.request_required:
            problems.append(f"{where}: the documented request body is missing")
        return problems

    def check_response(self, method: str, path: str, status: int, content_type: str,
                       body: bytes) -> list[str]:
        where = f"{method} {path} → {status}"
        operation = self.find(method, path)
        if operation is None:
            return []  # reported on the request side
        key = str(status)
        if key not in operation.responses:
            if status in UNDOCUMENTED_ERRORS or status >= 500:
                return []
            return [f"{where}: status not documented (documented: "
                    f"{', '.join(operation.responses)})"]
        schema = operation.responses[key]
        if schema is None or not body:
            return []
        if "json" not in content_type:
            return [f"{where}: body is {content_type!r}, not JSON"]
        return _schema_errors(where, "response body", schema, json.loads(body))


# --- the document's defects ---------------------------------------------------------------------
def _fix_document(raw: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(raw)
    _walk_fix(doc)
    categories = doc["paths"]["/products/categories"]["post"]["requestBody"]
    schema = categories["content"]["application/json"]["schema"]
    schema["required"] = ["name" if r == "full_name" else r for r in schema.get("required", [])]
    offers = doc["paths"]["/products/{productId}/offers"]["post"]["requestBody"]
    offers["content"]["application/json"]["schema"]["required"] = ["offers"]
    return doc


def _walk_fix(node: Any) -> None:
    if isinstance(node, dict):
        if "responses" in node and isinstance(node["responses"], dict):
            node["responses"] = {str(k): v for k, v in node["responses"].items()}
        if node.get("security") == {}:
            node["security"] = []
        for prop in (node.get("properties") or {}).values():
            if isinstance(prop, dict) and isinstance(prop.get("required"), bool):
                del prop["required"]
        if "custom_fields" in (node.get("properties") or {}):
            field = node["properties"]["custom_fields"]
            items = field.get("items") if isinstance(field, dict) else None
            if isinstance(items, dict) and "value" in (items.get("properties") or {}):
                items["properties"]["value"] = {}  # any JSON value
        for value in node.values():
            _walk_fix(value)
    elif isinstance(node, list):
        for value in node:
            _walk_fix(value)


def _resolve(node: Any, doc: dict[str, Any], stack: tuple[str, ...] = ()) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            if ref in stack:
                return {}  # a cycle: accept anything below this point
            target: Any = doc
            for part in ref[2:].split("/"):
                target = target[part]
            return _resolve(target, doc, (*stack, ref))
        return {k: _resolve(v, doc, stack) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, doc, stack) for v in node]
    return node


def _nullable_everywhere(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _nullable_everywhere(v) for k, v in node.items()}
        if "type" in out or "properties" in out or "allOf" in out:
            out["nullable"] = True
        return out
    if isinstance(node, list):
        return [_nullable_everywhere(v) for v in node]
    return node


def _operations(doc: dict[str, Any]) -> list[Operation]:
    operations = []
    for template, item in doc["paths"].items():
        shared = item.get("parameters", [])
        for method, op in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            op = _resolve(op, doc)
            body = op.get("requestBody") or {}
            request_schema = (body.get("content", {}).get("application/json") or {}).get("schema")
            responses = {}
            for status, response in op.get("responses", {}).items():
                schema = ((response or {}).get("content", {}).get("application/json")
                          or {}).get("schema")
                responses[str(status)] = _nullable_everywhere(schema) if schema else None
            pattern = re.compile(
                re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)))
            operations.append(Operation(
                method=method.upper(), template=template, pattern=pattern,
                parameters=_resolve(shared, doc) + op.get("parameters", []),
                request_schema=request_schema, request_required=bool(body.get("required")),
                responses=responses,
            ))
    return operations


# --- checks ---------------------------------------------------------------------------------------
def _query_pairs(raw_query: str) -> list[tuple[str, str]]:
    pairs = []
    for part in raw_query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote(name), unquote(value)))
    return pairs


def _check_value(where: str, what: str, schema: dict[str, Any], value: str) -> list[str]:
    kind = schema.get("type")
    instance: Any = value
    try:
        if kind == "integer":
            instance = int(value)
        elif kind == "number":
            instance = float(value)
        elif kind == "boolean":
            if value not in {"true", "false", "1", "0"}:
                return [f"{where}: {what}={value!r} is not a boolean"]
            return []
    except ValueError:
        return [f"{where}: {what}={value!r} is not {kind}"]
    return _schema_errors(where, what, schema, instance)


def _schema_errors(where: str, what: str, schema: dict[str, Any], instance: Any) -> list[str]:
    validator = OAS30Validator(schema)
    return [
        f"{where}: {what} at /{'/'.join(map(str, error.absolute_path))}: {error.message[:200]}"
        for error in validator.iter_errors(instance)
    ]
