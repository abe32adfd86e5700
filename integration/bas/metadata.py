"""1C's ``$metadata`` (EDMX, OData v3) read into plain data.

What the portal needs from it: which entity sets exist, each set's properties with their types,
which properties are tabular sections (and their columns), which are references (``X_Key``) or
composite references (``X`` + ``X_Type``), and which bound functions exist for which set
(``Post``, ``Balance``, ``SliceLast`` — the last on either the register or its ``_RecordType``).
"""

from __future__ import annotations

import dataclasses
import enum
import xml.etree.ElementTree as ET
from collections.abc import Iterator

from defusedxml.ElementTree import ParseError, fromstring
from django.utils.translation import gettext

EDMX = "{http://schemas.microsoft.com/ado/2007/06/edmx}"
EDM_NAMESPACES = (
    "{http://schemas.microsoft.com/ado/2009/11/edm}",
    "{http://schemas.microsoft.com/ado/2008/09/edm}",
    "{http://schemas.microsoft.com/ado/2006/04/edm}",
)
M = "{http://schemas.microsoft.com/ado/2007/08/dataservices/metadata}"


class MetadataError(Exception):
    pass


class AttributeKind(enum.StrEnum):
    VALUE = "value"  # string, number, date, boolean
    REFERENCE = "reference"  # X_Key: a GUID of one known type
    COMPOSITE = "composite"  # X + X_Type: a reference of one of several types
    TABULAR = "tabular"  # a tabular section: Collection(…_RowType)
    STANDARD = "standard"  # Ref_Key, DataVersion, Number…: written by BAS itself


STANDARD_PROPERTIES = frozenset(
    {"Ref_Key", "DataVersion", "DeletionMark", "Predefined", "PredefinedDataName", "Posted",
     "LineNumber", "IsFolder"}
)


@dataclasses.dataclass(frozen=True)
class Property:
    name: str
    type: str  # "Edm.String", "Edm.Guid", "Collection(StandardODATA.X_RowType)", …
    nullable: bool = True

    @property
    def collection_of(self) -> str | None:
        if self.type.startswith("Collection(") and self.type.endswith(")"):
            return self.type[len("Collection(") : -1].split(".", 1)[-1]
        return None


@dataclasses.dataclass(frozen=True)
class Attribute:
    """A property as a person mapping fields sees it."""

    name: str  # what to write: "Контрагент_Key", "Комментарий", "СостояниеЗаказа"
    type: str
    kind: AttributeKind


@dataclasses.dataclass
class StructuredType:
    name: str
    properties: dict[str, Property]
    key: tuple[str, ...] = ()

    def attributes(self) -> Iterator[Attribute]:
        for prop in self.properties.values():
            if prop.name.endswith("_Type") and prop.name[: -len("_Type")] in self.properties:
                continue  # the dispatch half of a composite, reported with its value
            if prop.collection_of:
                kind = AttributeKind.TABULAR
            elif prop.name in STANDARD_PROPERTIES:
                kind = AttributeKind.STANDARD
            elif f"{prop.name}_Type" in self.properties:
                kind = AttributeKind.COMPOSITE
            elif prop.name.endswith("_Key") and prop.type == "Edm.Guid":
                kind = AttributeKind.REFERENCE
            else:
                kind = AttributeKind.VALUE
            yield Attribute(prop.name, prop.type, kind)


@dataclasses.dataclass(frozen=True)
class FunctionImport:
    name: str
    bound_to: str | None  # the entity set it is bound to (EntitySetPath / binding parameter)
    return_type: str | None
    http_method: str
    parameters: tuple[tuple[str, str], ...]


