"""Where the engine looks things up: the correspondence registers (database) and BAS catalogs
(read-only OData queries). One ``Resolver`` serves one plan; it caches what it has read."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext

from accounts.models import KeyCrmAccount
from integration.bas.client import BasClient
from mappings.models import (
    Correspondence,
    DirectoryEntry,
    KeyCrmDirectory,
    StatusCorrespondence,
)


class Resolver:
    def __init__(self, *, account: KeyCrmAccount, bas: BasClient | None) -> None:
        self.account = account
        self.bas = bas
        self._correspondences: dict[tuple[str, int], Correspondence | None] = {}
        self._statuses: dict[int, StatusCorrespondence] | None = None
        self._searches: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._names: dict[tuple[str, int], str] = {}

    def correspondence(self, directory: str, keycrm_id: int) -> Correspondence | None:
        key = (directory, keycrm_id)
        if key not in self._correspondences:
            self._correspondences[key] = Correspondence.objects.filter(
                account=self.account, directory=directory, keycrm_id=keycrm_id).first()
        return self._correspondences[key]

    def prefetch(self, directory: str, keycrm_ids: set[int]) -> None:
        """Read the register for many ids in one query (the lines of an order)."""
        missing = {i for i in keycrm_ids if (directory, i) not in self._correspondences}
        if not missing:
            return
        found = {c.keycrm_id: c for c in Correspondence.objects.filter(
            account=self.account, directory=directory, keycrm_id__in=missing)}
        for keycrm_id in missing:
            self._correspondences[(directory, keycrm_id)] = found.get(keycrm_id)

    def status(self, keycrm_status_id: int) -> StatusCorrespondence | None:
        if self._statuses is None:
            self._statuses = {s.keycrm_status_id: s for s in
                              StatusCorrespondence.objects.filter(account=self.account)}
        return self._statuses.get(keycrm_status_id)

    def keycrm_name(self, directory: str, keycrm_id: int) -> str:
        """The element's name from the mirror, for messages; empty if never synced."""
        key = (directory, keycrm_id)
        if key not in self._names:
            self._names[key] = DirectoryEntry.objects.filter(
                account=self.account, directory=directory, keycrm_id=keycrm_id,
            ).values_list("name", flat=True).first() or ""
        return self._names[key]

    def category_path(self, product_id: int) -> list[str]:
        """Names of the product's KeyCRM category and its parents, root first (from the
        mirror); empty when the product or its category was never synced."""
        product = DirectoryEntry.objects.filter(
            account=self.account, directory=KeyCrmDirectory.PRODUCT, keycrm_id=product_id,
        ).values_list("data", flat=True).first()
        category_id = (product or {}).get("category_id")
        categories = {row.keycrm_id: row for row in DirectoryEntry.objects.filter(
            account=self.account, directory=KeyCrmDirectory.CATEGORY)}
        path: list[str] = []
        while category_id is not None and category_id in categories and len(path) < 20:
            category = categories[category_id]
            path.insert(0, category.name)
            category_id = category.parent_keycrm_id
        return path

    def search(self, entity_set: str, filter_text: str) -> list[dict[str, Any]]:
        """At most two matches: enough to tell none, one and several apart."""
        if self.bas is None:
            raise LookupError(gettext("no BAS connection is set for this account"))
        key = (entity_set, filter_text)
        if key not in self._searches:
            self._searches[key] = self.bas.list(entity_set, filter=filter_text, top=2,
                                                select=["Ref_Key", "Description"])
        return self._searches[key]
