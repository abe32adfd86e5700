"""BAS nomenclature of the chosen groups becomes KeyCRM's catalogue: groups → categories, items →
products, characteristics → offers with a property — matched by SKU (the item's article, else its
code; a characteristic's offer is ``<item SKU>/<characteristic>``).

The pipeline only reads BAS and compares with what was last sent (``CatalogueState``); every
write is an outbox message, sent later within the account's rate budget:

* ``catalogue.categories`` — the new groups, parents first; its sender reuses a KeyCRM category
  of the same name under the same parent before creating one;
* ``catalogue.products`` — up to 100 new or changed items per message (``/products/import``'s
  limit): the sender looks their SKUs up, imports the missing products in one call, reads the new
  ids back by SKU, renames changed ones (``PUT /products/{id}``) and adds missing variants
  (``POST /products/{id}/offers``). Every step searches first, so a repeat after a lost answer
  creates nothing twice. KeyCRM's import returns no ids, hence the read back.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from django.db import transaction
from django.utils.translation import gettext

from accounts.models import KeyCrmAccount
from catalogue.models import CatalogueSettings
from catalogue.report import Progress, SyncReport, no_progress
from catalogue.state import fingerprint, states_by_key, states_save
from integration.bas import literals
from integration.bas.client import BasClient
from integration.bas.configurations import objects_for
from integration.keycrm.client import PAGE_LIMIT, PRODUCT_IMPORT_BATCH, KeyCrmClient, KeyCrmError
from staging.models import OutboxMessage
from staging.services.outbox import Sender, outbox_put, register_sender

CATEGORY = "kc.category"
PRODUCT = "kc.product"
OFFER = "kc.offer"
CATEGORIES_KIND = "catalogue.categories"
PRODUCTS_KIND = "catalogue.products"
PROPERTY_NAME = "Характеристика"


def catalog_to_keycrm(*, account: KeyCrmAccount, settings: CatalogueSettings, bas: BasClient,
                      dry_run: bool = False, progress: Progress = no_progress) -> SyncReport:
    """Queue the writes that bring KeyCRM to the chosen BAS groups. Raises ``BasError``."""
    report = SyncReport(dry_run=dry_run)
    objects = objects_for(account.bas_connection.configuration)
    groups = _subtree(bas, objects.nomenclature, [str(g) for g in settings.export_groups])
    items = [item for group in groups for item in bas.iterate(
        objects.nomenclature, filter=f"Parent_Key eq {literals.guid(group['Ref_Key'])} and "
                                     "IsFolder eq false and DeletionMark eq false",
        select=["Ref_Key", "Description", "Артикул", "Code", "Parent_Key"])]
    variants = _characteristics(bas, objects.characteristics, objects.nomenclature,
                                {i["Ref_Key"] for i in items})
    progress(total=len(groups) + len(items))
    new_groups = _changed_groups(account, groups, report)
    progress(add=len(groups))
    entries = _changed_products(account, items, variants, report)
    progress(add=len(items))
    if dry_run:
        return report
    with transaction.atomic():
        if new_groups:
            outbox_put(account=account, kind=CATEGORIES_KIND,
                       key=f"catalogue:categories:{fingerprint(new_groups)[:16]}",
                       payload={"groups": new_groups}, cause=gettext("catalogue export"))
            report.queued_messages += 1
        for start in range(0, len(entries), PRODUCT_IMPORT_BATCH):
            batch = entries[start:start + PRODUCT_IMPORT_BATCH]
            outbox_put(account=account, kind=PRODUCTS_KIND,
                       key=f"catalogue:products:{fingerprint(batch)[:16]}",
                       payload={"products": batch}, cause=gettext("catalogue export"))
            report.queued_messages += 1
    return report


def _subtree(bas: BasClient, nomenclature: str, roots: list[str]) -> list[dict[str, Any]]:
    """The chosen groups and every group below them, parents first."""
    folders = list(bas.iterate(nomenclature, filter="IsFolder eq true and DeletionMark eq false",
                               select=["Ref_Key", "Parent_Key", "Description"]))
    children: dict[str, list[dict[str, Any]]] = {}
    by_ref = {f["Ref_Key"]: f for f in folders}
    for folder in folders:
        children.setdefault(folder.get("Parent_Key") or literals.EMPTY_REF, []).append(folder)
    ordered: list[dict[str, Any]] = []
    queue = [by_ref[r] for r in roots if r in by_ref]
    seen: set[str] = set()
    while queue:
        folder = queue.pop(0)
        if folder["Ref_Key"] in seen:
            continue
        seen.add(folder["Ref_Key"])
        ordered.append(folder)
        queue.extend(children.get(folder["Ref_Key"], []))
    return ordered


def _characteristics(bas: BasClient, characteristics: str | None, nomenclature: str,
                     owners: set[str]) -> dict[str, list[dict[str, Any]]]:
    """Item Ref_Key → its characteristics (none in a base without them)."""
    if not characteristics or not owners or not bas.metadata().has(characteristics):
        return {}
    found: dict[str, list[dict[str, Any]]] = {}
    for row in bas.iterate(characteristics, filter="DeletionMark eq false",
                           select=["Ref_Key", "Owner", "Owner_Type", "Description"]):
        owner_type = str(row.get("Owner_Type") or nomenclature)
        if row.get("Owner") in owners and nomenclature in owner_type:
            found.setdefault(row["Owner"], []).append(row)
    return found


def _changed_groups(account: KeyCrmAccount, groups: list[dict[str, Any]],
                    report: SyncReport) -> list[dict[str, Any]]:
    states = states_by_key(account=account, kind=CATEGORY)
    exported = {g["Ref_Key"] for g in groups}
    changed = []
    for group in groups:
        parent = group.get("Parent_Key") or literals.EMPTY_REF
        entry = {"ref": group["Ref_Key"], "name": group["Description"],
                 "parent_ref": parent if parent in exported else None}
        state = states.get(group["Ref_Key"])
        if state is not None and state.keycrm_id:
            report.unchanged += 1  # the API cannot rename a category: a found one is kept
            continue
        report.change("create", gettext("category «%(name)s»") % {"name": group["Description"]})
        changed.append(entry)
    return changed


def _item_sku(item: dict[str, Any]) -> str:
    return (item.get("Артикул") or "").strip() or str(item.get("Code") or "").strip()


def _changed_products(account: KeyCrmAccount, items: list[dict[str, Any]],
                      variants: dict[str, list[dict[str, Any]]],
                      report: SyncReport) -> list[dict[str, Any]]:
    states = states_by_key(account=account, kind=PRODUCT)
    entries = []
    for item in sorted(items, key=lambda i: i["Ref_Key"]):
        sku = _item_sku(item)
        if not sku:
            report.change("skip", gettext("item «%(name)s»") % {"name": item["Description"]},
                          reason=gettext("no article or code"))
            continue
        offers = [{"ref": c["Ref_Key"], "sku": f"{sku}/{c['Description']}",
                   "properties": [{"name": PROPERTY_NAME, "value": c["Description"]}]}
                  for c in sorted(variants.get(item["Ref_Key"], []), key=lambda c: c["Ref_Key"])]
        entry: dict[str, Any] = {"ref": item["Ref_Key"], "name": item["Description"], "sku": sku,
                                 "group_ref": item["Parent_Key"], "offers": offers}
        digest = fingerprint(entry)
        state = states.get(item["Ref_Key"])
        if state is not None and state.fingerprint == digest:
            report.unchanged += 1
            continue
        report.change("update" if state else "create",
                      gettext("product «%(name)s»") % {"name": item["Description"]}, sku=sku)
        entries.append({**entry, "fp": digest,
                        "keycrm_id": state.keycrm_id if state else None})
    return entries


# --- senders ---------------------------------------------------------------------------------
def _send_categories(client: KeyCrmClient, message: OutboxMessage) -> dict[str, Any]:
    """Find or create each group's category, parents first (safe to repeat: found by name and
    parent before anything is created)."""
    known = {s.key: int(s.keycrm_id) for s in states_by_key(
        account=message.account, kind=CATEGORY).values() if s.keycrm_id}
    existing = {(c.get("parent_id"), c["name"]): int(c["id"]) for c in client.list_categories()}
    ids: dict[str, int] = {}
    for group in message.payload["groups"]:
        parent_ref = group.get("parent_ref")
        parent_id = (ids.get(parent_ref) or known.get(parent_ref)) if parent_ref else None
        ident = existing.get((parent_id, group["name"]))
        if ident is None:
            ident = int(client.create_category(name=group["name"], parent_id=parent_id)["id"])
            existing[(parent_id, group["name"])] = ident
        ids[group["ref"]] = ident
    return {"ids": ids}


def _confirm_categories(message: OutboxMessage, result: dict[str, Any]) -> None:
    states_save(account=message.account, kind=CATEGORY, rows=[
        {"key": ref, "keycrm_id": ident, "bas_ref": ref} for ref, ident in result["ids"].items()])


def _offers_by_sku(client: KeyCrmClient, skus: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Existing offers of these SKUs, PAGE_LIMIT SKUs a call."""
    wanted = list(dict.fromkeys(skus))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), PAGE_LIMIT):
        chunk = wanted[start:start + PAGE_LIMIT]
        for offer in client.list_offers(filters={"sku": ",".join(chunk)}):
            if offer.get("sku"):
                found[offer["sku"]] = offer
    return found


