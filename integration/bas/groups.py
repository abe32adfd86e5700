"""The nomenclature group tree of a base, read once and extended where a path is missing.

Groups are folders of ``Catalog_Номенклатура`` (``IsFolder``, ``Parent_Key``): a path of names
from the root is found by (parent, name) and created level by level where absent, each create
guarded by the same search (``verify_filter``) in case an answer is lost."""

from __future__ import annotations

from integration.bas import literals
from integration.bas.client import BasClient

NOMENCLATURE = "Catalog_Номенклатура"


class GroupTree:
    """The folders of the nomenclature, by (parent Ref_Key, name)."""

    def __init__(self, bas: BasClient, *, entity_set: str = NOMENCLATURE) -> None:
        self.bas = bas
        self.entity_set = entity_set
        self.by_parent_name: dict[tuple[str, str], str] = {}
        self.loaded = False
        self.created = 0

    def load(self) -> None:
        for row in self.bas.iterate(self.entity_set, filter="IsFolder eq true",
                                    select=["Ref_Key", "Parent_Key", "Description"]):
            self.by_parent_name.setdefault(
                (row.get("Parent_Key") or literals.EMPTY_REF, row.get("Description") or ""),
                row["Ref_Key"])
        self.loaded = True

    def find(self, *, parent: str, name: str) -> str | None:
        if not self.loaded:
            self.load()
        return self.by_parent_name.get((parent, name))

    def ensure(self, *, parent: str, name: str) -> str:
        """The group ``name`` under ``parent`` (EMPTY_REF: the root), created when missing."""
        found = self.find(parent=parent, name=name)
        if found:
            return found
        condition = (f"IsFolder eq true and Parent_Key eq {literals.guid(parent)} and "
                     f"Description eq {literals.string(name)}")
        ref = self.bas.create(self.entity_set, {"IsFolder": True, "Description": name,
                                                "Parent_Key": parent},
                              verify_filter=condition)["Ref_Key"]
        self.by_parent_name[(parent, name)] = ref
        self.created += 1
        return ref

    def ensure_path(self, path: tuple[str, ...]) -> str:
        parent = literals.EMPTY_REF
        for name in path:
            parent = self.ensure(parent=parent, name=name)
        return parent
