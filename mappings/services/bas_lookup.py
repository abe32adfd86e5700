"""Elements of a BAS catalog read live, for picking a reference in the admin."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext

from accounts.models import KeyCrmAccount
from integration.bas import literals
from integration.bas.client import BasError
from mappings.services.profiles import ProfileError, bas_client_for

PICK_LIMIT = 50


def bas_elements(*, account: KeyCrmAccount, entity_set: str, text: str = "",
                 limit: int = PICK_LIMIT) -> list[dict[str, Any]]:
    """Up to ``limit`` elements of ``entity_set`` whose name contains ``text`` (all when
    empty), not marked for deletion, by name. Raises ProfileError in words."""
    if not entity_set.startswith(("Catalog_", "ChartOfCharacteristicTypes_", "Document_")):
        raise ProfileError(gettext("“%(set)s” is not a catalog or document of BAS.")
                           % {"set": entity_set})
    condition = "DeletionMark eq false"
    if text.strip():
        condition = (f"substringof({literals.string(text.strip())}, Description) eq true "
                     f"and {condition}")
    client = bas_client_for(account)
    try:
        rows = client.list(entity_set, filter=condition, top=limit, orderby="Description",
                           select=["Ref_Key", "Description"])
    except BasError as exc:
        raise ProfileError(gettext("BAS did not list %(set)s: %(error)s")
                           % {"set": entity_set, "error": exc}) from exc
    finally:
        client.close()
    return [{"ref": row["Ref_Key"], "name": row.get("Description", "")} for row in rows]
