"""Checking a field mapping before it is saved (the admin) and before it is used (import).
Each problem is returned as (field name, message) so a form can show it next to the field."""

from __future__ import annotations

import uuid
from typing import Any

from django.utils.translation import gettext

from integration.bas.metadata import AttributeKind
from mappings.engine.normalize import NORMALIZERS
from mappings.engine.paths import PathError, parse_path
from mappings.models import MappingKind, ProfileAttribute
from mappings.sandbox import ExpressionError, compile_expression

REFERENCE_KINDS = {AttributeKind.REFERENCE.value, AttributeKind.COMPOSITE.value}


def mapping_errors(*, attribute: ProfileAttribute | None, kind: str, source_path: str,
                   directory: str, bas_entity_set: str, search_steps: Any, expression: str,
                   value: str) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    if attribute is None:
        return [("attribute", gettext("Choose the BAS attribute."))]
    is_line = bool(attribute.section)
    if source_path:
        errors += _path_errors("source_path", source_path, is_line)
    if kind == MappingKind.VALUE and not source_path:
        errors.append(("source_path", gettext("Give the path of the value in the order.")))
    if kind in (MappingKind.DIRECTORY, MappingKind.SEARCH, MappingKind.STATUS) \
            and attribute.kind not in REFERENCE_KINDS:
        errors.append(("kind", gettext(
            "%(attribute)s is not a reference (%(type)s); use a value, an expression or a fixed "
            "value.") % {"attribute": attribute.name, "type": attribute.edm_type}))
    if kind == MappingKind.DIRECTORY:
        if not directory:
            errors.append(("directory",
                           gettext("Choose the KeyCRM directory the id belongs to.")))
        if not source_path:
            errors.append(("source_path",
                           gettext("Give the path of the KeyCRM id, e.g. source_id.")))
    if kind == MappingKind.SEARCH:
        if not bas_entity_set:
            errors.append(("bas_entity_set", gettext("Name the BAS catalog to search, e.g. "
                                                     "Catalog_Контрагенты.")))
        errors += _steps_errors(search_steps, is_line)
        if directory and not source_path:
            errors.append(("source_path", gettext(
                "With a KeyCRM directory, give the path of its id (e.g. buyer.id) so the "
                "register is checked first.")))
    if kind == MappingKind.EXPRESSION:
        try:
            compile_expression(expression)
        except ExpressionError as exc:
            errors.append(("expression", str(exc)))
    if kind == MappingKind.CONSTANT and value and attribute.kind == AttributeKind.REFERENCE:
        try:
            uuid.UUID(value)
        except ValueError:
            errors.append(("value",
                           gettext("A reference takes the Ref_Key (GUID) of a BAS element.")))
    if attribute.kind == AttributeKind.COMPOSITE and kind == MappingKind.CONSTANT and value \
            and not bas_entity_set:
        errors.append(("bas_entity_set", gettext(
            "%(attribute)s can refer to several kinds of objects: name the one this value "
            "belongs to.") % {"attribute": attribute.name}))
    return errors


def _path_errors(field: str, path: str, is_line: bool) -> list[tuple[str, str]]:
    try:
        parsed = parse_path(path)
    except PathError as exc:
        return [(field, str(exc))]
    if parsed.per_line and not is_line:
        return [(field,
                 gettext("products[]… is read per line; this attribute is in the header."))]
    return []


def _steps_errors(steps: Any, is_line: bool) -> list[tuple[str, str]]:
    if steps in (None, ""):
        return []
    if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
        return [("search_steps",
                 gettext("Write a list of {\"field\", \"source\", \"normalize\"}."))]
    errors = []
    for number, step in enumerate(steps, start=1):
        if not step.get("field") or not step.get("source"):
            errors.append(("search_steps", gettext(
                "Step %(number)d needs a BAS field and a source path.") % {"number": number}))
            continue
        if step.get("normalize", "text") not in NORMALIZERS:
            errors.append(("search_steps", gettext(
                "Step %(number)d: normalize is one of %(choices)s.") % {
                "number": number, "choices": ", ".join(NORMALIZERS)}))
        errors += [("search_steps", gettext("Step %(number)d: %(problem)s") % {
                       "number": number, "problem": message})
                   for _, message in _path_errors("search_steps", step["source"], is_line)]
    return errors
