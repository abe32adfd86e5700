"""KeyCRM's catalogue becomes BAS nomenclature: categories → groups, products → items, offers
with properties → characteristics (or, in BAS Accounting, separate items or one item per
product, as the admin chose).

Idempotent and incremental: what was written is remembered per element (``CatalogueState``:
the BAS Ref_Key and a fingerprint of the body sent), so a rerun writes only elements whose
content changed — nothing at all when nothing did. An element without a remembered state is
first looked for in BAS (a group by parent and name, an item by article) before it is created.
Fields BAS requires of a new item (kind, unit, category, VAT) come from ``CatalogueSettings``
and are sent only on creation: changing a default does not rewrite existing items.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from django.utils.translation import gettext

from accounts.models import KeyCrmAccount
from catalogue.models import CatalogueSettings, CatalogueState, OfferMode
from catalogue.report import Progress, SyncReport, no_progress
from catalogue.state import Link, fingerprint, links_save, states_by_key, states_save
from integration.bas import literals
from integration.bas.client import BasClient
from integration.bas.configurations import BasConfiguration, objects_for
from integration.bas.groups import GroupTree
from integration.keycrm.client import KeyCrmClient
from mappings.models import KeyCrmDirectory

GROUP = "bas.group"
ITEM = "bas.item"
CHARACTERISTIC = "bas.characteristic"
SAVE_EVERY = 100  # states are stored in chunks, so an interrupted run keeps what it wrote
NAME_LENGTH = 100  # Description of Catalog_Номенклатура in the standard configurations


class CatalogueConfigError(Exception):
    """The settings lack something a new BAS item needs; says what to fill in."""


@dataclasses.dataclass
class _Element:
    """One BAS object to bring to ``body``: an item or a characteristic."""

    kind: str
    key: str
    body: dict[str, Any]
    create_extra: dict[str, Any]
    links: list[tuple[str, int]]  # (KeyCRM directory, id) linked to it
    article: str = ""
    owner_key: str | None = None  # a characteristic's item (its element key)


@dataclasses.dataclass
class _Catalogue:
    categories: dict[int, dict[str, Any]]
    products: list[dict[str, Any]]
    offers: dict[int, list[dict[str, Any]]]  # product id → its offers


def catalog_to_bas(*, account: KeyCrmAccount, settings: CatalogueSettings, keycrm: KeyCrmClient,
                   bas: BasClient, dry_run: bool = False,
                   progress: Progress = no_progress) -> SyncReport:
    """Bring BAS nomenclature to KeyCRM's catalogue. Raises ``BasError`` / ``KeyCrmError``
    (what was written until then is remembered) and ``CatalogueConfigError``."""
    configuration = account.bas_connection.configuration
    objects = objects_for(configuration)
    with_characteristics = bool(objects.characteristics) and bas.metadata().has(
        objects.characteristics)
    item_create_defaults(settings, configuration)  # a missing default stops before any write
    catalogue = _read_keycrm(keycrm)
    writer = _Writer(account=account, bas=bas, dry_run=dry_run, nomenclature=objects.nomenclature,
                     characteristics=objects.characteristics or "",
                     configuration=configuration, settings=settings)
    groups = writer.groups(catalogue.categories)
    elements = list(_elements(catalogue, groups, settings=settings, configuration=configuration,
                              with_characteristics=with_characteristics))
    progress(total=len(elements))
    writer.items(elements, progress)
    return writer.report


def _read_keycrm(keycrm: KeyCrmClient) -> _Catalogue:
    categories = {int(c["id"]): c for c in keycrm.list_categories()}
    products = [p for p in keycrm.list_products() if not p.get("is_archived")]
    offers: dict[int, list[dict[str, Any]]] = {}
    for offer in keycrm.list_offers():
        if not offer.get("is_archived"):
            offers.setdefault(int(offer["product_id"]), []).append(offer)
    return _Catalogue(categories, products, offers)


def _properties_text(offer: dict[str, Any]) -> tuple[str, str]:
    """Short (values) and full (name: value) wording of an offer's properties."""
    props = [p for p in offer.get("properties") or [] if p.get("value") not in (None, "")]
    return (", ".join(str(p["value"]) for p in props),
            ", ".join(f"{p.get('name')}: {p['value']}" for p in props))