@dataclasses.dataclass
class Metadata:
    entity_sets: dict[str, StructuredType]  # entity set name → its entity type
    complex_types: dict[str, StructuredType]
    functions: list[FunctionImport]

    def has(self, entity_set: str) -> bool:
        return entity_set in self.entity_sets

    def entity_type(self, entity_set: str) -> StructuredType:
        try:
            return self.entity_sets[entity_set]
        except KeyError:
            raise MetadataError(
                gettext("“%(set)s” is not published by this base (not in $metadata)")
                % {"set": entity_set}) from None

    def tabular_sections(self, entity_set: str) -> dict[str, StructuredType]:
        """Tabular section name → its row type (columns)."""
        sections = {}
        for prop in self.entity_type(entity_set).properties.values():
            row_type = prop.collection_of
            if row_type and row_type in self.complex_types:
                sections[prop.name] = self.complex_types[row_type]
        return sections

    def functions_for(self, entity_set: str) -> set[str]:
        return {f.name for f in self.functions if f.bound_to == entity_set}

    def function_binding(self, register: str, function: str) -> str | None:
        """Which set ``function`` is bound to for this register: the register itself or its
        ``_RecordType`` set (recorder-subordinate registers, bas-odata.md §6); None if neither."""
        for candidate in (register, f"{register}_RecordType"):
            if function in self.functions_for(candidate):
                return candidate
        return None

    def sets_with_prefix(self, prefix: str) -> list[str]:
        return sorted(name for name in self.entity_sets if name.startswith(prefix))


def parse_metadata(xml: bytes | str) -> Metadata:
    """Parse EDMX text. Raises MetadataError when it is not EDMX (e.g. an HTML page)."""
    try:
        root = fromstring(xml)  # defused: no entity bombs from a server's answer
    except ParseError as exc:
        raise MetadataError(gettext("$metadata is not valid XML: %(error)s")
                            % {"error": exc}) from exc
    if root.tag != f"{EDMX}Edmx":
        raise MetadataError(gettext("$metadata is not EDMX (root element %(tag)r)")
                            % {"tag": root.tag})
    entity_types: dict[str, StructuredType] = {}
    complex_types: dict[str, StructuredType] = {}
    entity_sets: dict[str, StructuredType] = {}
    functions: list[FunctionImport] = []
    for schema in _children(root.iter(), "Schema"):
        for node in _children(schema, "EntityType"):
            entity_types[node.get("Name", "")] = _structured(node)
        for node in _children(schema, "ComplexType"):
            complex_types[node.get("Name", "")] = _structured(node)
        for container in _children(schema, "EntityContainer"):
            for node in _children(container, "EntitySet"):
                type_name = node.get("EntityType", "").split(".", 1)[-1]
                if type_name in entity_types:
                    entity_sets[node.get("Name", "")] = entity_types[type_name]
            for node in _children(container, "FunctionImport"):
                functions.append(_function(node))
    return Metadata(entity_sets=entity_sets, complex_types=complex_types, functions=functions)


def _children(parent: ET.Element | Iterator[ET.Element], local: str) -> Iterator[ET.Element]:
    nodes = parent if isinstance(parent, Iterator) else iter(parent)
    names = {ns + local for ns in EDM_NAMESPACES}
    return (node for node in nodes if node.tag in names)


def _structured(node: ET.Element) -> StructuredType:
    properties = {
        p.get("Name", ""): Property(p.get("Name", ""), p.get("Type", ""),
                                    p.get("Nullable", "true") != "false")
        for p in _children(node, "Property")
    }
    key: tuple[str, ...] = ()
    for key_node in _children(node, "Key"):
        key = tuple(ref.get("Name", "") for ref in _children(key_node, "PropertyRef"))
    return StructuredType(name=node.get("Name", ""), properties=properties, key=key)


def _function(node: ET.Element) -> FunctionImport:
    parameters = tuple(
        (p.get("Name", ""), p.get("Type", "")) for p in _children(node, "Parameter")
    )
    bound_to = node.get("EntitySetPath")
    if not bound_to:
        # Some servers name the binding through a "bindingParameter" of the set's type.
        for name, type_ in parameters:
            if name == "bindingParameter":
                bound_to = type_.removeprefix("Collection(").removesuffix(")").split(".", 1)[-1]
    return FunctionImport(
        name=node.get("Name", ""),
        bound_to=bound_to,
        return_type=node.get("ReturnType"),
        http_method=node.get(f"{M}HttpMethod", "GET"),
        parameters=tuple(p for p in parameters if p[0] != "bindingParameter"),
    )
