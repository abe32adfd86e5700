"""Writing the correspondence register: one place, so that every link records how it was
made."""

from __future__ import annotations

import datetime as dt
import uuid

from django.db import transaction
from django.utils.translation import gettext

from accounts.models import KeyCrmAccount
from mappings.models import Correspondence, CorrespondenceOrigin, DirectoryEntry, KeyCrmDirectory

NOMENCLATURE = "Catalog_Номенклатура"


def correspondence_set(*, account: KeyCrmAccount, directory: str, keycrm_id: int,
                       bas_entity_set: str, bas_ref: str | uuid.UUID,
                       bas_characteristic_ref: str | uuid.UUID | None = None,
                       bas_presentation: str = "", origin: str = CorrespondenceOrigin.MANUAL,
                       note: str = "", keycrm_updated_at: dt.datetime | None = None,
                       ) -> Correspondence:
    """Link a KeyCRM element to a BAS element (replacing an earlier link). Idempotent."""
    link, _ = Correspondence.objects.update_or_create(
        account=account, directory=directory, keycrm_id=keycrm_id,
        defaults={"bas_entity_set": bas_entity_set, "bas_ref": bas_ref,
                  "bas_characteristic_ref": bas_characteristic_ref or None,
                  "bas_presentation": bas_presentation[:255], "origin": origin,
                  "note": note[:500], "keycrm_updated_at": keycrm_updated_at})
    return link


@transaction.atomic
def directory_entry_link_item(*, entry: DirectoryEntry, nomenclature_ref: uuid.UUID | None,
                              characteristic_ref: uuid.UUID | None = None,
                              presentation: str = "") -> Correspondence | None:
    """The "Item" of a mirrored product or offer: its BAS nomenclature (and characteristic).
    An empty item removes the link."""
    if entry.directory not in (KeyCrmDirectory.PRODUCT, KeyCrmDirectory.OFFER):
        raise ValueError(f"only products and offers have an item, not {entry.directory}")
    if nomenclature_ref is None:
        Correspondence.objects.filter(account=entry.account, directory=entry.directory,
                                      keycrm_id=entry.keycrm_id).delete()
        return None
    return correspondence_set(
        account=entry.account, directory=entry.directory, keycrm_id=entry.keycrm_id,
        bas_entity_set=NOMENCLATURE, bas_ref=nomenclature_ref,
        bas_characteristic_ref=characteristic_ref,
        bas_presentation=presentation or entry.name, note=gettext("set on the mirror row"))