def _elements(catalogue: _Catalogue, groups: dict[int, str], *, settings: CatalogueSettings,
              configuration: str, with_characteristics: bool) -> Iterator[_Element]:
    """Items first, each followed by its characteristics (they need the item's Ref_Key)."""
    accounting = configuration == BasConfiguration.ACCOUNTING
    extra = item_create_defaults(settings, configuration)
    for product in sorted(catalogue.products, key=lambda p: int(p["id"])):
        offers = sorted(catalogue.offers.get(int(product["id"]), []), key=lambda o: int(o["id"]))
        parent = groups.get(int(product["category_id"] or 0), literals.EMPTY_REF)
        name = str(product.get("name") or "")
        variants = [o for o in offers if o.get("properties")]
        separate = not with_characteristics and settings.offer_mode == OfferMode.SEPARATE
        if variants and separate:
            for offer in offers:
                short, _ = _properties_text(offer)
                title = f"{name} ({short})" if short else name
                yield _Element(ITEM, f"offer:{offer['id']}", _item_body(
                    title, offer.get("sku") or "", parent, settings, accounting, False),
                    extra, [(KeyCrmDirectory.OFFER, int(offer["id"]))],
                    article=offer.get("sku") or "")
            continue
        article = offers[0].get("sku") or "" if len(offers) == 1 else ""
        item_key = f"product:{product['id']}"
        use_chars = bool(variants) and with_characteristics
        links = [(KeyCrmDirectory.PRODUCT, int(product["id"]))]
        if not use_chars:  # every offer of the product is this item
            links += [(KeyCrmDirectory.OFFER, int(o["id"])) for o in offers]
        yield _Element(ITEM, item_key, _item_body(name, article, parent, settings, accounting,
                                                  use_chars), extra, links, article=article)
        if use_chars:
            for offer in offers:
                short, full = _properties_text(offer)
                body = {"Description": (short or offer.get("sku") or name)[:NAME_LENGTH],
                        "НаименованиеПолное": full or short}
                yield _Element(CHARACTERISTIC, f"offer:{offer['id']}", body, {},
                               [(KeyCrmDirectory.OFFER, int(offer["id"]))], owner_key=item_key)


def _item_body(name: str, article: str, parent: str, settings: CatalogueSettings,
               accounting: bool, use_characteristics: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"Description": name[:NAME_LENGTH], "Артикул": article,
                            "Parent_Key": parent}
    if settings.fill_full_name:
        body["НаименованиеПолное"] = name
    if not accounting:
        body["ИспользоватьХарактеристики"] = use_characteristics
    return body


def item_create_defaults(settings: CatalogueSettings, configuration: str) -> dict[str, Any]:
    """What a new item needs beyond its name, per configuration (bas-odata.md §9.2). Also used
    by the order pipeline when an order's line names an item BAS does not have yet."""
    missing = []
    if settings.unit_ref is None:
        missing.append(str(settings._meta.get_field("unit_ref").verbose_name))
    if configuration == BasConfiguration.ACCOUNTING:
        extra: dict[str, Any] = {"БазоваяЕдиницаИзмерения_Key": str(settings.unit_ref),
                                 "Услуга": False}
        if settings.vat_rate:
            extra["СтавкаНДС"] = settings.vat_rate
    else:
        if settings.category_ref is None:
            missing.append(str(settings._meta.get_field("category_ref").verbose_name))
        extra = {"ТипНоменклатуры": settings.item_type or "Запас",
                 "ЕдиницаИзмерения_Key": str(settings.unit_ref),
                 "КатегорияНоменклатуры_Key": str(settings.category_ref)}
        if settings.vat_rate_ref:
            extra["СтавкаНДС_Key"] = str(settings.vat_rate_ref)
    if missing:
        raise CatalogueConfigError(gettext("Fill in the catalogue settings: %(fields)s") % {
            "fields": ", ".join(missing)})
    return extra


