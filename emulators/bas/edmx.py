"""``$metadata``: the EDMX (OData v3) document of the published part of one infobase, in the
shape the platform writes it — one ``EntityType`` per set, ``ComplexType``s for tabular-section
rows and virtual-table results, and the bound ``FunctionImport``s (Post/Unpost, Balance/
Turnovers, SliceLast/SliceFirst) whose ``EntitySetPath`` tells a client where to call them.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from .schema import NAMESPACE, EntityDef, Prop, RegisterDef, row_props
from .store import Infobase

_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<edmx:Edmx xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx" Version="1.0">\n'
    '<edmx:DataServices m:DataServiceVersion="3.0" '
    'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata">\n'
    f'<Schema Namespace="{NAMESPACE}" xmlns="http://schemas.microsoft.com/ado/2009/11/edm">\n'
)
_TAIL = "</Schema>\n</edmx:DataServices>\n</edmx:Edmx>\n"


def _property(prop: Prop) -> str:
    nullable = "true" if prop.nullable else "false"
    return f"<Property Name={quoteattr(prop.name)} Type=\"{prop.edm}\" Nullable=\"{nullable}\"/>"


def _collection(name: str, row_type: str) -> str:
    collection = quoteattr(f"Collection({NAMESPACE}.{row_type})")
    return f'<Property Name={quoteattr(name)} Type={collection} Nullable="false"/>'


def _type(tag: str, name: str, props: list[str], key: list[str] | None = None) -> list[str]:
    lines = [f"<{tag} Name={quoteattr(name)}>"]
    if key:
        refs = "".join(f"<PropertyRef Name={quoteattr(k)}/>" for k in key)
        lines.append(f"<Key>{refs}</Key>")
    lines += props
    lines.append(f"</{tag}>")
    return lines


def _entity_types(entity: EntityDef) -> list[str]:
    props = [_property(p) for p in entity.props()]
    props += [_collection(ts.name, f"{entity.name}_{ts.name}_RowType") for ts in entity.tabular]
    lines = _type("EntityType", entity.name, props, ["Ref_Key"])
    for section in entity.tabular:
        set_name = f"{entity.name}_{section.name}"
        lines += _type("EntityType", set_name,
                       [_property(p) for p in row_props(section, with_owner=True)],
                       ["Ref_Key", "LineNumber"])
        lines += _type("ComplexType", f"{set_name}_RowType",
                       [_property(p) for p in row_props(section, with_owner=False)])
    return lines


def _register_types(register: RegisterDef) -> list[str]:
    name = register.name
    records = [_property(p) for p in register.record_props()]
    if register.subordinate:
        lines = _type("EntityType", name,
                      [_property(p) for p in register.recorder_props()]
                      + [_collection("RecordSet", f"{name}_RowType")],
                      register.key_props())
        lines += _type("ComplexType", f"{name}_RowType", records)
        lines += _type("EntityType", f"{name}_RecordType", records,
                       [*register.key_props(), "LineNumber"])
    else:
        lines = _type("EntityType", name, records, register.key_props())
    dims = [_property(p) for p in register.dimension_props()]
    amounts = [r.name for r in register.resources if r.kind == "double"]
    if register.kind == "accumulation":
        lines += _type("ComplexType", f"{name}_Balance", dims + [
            f'<Property Name={quoteattr(f"{r}Balance")} Type="Edm.Double" Nullable="true"/>'
            for r in amounts])
        lines += _type("ComplexType", f"{name}_Turnover", dims + [
            f'<Property Name={quoteattr(f"{r}{kind}")} Type="Edm.Double" Nullable="true"/>'
            for r in amounts for kind in ("Receipt", "Expense", "Turnover")])
    elif register.periodic:
        slice_props = [_property(p) for p in register.record_props()
                       if p.name not in ("LineNumber", "Active")]
        for function in ("SliceLast", "SliceFirst"):
            lines += _type("ComplexType", f"{name}_{function}", slice_props)
    return lines


def _function(name: str, bound: str, binding_type: str, method: str, *,
              returns: str | None = None, params: tuple[tuple[str, str], ...] = ()) -> list[str]:
    attrs = f"Name={quoteattr(name)}"
    if returns:
        attrs += f" ReturnType={quoteattr(returns)}"
    side_effects = "true" if method == "POST" else "false"
    lines = [f'<FunctionImport {attrs} IsBindable="true" IsSideEffecting="{side_effects}" '
             f'm:HttpMethod="{method}" EntitySetPath={quoteattr(bound)}>',
             f'<Parameter Name="bindingParameter" Type={quoteattr(binding_type)}/>']
    lines += [f'<Parameter Name={quoteattr(p)} Type="{t}" Nullable="true"/>' for p, t in params]
    lines.append("</FunctionImport>")
    return lines


def _functions(base: Infobase) -> list[str]:
    lines: list[str] = []
    for entity in base.config.entities.values():
        if entity.is_document and base.is_published(entity.name):
            own = f"{NAMESPACE}.{entity.name}"
            lines += _function("Post", entity.name, own, "POST",
                               params=(("PostingModeOperational", "Edm.Boolean"),))
            lines += _function("Unpost", entity.name, own, "POST")
    for register in base.config.registers.values():
        if not base.is_published(register.name):
            continue
        name = register.name
        if register.kind == "accumulation":
            binding = f"Collection({NAMESPACE}.{name})"
            lines += _function("Balance", name, binding, "GET",
                               returns=f"Collection({NAMESPACE}.{name}_Balance)",
                               params=(("Period", "Edm.DateTime"), ("Condition", "Edm.String"),
                                       ("Dimensions", "Edm.String")))
            lines += _function("Turnovers", name, binding, "GET",
                               returns=f"Collection({NAMESPACE}.{name}_Turnover)",
                               params=(("StartPeriod", "Edm.DateTime"),
                                       ("EndPeriod", "Edm.DateTime"),
                                       ("Condition", "Edm.String"),
                                       ("Dimensions", "Edm.String")))
        elif register.periodic:
            # Recorder-subordinate registers bind their slices to the _RecordType set (§6).
            bound = f"{name}_RecordType" if register.subordinate else name
            for function in ("SliceLast", "SliceFirst"):
                lines += _function(function, bound, f"Collection({NAMESPACE}.{bound})", "GET",
                                   returns=f"Collection({NAMESPACE}.{name}_{function})",
                                   params=(("Period", "Edm.DateTime"),
                                           ("Condition", "Edm.String")))
    return lines


def build_metadata(base: Infobase) -> str:
    lines: list[str] = []
    for entity in base.config.entities.values():
        if base.is_published(entity.name):
            lines += _entity_types(entity)
    for register in base.config.registers.values():
        if base.is_published(register.name):
            lines += _register_types(register)
    lines.append(f'<EntityContainer Name="{NAMESPACE}" m:IsDefaultEntityContainer="true">')
    lines += [f"<EntitySet Name={quoteattr(info.name)} "
              f"EntityType={quoteattr(f'{NAMESPACE}.{info.name}')}/>"
              for info in base.published_sets()]
    lines += _functions(base)
    lines.append("</EntityContainer>")
    return _HEAD + "\n".join(lines) + "\n" + _TAIL