def _send_products(client: KeyCrmClient, message: OutboxMessage) -> dict[str, Any]:
    entries = message.payload["products"]
    categories = {s.key: int(s.keycrm_id) for s in states_by_key(
        account=message.account, kind=CATEGORY).values() if s.keycrm_id}
    missing_groups = {e["group_ref"] for e in entries} - set(categories)
    if missing_groups:
        raise KeyCrmError(gettext("%(count)d categories are not created in KeyCRM yet; their "
                                  "message goes first") % {"count": len(missing_groups)},
                          retryable=True)
    found = _offers_by_sku(client, [e["sku"] for e in entries])
    product_ids: dict[str, int] = {}
    to_import = []
    for entry in entries:
        existing = found.get(entry["sku"])
        fields = {"name": entry["name"], "category_id": categories[entry["group_ref"]]}
        if existing is not None:
            product_ids[entry["ref"]] = int(existing["product_id"])
            client.update_product(int(existing["product_id"]), fields)
        elif entry.get("keycrm_id") and _product_to_new_sku(client, int(entry["keycrm_id"]),
                                                            entry, fields):
            product_ids[entry["ref"]] = int(entry["keycrm_id"])
        else:
            to_import.append({"name": entry["name"], "sku": entry["sku"],
                              "category_id": categories[entry["group_ref"]]})
    if to_import:
        client.import_products(to_import)
        for sku, offer in _offers_by_sku(client, [p["sku"] for p in to_import]).items():
            ref = next(e["ref"] for e in entries if e["sku"] == sku)
            product_ids[ref] = int(offer["product_id"])
    imported = {p["sku"] for p in to_import}
    variant_skus = [o["sku"] for e in entries if e["sku"] not in imported for o in e["offers"]]
    present = set(_offers_by_sku(client, variant_skus)) if variant_skus else set()
    for entry in entries:
        new = [{"sku": o["sku"], "properties": o["properties"]} for o in entry["offers"]
               if o["sku"] not in present]
        if new and entry["ref"] in product_ids:
            client.create_product_offers(product_ids[entry["ref"]], new)
    return {"products": product_ids}


