"""Reading and writing ``CatalogueState`` in bulk: a catalogue of thousands of elements is
compared and recorded in a few queries, not one per element."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from accounts.models import KeyCrmAccount
from catalogue.models import CatalogueState
from mappings.models import Correspondence, CorrespondenceOrigin

_STATE_FIELDS = ["bas_ref", "bas_characteristic_ref", "keycrm_id", "sku", "fingerprint"]


def fingerprint(value: Any) -> str:
    """A stable digest of what is written (dict key order does not matter)."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def states_by_key(*, account: KeyCrmAccount, kind: str) -> dict[str, CatalogueState]:
    return {s.key: s for s in CatalogueState.objects.filter(account=account, kind=kind)}


def states_save(*, account: KeyCrmAccount, kind: str, rows: Iterable[dict[str, Any]]) -> int:
    """Insert or update states by (account, kind, key). Each row: ``key`` and any of
    bas_ref, bas_characteristic_ref, keycrm_id, sku, fingerprint."""
    objects = [CatalogueState(account=account, kind=kind, **row) for row in rows]
    if not objects:
        return 0
    CatalogueState.objects.bulk_create(
        objects, batch_size=500, update_conflicts=True, unique_fields=["account", "kind", "key"],
        update_fields=[*_STATE_FIELDS, "updated_at"])
    return len(objects)


@dataclasses.dataclass(frozen=True)
class Link:
    directory: str
    keycrm_id: int
    bas_entity_set: str
    bas_ref: str
    bas_characteristic_ref: str | None
    presentation: str


def links_save(*, account: KeyCrmAccount, links: Iterable[Link], note: str) -> int:
    """Correspondence rows for created or found catalogue elements, in bulk (replacing older
    links of the same KeyCRM elements)."""
    objects = [Correspondence(
        account=account, directory=link.directory, keycrm_id=link.keycrm_id,
        bas_entity_set=link.bas_entity_set, bas_ref=link.bas_ref,
        bas_characteristic_ref=link.bas_characteristic_ref,
        bas_presentation=link.presentation[:255], origin=CorrespondenceOrigin.CREATED,
        note=note[:500]) for link in links]
    if not objects:
        return 0
    Correspondence.objects.bulk_create(
        objects, batch_size=500, update_conflicts=True,
        unique_fields=["account", "directory", "keycrm_id"],
        update_fields=["bas_entity_set", "bas_ref", "bas_characteristic_ref",
                       "bas_presentation", "origin", "note", "updated_at"])
    return len(objects)
