"""Paths into a KeyCRM order: ``buyer.full_name``, ``products[].price_sold`` (per line),
``products[0].sku``, ``custom_fields[uuid=OR_1012].value``, ``shipping.delivery_service.name``.

A path is checked when a mapping is saved (``parse_path``) and read with ``extract``; a missing
key anywhere along it reads as None, never as an error, because KeyCRM leaves out relations
that are empty.
"""

from __future__ import annotations

import dataclasses
import re
from functools import lru_cache
from typing import Any

from django.utils.translation import gettext

LINES = "products"  # the order's lines; ``products[].x`` is read from the current line
_SEGMENT = re.compile(r"^(?P<name>[^\W\d]\w*)(?:\[(?P<selector>[^\]]*)\])?$")


class PathError(ValueError):
    """A path that cannot be read, with the reason in words."""


@dataclasses.dataclass(frozen=True)
class Segment:
    name: str
    index: int | None = None  # [0]
    match: tuple[str, str] | None = None  # [uuid=OR_1012]
    each: bool = False  # []


@dataclasses.dataclass(frozen=True)
class Path:
    text: str
    segments: tuple[Segment, ...]

    @property
    def per_line(self) -> bool:
        return self.segments[0].each


@lru_cache(maxsize=2048)
def parse_path(text: str) -> Path:
    text = text.strip()
    if not text:
        raise PathError(gettext("the path is empty"))
    segments = []
    for position, part in enumerate(text.split(".")):
        found = _SEGMENT.match(part)
        if not found:
            raise PathError(gettext("“%(part)s” in “%(path)s” is not a field name, name[0], "
                                    "name[key=value] or products[]")
                            % {"part": part, "path": text})
        name, selector = found["name"], found["selector"]
        if name.startswith("_"):
            raise PathError(gettext("“%(name)s”: names starting with _ are not order fields")
                            % {"name": name})
        if selector is None:
            segments.append(Segment(name))
        elif selector == "":
            if position != 0 or name != LINES:
                raise PathError(gettext("“%(part)s”: only the first segment products[] may "
                                        "mean “the current line”") % {"part": part})
            segments.append(Segment(name, each=True))
        elif selector.isdigit():
            segments.append(Segment(name, index=int(selector)))
        elif "=" in selector:
            key, _, value = selector.partition("=")
            if not key.strip() or not value.strip():
                raise PathError(gettext("“%(part)s”: write name[key=value], e.g. "
                                        "custom_fields[uuid=OR_1012]") % {"part": part})
            segments.append(Segment(name, match=(key.strip(), value.strip())))
        else:
            raise PathError(gettext("“%(part)s”: a selector is a number or key=value")
                            % {"part": part})
    return Path(text, tuple(segments))


def extract(order: Any, path: str | Path, *, line: Any = None) -> Any:
    """The value at ``path``; None where anything along it is missing. A per-line path
    (``products[]…``) needs ``line``."""
    parsed = parse_path(path) if isinstance(path, str) else path
    segments = parsed.segments
    if parsed.per_line:
        if line is None:
            raise PathError(gettext("“%(path)s” is read per line, but this attribute is in "
                                    "the document header") % {"path": parsed.text})
        current, segments = line, segments[1:]
    else:
        current = order
    for segment in segments:
        current = _step(current, segment)
        if current is None:
            return None
    return current


def _step(current: Any, segment: Segment) -> Any:
    if not isinstance(current, dict):
        return None
    value = current.get(segment.name)
    if segment.index is not None:
        return value[segment.index] if isinstance(value, list) and \
            -len(value) <= segment.index < len(value) else None
    if segment.match is not None:
        key, wanted = segment.match
        if not isinstance(value, list):
            return None
        return next((item for item in value
                     if isinstance(item, dict) and str(item.get(key)) == wanted), None)
    return value


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}