def _product_to_new_sku(client: KeyCrmClient, product_id: int, entry: dict[str, Any],
                        fields: dict[str, Any]) -> bool:
    """The item's article changed in BAS: the product made for it before stays the item's
    product (importing would make a second one). A product without variants takes the new SKU on
    its single offer; variants of the new SKU are added afterwards (the API cannot change an
    existing variant's SKU). False when KeyCRM no longer has the product."""
    body = {**fields, "sku": entry["sku"]} if not entry["offers"] else fields
    try:
        client.update_product(product_id, body)
    except KeyCrmError as exc:
        if exc.status == HTTPStatus.NOT_FOUND:
            return False
        raise
    return True


def _confirm_products(message: OutboxMessage, result: dict[str, Any]) -> None:
    products, offers = [], []
    for entry in message.payload["products"]:
        product_id = result["products"].get(entry["ref"])
        if product_id is None:
            continue
        products.append({"key": entry["ref"], "bas_ref": entry["ref"], "keycrm_id": product_id,
                         "sku": entry["sku"], "fingerprint": entry["fp"]})
        if not entry["offers"]:
            offers.append({"key": entry["ref"], "bas_ref": entry["ref"], "sku": entry["sku"]})
        offers.extend({"key": f"{entry['ref']}/{o['ref']}", "bas_ref": entry["ref"],
                       "bas_characteristic_ref": o["ref"], "sku": o["sku"]}
                      for o in entry["offers"])
    states_save(account=message.account, kind=PRODUCT, rows=products)
    states_save(account=message.account, kind=OFFER, rows=offers)


register_sender(CATEGORIES_KIND, Sender(send=_send_categories, confirm=_confirm_categories))
register_sender(PRODUCTS_KIND, Sender(send=_send_products, confirm=_confirm_products))