class _Writer:
    """Writes elements whose fingerprint changed and remembers what it wrote."""

    def __init__(self, *, account: KeyCrmAccount, bas: BasClient, dry_run: bool,
                 nomenclature: str, characteristics: str, configuration: str,
                 settings: CatalogueSettings) -> None:
        self.account = account
        self.bas = bas
        self.dry_run = dry_run
        self.nomenclature = nomenclature
        self.characteristics = characteristics
        self.report = SyncReport(dry_run=dry_run)
        self.refs: dict[str, str] = {}  # element key → Ref_Key (items, for their characteristics)
        self._articles: dict[str, str] | None = None
        self._pending: dict[str, list[dict[str, Any]]] = {}
        self._links: list[Link] = []

    # --- groups ---------------------------------------------------------------------------
    def groups(self, categories: dict[int, dict[str, Any]]) -> dict[int, str]:
        """KeyCRM category id → BAS group Ref_Key, parents before children."""
        states = states_by_key(account=self.account, kind=GROUP)
        tree = GroupTree(self.bas, entity_set=self.nomenclature)
        refs: dict[int, str] = {}
        try:
            self._write_groups(categories, states, tree, refs)
        finally:
            # A BAS error or the time limit mid-way must not lose the groups already made.
            self._flush()
        return refs

    def _write_groups(self, categories: dict[int, dict[str, Any]],
                      states: dict[str, CatalogueState], tree: GroupTree,
                      refs: dict[int, str]) -> None:
        for category in _parents_first(categories):
            ident = int(category["id"])
            parent = refs.get(int(category.get("parent_id") or 0), literals.EMPTY_REF)
            name = str(category.get("name") or "")[:NAME_LENGTH]
            body = {"Description": name, "Parent_Key": parent}
            digest = fingerprint(body)
            state = states.get(str(ident))
            if state is not None and state.bas_ref and state.fingerprint == digest:
                refs[ident] = str(state.bas_ref)
                self.report.unchanged += 1
                continue
            if state is not None and state.bas_ref:
                self.report.change("update", gettext("group «%(name)s»") % {"name": name})
                ref = str(state.bas_ref)
                if not self.dry_run:
                    self.bas.patch(self.nomenclature, ref, body)
            else:
                ref = tree.find(parent=parent, name=name) or ""
                if not ref:
                    self.report.change("create", gettext("group «%(name)s»") % {"name": name})
                    ref = (f"(new group {ident})" if self.dry_run or parent.startswith("(")
                           else tree.ensure(parent=parent, name=name))
            refs[ident] = ref
            self._remember(GROUP, {"key": str(ident), "bas_ref": ref, "fingerprint": digest},
                           Link(KeyCrmDirectory.CATEGORY, ident, self.nomenclature, ref, None,
                                name))

    # --- items and characteristics ---------------------------------------------------------
    def items(self, elements: list[_Element], progress: Progress) -> None:
        states = {**states_by_key(account=self.account, kind=ITEM),
                  **{f"c|{k}": s for k, s in
                     states_by_key(account=self.account, kind=CHARACTERISTIC).items()}}
        try:
            for element in elements:
                state_key = element.key if element.kind == ITEM else f"c|{element.key}"
                self._write(element, states.get(state_key))
                progress(add=1)
        finally:
            # Items already created in BAS must be remembered even when a BAS error or the
            # time limit stops the run: one without an article cannot be found again, and the
            # next run would create it twice.
            self._flush()

    def _write(self, element: _Element, state: CatalogueState | None) -> None:
        body = dict(element.body)
        owner = self.refs.get(element.owner_key or "", "") if element.owner_key else ""
        if element.kind == CHARACTERISTIC:
            body.update({"Owner": owner, "Owner_Type": f"StandardODATA.{self.nomenclature}"})
        digest = fingerprint(body)
        entity_set = self.nomenclature if element.kind == ITEM else self.characteristics
        what = (gettext("item «%(name)s»") if element.kind == ITEM
                else gettext("characteristic «%(name)s»")) % {"name": body["Description"]}
        if state is not None and state.bas_ref and state.fingerprint == digest:
            self.refs[element.key] = str(state.bas_ref)
            self.report.unchanged += 1
            return
        unresolved = any(str(v).startswith("(new") for v in body.values())
        if state is not None and state.bas_ref:
            ref = str(state.bas_ref)
            self.report.change("update", what)
            if not self.dry_run:
                self.bas.patch(entity_set, ref, body)
        else:
            ref = "" if unresolved else self._existing(element)
            self.report.change("update" if ref else "create", what)
            if self.dry_run:
                ref = ref or f"(new {element.key})"
            elif ref:
                self.bas.patch(entity_set, ref, body)
            else:
                ref = self.bas.create(entity_set, {**element.create_extra, **body},
                                      verify_filter=self._verify(element, body))["Ref_Key"]
        self.refs[element.key] = ref
        item_ref, char_ref = (ref, None) if element.kind == ITEM else (owner, ref)
        self._remember(element.kind, {"key": element.key, "bas_ref": ref, "fingerprint": digest},
                       *[Link(directory, ident, self.nomenclature, item_ref, char_ref,
                              body["Description"]) for directory, ident in element.links])

    def _existing(self, element: _Element) -> str:
        """A BAS object made before the portal remembered it: an item by its article, a
        characteristic by owner and name."""
        if element.kind == CHARACTERISTIC:
            owner = self.refs.get(element.owner_key or "", "")
            found = self.bas.list(self.characteristics, top=1, select=["Ref_Key"], filter=(
                f"Owner eq {literals.cast(owner, self.nomenclature)} and Description eq "
                f"{literals.string(element.body['Description'])}"))
            return found[0]["Ref_Key"] if found else ""
        if not element.article:
            return ""
        if self._articles is None:
            self._articles = {}
            for row in self.bas.iterate(self.nomenclature, filter="IsFolder eq false",
                                        select=["Ref_Key", "Артикул"]):
                if row.get("Артикул"):
                    self._articles.setdefault(row["Артикул"], row["Ref_Key"])
        return self._articles.get(element.article, "")

    def _verify(self, element: _Element, body: dict[str, Any]) -> str:
        if element.kind == CHARACTERISTIC:
            return (f"Owner eq {literals.cast(body['Owner'], self.nomenclature)} and "
                    f"Description eq {literals.string(body['Description'])}")
        if element.article:
            return f"Артикул eq {literals.string(element.article)} and IsFolder eq false"
        return (f"Description eq {literals.string(body['Description'])} and Parent_Key eq "
                f"{literals.guid(body['Parent_Key'])} and IsFolder eq false")

    # --- remembering -----------------------------------------------------------------------
    def _remember(self, kind: str, state: dict[str, Any], *links: Link) -> None:
        if self.dry_run:
            return
        self._pending.setdefault(kind, []).append(state)
        self._links.extend(links)
        if sum(len(rows) for rows in self._pending.values()) >= SAVE_EVERY:
            self._flush()

    def _flush(self) -> None:
        for kind, rows in self._pending.items():
            states_save(account=self.account, kind=kind, rows=rows)
        links_save(account=self.account, links=self._links,
                   note=gettext("catalogue: KeyCRM → BAS"))
        self._pending, self._links = {}, []


def _parents_first(categories: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    ordered: list[dict[str, Any]] = []
    seen: set[int] = set()

    def visit(ident: int, depth: int = 0) -> None:
        category = categories.get(ident)
        if category is None or ident in seen or depth > 50:
            return
        parent = int(category.get("parent_id") or 0)
        if parent:
            visit(parent, depth + 1)
        seen.add(ident)
        ordered.append(category)

    for ident in sorted(categories):
        visit(ident)
    return ordered
