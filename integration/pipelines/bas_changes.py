"""BAS → KeyCRM: order states changed in BAS, and customer orders entered in BAS.

1C's OData has no "changed since" filter, so a check reads the recent documents of the
profile's ``document_set`` with a minimal ``$select`` (Ref_Key, DataVersion, Number, the state
attribute, the attribute holding the KeyCRM number) and compares each DataVersion with the one
kept in ``BasDocumentState``. Nothing is written to KeyCRM here: every write is an outbox
message stored in the same transaction as the state it reflects.

Echo suppression, both ways:

* KeyCRM → BAS: ``order_to_bas`` stores the state it wrote (``document_written``). A poll that
  then sees a new DataVersion with that same state sends nothing; it only remembers the version.
* BAS → KeyCRM: ``_queue_status`` stores the state it sends as the document's, so when the
  KeyCRM change comes back, ``document_already_has`` finds nothing but that state changed and
  BAS has it: nothing goes to BAS. The marker alone (KeyCRM's ``updated_at`` and status from
  the answer) never skips a write — a manager's edit in the same second carries it too — except
  for the first echo of an order the portal created from a BAS document, which the portal never
  wrote (``order_echo``). The sender holds the ``order:<id>`` lock, so the order's pipeline
  cannot run between the PUT and the marker.

A document seen for the first time with a KeyCRM link is only remembered: switching the check
on must not push the states of every recent document at once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import re
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import KeyCrmAccount
from integration.bas import literals
from integration.bas.client import BasClient, BasError, BasErrorKind
from integration.keycrm.client import KeyCrmClient
from integration.keycrm.timestamps import parse_keycrm_datetime
from integration.models import BasChangesSettings, BasDocumentState
from mappings.models import (
    Correspondence,
    CorrespondenceOrigin,
    DirectoryEntry,
    DocumentProfile,
    FieldMapping,
    KeyCrmDirectory,
    MappingKind,
    StatusCorrespondence,
)
from mappings.services.correspondence import correspondence_set
from staging.models import OUTBOX_PENDING, OutboxMessage, OutboxState
from staging.services.exchanges import exchange_store
from staging.services.outbox import Sender, outbox_put, register_sender
from staging.services.queue import lock_acquire, lock_release

logger = logging.getLogger(__name__)

STATUS_KIND = "order.status"
CREATE_KIND = "order.create"
# Customer orders of BAS Small Business and of BAS ERP / UT: only these may become KeyCRM
# orders (a sales invoice entered in BAS is not an order a shop manager should see).
CUSTOMER_ORDER_SETS = frozenset({"Document_ЗаказПокупателя", "Document_ЗаказКлиента"})
COUNTERPARTIES = "Catalog_Контрагенты"
NOMENCLATURE = "Catalog_Номенклатура"
CHECK_LOCK = "bas-changes"
# Errors about one document (refused, deleted, changed meanwhile, a request it made wrong);
# the others (no network, authentication, no publication, 5xx) are BAS failing as a whole.
DOCUMENT_ERRORS = frozenset({BasErrorKind.NOT_FOUND, BasErrorKind.BUSINESS,
                             BasErrorKind.CONFLICT, BasErrorKind.BAD_REQUEST})
CHECK_LOCK_SECONDS = 900


class BasChangesError(Exception):
    """The check cannot run as configured; the message says what to fix."""


class BasChangesBusy(BasChangesError):
    """Another worker is checking this account right now."""


@dataclasses.dataclass
class ChangesSummary:
    documents: int = 0
    statuses: int = 0  # status writes queued for KeyCRM
    own_writes: int = 0  # new DataVersion, same state: nothing sent
    first_seen: int = 0
    orders: int = 0  # orders made in BAS queued for creation in KeyCRM
    numbers: int = 0  # KeyCRM numbers written into BAS documents
    problems: list[str] = dataclasses.field(default_factory=list)

    def text(self) -> str:
        words = _("%(documents)d documents read, %(statuses)d statuses and %(orders)d new "
                  "orders queued for KeyCRM, %(numbers)d KeyCRM numbers written to BAS, "
                  "%(own)d changes of our own ignored") % {
            "documents": self.documents, "statuses": self.statuses, "orders": self.orders,
            "numbers": self.numbers, "own": self.own_writes}
        if self.problems:
            words += "; " + "; ".join(self.problems[:5])
        return words[:500]


@dataclasses.dataclass(frozen=True)
class Watch:
    """What to read from the profile's documents, derived from its field mappings."""

    profile: DocumentProfile
    state_attribute: str | None
    state_composite: bool
    buyer_attribute: str
    item_column: str
    characteristic_column: str
    quantity_column: str
    price_column: str

    @property
    def entity_set(self) -> str:
        return self.profile.document_set

    @property
    def customer_order(self) -> bool:
        return self.entity_set in CUSTOMER_ORDER_SETS

    def select(self) -> list[str]:
        fields = ["Ref_Key", "DataVersion", "Number", "Posted"]
        if self.state_attribute:
            fields.append(self.state_attribute)
            if self.state_composite:
                fields.append(f"{self.state_attribute}_Type")
        if self.profile.order_id_attribute:
            fields.append(self.profile.order_id_attribute)
        return fields

    def state_of(self, document: dict[str, Any]) -> str:
        value = document.get(self.state_attribute or "") or ""
        return "" if literals.is_empty_ref(str(value)) else str(value)


# --- settings and scheduling -------------------------------------------------------------------
def bas_changes_settings(*, account: KeyCrmAccount) -> BasChangesSettings:
    """The account's settings, made with the deployment's defaults on first use."""
    settings_row, _created = BasChangesSettings.objects.get_or_create(account=account, defaults={
        "interval_seconds": settings.BAS_CHANGES_INTERVAL_SECONDS,
        "lookback_days": settings.BAS_CHANGES_LOOKBACK_DAYS})
    return settings_row


def accounts_due_for_bas_changes(*, now: dt.datetime) -> list[KeyCrmAccount]:
    """Accounts with a BAS connection and a document profile, the check enabled, whose
    interval has passed since the last check started."""
    due = []
    for account in KeyCrmAccount.objects.filter(bas_connection__isnull=False,
                                                document_profile__isnull=False):
        row = bas_changes_settings(account=account)
        if row.enabled and (row.last_started_at is None or row.last_started_at + dt.timedelta(
                seconds=row.interval_seconds) <= now):
            due.append(account)
    return due


# --- the check ---------------------------------------------------------------------------------
def bas_changes_check(*, account: KeyCrmAccount, worker: str, bas: BasClient | None = None,
                      run: Any = None) -> ChangesSummary:
    """Read the account's recent BAS documents once and queue what KeyCRM must learn.

    Idempotent: a second check with nothing changed in BAS queues nothing. Raises
    ``BasChangesError`` (configuration, or another check running) or ``BasError`` (BAS failed);
    either is also stored as the settings' ``last_error``."""
    settings_row = bas_changes_settings(account=account)
    if not lock_acquire(account_id=account.pk, name=CHECK_LOCK, holder=worker,
                        ttl=CHECK_LOCK_SECONDS):
        raise BasChangesBusy(_("Another check of this account's BAS documents is running."))
    BasChangesSettings.objects.filter(pk=settings_row.pk).update(last_started_at=timezone.now())
    own_client = bas is None
    try:
        if account.bas_connection is None:
            raise BasChangesError(_("The account has no BAS connection."))
        if own_client:
            bas = BasClient.for_connection(account.bas_connection, observer=exchange_store)
        assert bas is not None
        summary = _check(account, settings_row, bas, run)
    except Exception as exc:
        # Stored for the operator whatever went wrong, then raised: the task decides.
        BasChangesSettings.objects.filter(pk=settings_row.pk).update(
            last_error=str(exc)[:2000] or type(exc).__name__)
        raise
    finally:
        if own_client and bas is not None:
            bas.close()
        lock_release(account_id=account.pk, name=CHECK_LOCK, holder=worker)
    BasChangesSettings.objects.filter(pk=settings_row.pk).update(
        last_success_at=timezone.now(), last_error="", last_summary=summary.text())
    logger.info("BAS changes of account %s: %s", account.pk, summary.text())
    return summary


def watch_for(profile: DocumentProfile) -> Watch:
    """Where the state, the buyer and the line values live, read back from the mappings that
    fill them (so the same code serves every configuration the presets know)."""
    mappings = list(FieldMapping.objects.filter(profile=profile).select_related("attribute"))
    header = [m for m in mappings if not m.attribute.section]
    lines = [m for m in mappings if m.attribute.section == profile.lines_section]
    state = next((m.attribute for m in header if m.kind == MappingKind.STATUS), None)
    buyer = next((m.attribute.name for m in header
                  if m.directory == KeyCrmDirectory.BUYER), "Контрагент_Key")

    def column(paths: tuple[str, ...], default: str) -> str:
        return next((m.attribute.name for m in lines if m.source_path in paths), default)

    return Watch(
        profile=profile,
        state_attribute=state.name if state else None,
        state_composite=bool(state and state.kind == "composite"),
        buyer_attribute=buyer,
        item_column=column(("products[].offer.id",), "Номенклатура_Key"),
        characteristic_column="Характеристика_Key",
        quantity_column=column(("products[].quantity",), "Количество"),
        price_column=column(("products[].price_sold", "products[].price"), "Цена"),
    )


def _check(account: KeyCrmAccount, settings_row: BasChangesSettings, bas: BasClient,
           run: Any) -> ChangesSummary:
    profile = DocumentProfile.objects.filter(account=account).first()
    if profile is None or not profile.document_set:
        raise BasChangesError(_("The account has no document profile: choose the BAS document "
                                "its orders become."))
    watch = watch_for(profile)
    since = timezone.now() - dt.timedelta(days=settings_row.lookback_days)
    documents = _recent_documents(account, watch, bas, since)
    refs = list(documents)
    states = {str(s.bas_ref): s for s in BasDocumentState.objects.filter(
        account=account, entity_set=watch.entity_set, bas_ref__in=refs)}
    links = {str(c.bas_ref): c for c in Correspondence.objects.filter(
        account=account, directory=KeyCrmDirectory.ORDER, bas_entity_set=watch.entity_set,
        bas_ref__in=refs)}
    summary = ChangesSummary(documents=len(documents))
    if run is not None:
        from runs.services import run_progress

        run_progress(run, total=len(documents))
    for ref, document in documents.items():
        try:
            _document_check(account, settings_row, watch, bas, document, states.get(ref),
                            links.get(ref), summary)
        except BasError as exc:
            if exc.kind not in DOCUMENT_ERRORS:
                raise  # BAS itself failed: the next documents would fail the same way
            # One document BAS refuses (or whose buyer or item was deleted) must not keep
            # the account's other documents from being checked.
            summary.problems.append(_("%(document)s %(number)s: %(error)s") % {
                "document": watch.entity_set, "number": document.get("Number") or ref,
                "error": exc.message})
        if run is not None:
            run_progress(run, add=1)
    return summary


def _recent_documents(account: KeyCrmAccount, watch: Watch, bas: BasClient,
                      since: dt.datetime) -> dict[str, dict[str, Any]]:
    """Documents dated in the look-back window, plus those linked to a KeyCRM order whose
    link changed in that window (an old document of a recently changed order)."""
    select = watch.select()
    condition = f"Date ge {literals.datetime(since, bas.tz)} and DeletionMark eq false"
    documents = {d["Ref_Key"]: d for d in bas.iterate(watch.entity_set, filter=condition,
                                                        select=select)}
    linked = [str(ref) for ref in Correspondence.objects.filter(
        account=account, directory=KeyCrmDirectory.ORDER, bas_entity_set=watch.entity_set,
        updated_at__gte=since).values_list("bas_ref", flat=True)]
    missing = [ref for ref in linked if ref not in documents]
    if missing:
        for document in bas.get_by_keys(watch.entity_set, missing, select=select):
            documents.setdefault(document["Ref_Key"], document)
    return documents


def _document_check(account: KeyCrmAccount, settings_row: BasChangesSettings, watch: Watch,
                    bas: BasClient, document: dict[str, Any], state: BasDocumentState | None,
                    link: Correspondence | None, summary: ChangesSummary) -> None:
    ref = document["Ref_Key"]
    version = str(document.get("DataVersion") or "")
    value = watch.state_of(document)
    number = str(document.get("Number") or "")
    order_id = link.keycrm_id if link else (state.keycrm_order_id if state else None)
    if order_id is None:
        order_id = _order_id_in(watch.profile, document)
    if order_id is None:
        if state is None or state.exported_at is None:
            _queue_creation(account, settings_row, watch, bas, document, summary)
        return
    now = timezone.now()
    if state is None:
        BasDocumentState.objects.update_or_create(
            account=account, entity_set=watch.entity_set, bas_ref=ref,
            defaults={"number": number, "keycrm_order_id": order_id, "data_version": version,
                      "state_value": value, "seen_at": now})
        summary.first_seen += 1
        return
    if version != state.data_version:
        if not watch.state_attribute or value == state.state_value:
            summary.own_writes += 1
            BasDocumentState.objects.filter(pk=state.pk).update(
                data_version=version, number=number, keycrm_order_id=order_id, seen_at=now)
        else:
            _queue_status(account, watch, document, state, order_id, value, summary)
    if state.exported_at and watch.profile.order_id_attribute and \
            not document.get(watch.profile.order_id_attribute):
        _write_number(watch, bas, ref, order_id, state)
        summary.numbers += 1


def _order_id_in(profile: DocumentProfile, document: dict[str, Any]) -> int | None:
    """The KeyCRM order id kept in the document by ``order_id_template`` (e.g. KC-{id})."""
    text = str(document.get(profile.order_id_attribute or "") or "").strip()
    if not text or "{id}" not in profile.order_id_template:
        return None
    head, _sep, tail = profile.order_id_template.partition("{id}")
    found = re.fullmatch(re.escape(head) + r"(\d+)" + re.escape(tail), text)
    return int(found.group(1)) if found else None


def _queue_status(account: KeyCrmAccount, watch: Watch, document: dict[str, Any],
                  state: BasDocumentState, order_id: int, value: str,
                  summary: ChangesSummary) -> None:
    number = str(document.get("Number") or "")
    status = _keycrm_status(account, value, document.get(f"{watch.state_attribute}_Type"))
    if status is None:
        # The row is left as it was: once the correspondence exists, the next check sends it.
        summary.problems.append(_("%(number)s: the BAS state %(value)s has no KeyCRM status in "
                                  "the status correspondence") % {"number": number,
                                                                  "value": value})
        return
    with transaction.atomic():
        outbox_put(account=account, kind=STATUS_KIND, key=f"order:{order_id}:status",
                   payload={"order_id": order_id, "status_id": status.keycrm_status_id,
                            "entity_set": watch.entity_set, "bas_ref": document["Ref_Key"]},
                   cause=_("%(document)s %(number)s: state set to %(state)s in BAS") % {
                       "document": watch.entity_set, "number": number,
                       "state": status.bas_presentation or value})
        BasDocumentState.objects.filter(pk=state.pk).update(
            data_version=str(document.get("DataVersion") or ""), state_value=value,
            number=number, keycrm_order_id=order_id, seen_at=timezone.now())
    summary.statuses += 1


def _keycrm_status(account: KeyCrmAccount, value: str,
                   type_name: Any) -> StatusCorrespondence | None:
    rows = list(StatusCorrespondence.objects.filter(account=account, bas_value=value))
    if len(rows) > 1 and isinstance(type_name, str):
        entity_set = type_name.rpartition(".")[2]
        rows = [r for r in rows if r.bas_entity_set == entity_set]
    return rows[0] if len(rows) == 1 else None


def _write_number(watch: Watch, bas: BasClient, ref: str, order_id: int,
                  state: BasDocumentState) -> None:
    """Put the KeyCRM number into a document made in BAS, so that both sides can find it; the
    DataVersion this makes is ours and is remembered."""
    attribute = watch.profile.order_id_attribute
    answer = bas.patch(watch.entity_set, ref, {attribute: watch.profile.order_number(order_id)})
    version = answer.get("DataVersion") or bas.get(
        watch.entity_set, ref, select=["DataVersion"]).get("DataVersion", "")
    BasDocumentState.objects.filter(pk=state.pk).update(data_version=str(version),
                                                        seen_at=timezone.now())


# --- orders made in BAS ------------------------------------------------------------------------
def _queue_creation(account: KeyCrmAccount, settings_row: BasChangesSettings, watch: Watch,
                    bas: BasClient, document: dict[str, Any], summary: ChangesSummary) -> None:
    if not (settings_row.create_orders and watch.customer_order):
        return
    if not document.get("Posted"):
        return  # a draft is still being typed in BAS
    ref = document["Ref_Key"]
    key = f"bas-order:{ref}"
    if OutboxMessage.objects.filter(account=account, key=key).filter(
            state__in=(*OUTBOX_PENDING, OutboxState.SENDING, OutboxState.WAITING)).exists():
        return  # already on its way (or waiting for a person): one message per document
    number = str(document.get("Number") or "")
    if settings_row.keycrm_source_id is None:
        summary.problems.append(_("%(number)s: choose the KeyCRM source for orders made in "
                                  "BAS") % {"number": number})
        return
    full = bas.get(watch.entity_set, ref)
    order = _order_payload(account, settings_row, watch, bas, full)
    value = watch.state_of(full)
    status = _keycrm_status(account, value, full.get(f"{watch.state_attribute}_Type")) \
        if value else None
    with transaction.atomic():
        outbox_put(account=account, kind=CREATE_KIND, key=key,
                   payload={"order": order, "entity_set": watch.entity_set, "bas_ref": ref,
                            "number": number, "state": value,
                            "data_version": str(document.get("DataVersion") or ""),
                            "status_id": status.keycrm_status_id if status else None},
                   cause=_("%(document)s %(number)s was entered in BAS") % {
                       "document": watch.entity_set, "number": number})
    summary.orders += 1


def _order_payload(account: KeyCrmAccount, settings_row: BasChangesSettings, watch: Watch,
                   bas: BasClient, document: dict[str, Any]) -> dict[str, Any]:
    """``POST /order`` for a document: buyer from its counterparty, lines from its lines
    section, ``source_uuid`` = its Ref_Key (what a repeat is found by)."""
    order: dict[str, Any] = {
        "source_id": settings_row.keycrm_source_id,
        "source_uuid": document["Ref_Key"],
        "buyer": _buyer(bas, document.get(watch.buyer_attribute)),
        "products": _products(account, watch, bas, document),
        "manager_comment": f"BAS {document.get('Number') or ''}".strip(),
    }
    ordered_at = bas.from_bas_datetime(document.get("Date"))
    if ordered_at is not None:
        order["ordered_at"] = ordered_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    return order


def _buyer(bas: BasClient, counterparty: Any) -> dict[str, str]:
    if not counterparty or literals.is_empty_ref(str(counterparty)):
        return {"full_name": _("Buyer from BAS")}
    found = bas.get(COUNTERPARTIES, str(counterparty))
    buyer = {"full_name": str(found.get("Description") or _("Buyer from BAS"))}
    for row in found.get("КонтактнаяИнформация") or []:
        if row.get("Тип") == "Телефон" and "phone" not in buyer:
            phone = row.get("НомерТелефона") or row.get("Представление")
            if phone:
                buyer["phone"] = str(phone)
        if row.get("Тип") == "АдресЭлектроннойПочты" and "email" not in buyer:
            email = row.get("АдресЭП") or row.get("Представление")
            if email:
                buyer["email"] = str(email)
    return buyer


def _products(account: KeyCrmAccount, watch: Watch, bas: BasClient,
              document: dict[str, Any]) -> list[dict[str, Any]]:
    items: dict[str, dict[str, Any]] = {}
    products = []
    for row in document.get(watch.profile.lines_section) or []:
        item = str(row.get(watch.item_column) or "")
        if not item or literals.is_empty_ref(item):
            continue
        characteristic = row.get(watch.characteristic_column)
        sku, name = _offer_sku(account, item, characteristic)
        if sku is None:
            if item not in items:
                items[item] = bas.get(NOMENCLATURE, item, select=["Description", "Артикул"])
            sku = str(items[item].get("Артикул") or "") or None
            name = name or str(items[item].get("Description") or "")
        product: dict[str, Any] = {"name": name or str(row.get("Содержание") or sku or item),
                                   "price": row.get(watch.price_column) or 0,
                                   "quantity": row.get(watch.quantity_column) or 1}
        if sku:
            product["sku"] = sku
        products.append(product)
    return products


def _offer_sku(account: KeyCrmAccount, item: str,
               characteristic: Any) -> tuple[str | None, str]:
    """The KeyCRM offer linked to the item (and characteristic) in the register, as
    (sku, name); (None, "") when there is no link with a known SKU."""
    links = Correspondence.objects.filter(account=account, directory=KeyCrmDirectory.OFFER,
                                          bas_ref=item)
    if characteristic and not literals.is_empty_ref(str(characteristic)):
        links = links.filter(bas_characteristic_ref=characteristic)
    link = links.first()
    if link is None:
        return None, ""
    entry = DirectoryEntry.objects.filter(account=account, directory=KeyCrmDirectory.OFFER,
                                          keycrm_id=link.keycrm_id).first()
    if entry is None or not entry.sku:
        return None, ""
    return entry.sku, entry.name


# --- what order_to_bas tells us, and asks -------------------------------------------------------
def body_hash(body: dict[str, Any], state_attribute: str | None) -> str:
    """What a document body says apart from its state, as a short stable text."""
    rest = {k: v for k, v in body.items()
            if not state_attribute or k not in (state_attribute, f"{state_attribute}_Type")}
    text = json.dumps(rest, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def document_written(*, account: KeyCrmAccount, entity_set: str, bas_ref: str, number: str,
                     keycrm_order_id: int, state_value: str | None,
                     data_version: str = "", written_hash: str = "") -> None:
    """Remember what the KeyCRM → BAS pipeline just wrote, so the next check knows the state
    as its own and sends nothing back. ``state_value`` None: the profile maps no state."""
    defaults: dict[str, Any] = {"number": number, "keycrm_order_id": keycrm_order_id,
                                "written_by_portal_at": timezone.now(),
                                "written_hash": written_hash}
    if data_version:
        defaults["data_version"] = data_version
    if state_value is not None:
        defaults["state_value"] = "" if literals.is_empty_ref(state_value) else state_value
    BasDocumentState.objects.update_or_create(account=account, entity_set=entity_set,
                                              bas_ref=bas_ref, defaults=defaults)


def order_echo(*, account: KeyCrmAccount, entity_set: str, bas_ref: str,
               updated_at: dt.datetime | None, status_id: Any, body: dict[str, Any],
               state_attribute: str | None) -> str | None:
    """Why this state of a KeyCRM order needs no write to BAS: it is the first echo of an
    order the portal created from a document made in BAS (the very ``updated_at`` and status
    KeyCRM answered the portal's write with) and the portal never wrote that document. Then
    the plan's body is adopted as what the portal wrote, so later KeyCRM changes are compared
    with it (``document_already_has``). None when the document must be written.

    Only for documents the portal never wrote: elsewhere the marker alone proves nothing, as
    KeyCRM's ``updated_at`` has whole seconds and a manager's edit in the same second as our
    status write carries the same marker."""
    if updated_at is None or status_id is None:
        return None
    state = BasDocumentState.objects.filter(account=account, entity_set=entity_set,
                                            bas_ref=bas_ref).first()
    if state is None or state.written_hash or state.written_by_portal_at is not None or \
            state.echo_updated_at != updated_at or state.echo_status_id != int(status_id):
        return None
    BasDocumentState.objects.filter(pk=state.pk).update(
        written_hash=body_hash(body, state_attribute))
    return _("This state of the order was written to KeyCRM by the portal from BAS document "
             "%(number)s; BAS already has it, nothing was written.") % {"number": state.number}


def status_written_since(*, account: KeyCrmAccount, entity_set: str, bas_ref: str,
                         updated_at: dt.datetime) -> bool:
    """Whether the portal wrote the document's BAS state to KeyCRM after ``updated_at`` (a
    snapshot of the order older than that write must not take its status back to BAS)."""
    return BasDocumentState.objects.filter(account=account, entity_set=entity_set,
                                           bas_ref=bas_ref, echo_updated_at__gt=updated_at).exists()


def document_already_has(*, account: KeyCrmAccount, entity_set: str, bas_ref: str,
                         body: dict[str, Any], state_attribute: str | None) -> str | None:
    """Why a planned write can be skipped: everything but the state is what the portal last
    wrote, and the state is the one BAS already has (as the last check saw or we wrote).
    None when the document must be written."""
    state = BasDocumentState.objects.filter(account=account, entity_set=entity_set,
                                            bas_ref=bas_ref).first()
    if state is None or not state.written_hash or not state_attribute:
        return None
    planned = str(body.get(state_attribute) or "")
    planned = "" if literals.is_empty_ref(planned) else planned
    if state.written_hash != body_hash(body, state_attribute) or planned != state.state_value:
        return None
    return _("Only the status changed, and BAS document %(number)s already has the state it "
             "corresponds to; nothing was written.") % {"number": state.number}


def state_attribute_of(profile: DocumentProfile) -> str | None:
    mapping = FieldMapping.objects.filter(profile=profile, kind=MappingKind.STATUS,
                                          attribute__section="").select_related(
        "attribute").first()
    return mapping.attribute.name if mapping else None


# --- outbox senders ----------------------------------------------------------------------------
def _order_result(order: dict[str, Any], *, found: bool = False) -> dict[str, Any]:
    return {"id": order.get("id"), "status_id": order.get("status_id"),
            "updated_at": order.get("updated_at"), "found": found}


def _send_status(client: KeyCrmClient, message: OutboxMessage) -> dict[str, Any]:
    """``PUT /order/{id}`` with the status: safe to repeat."""
    payload = message.payload
    answer = client.update_order(int(payload["order_id"]), {"status_id": payload["status_id"]})
    return _order_result(answer)


def _confirm_status(message: OutboxMessage, result: dict[str, Any]) -> None:
    # Only the marker: the register's keycrm_updated_at stays at the last state written to
    # BAS, or a manager's edit made just before this write would be dropped as "older"
    # (order_to_bas reads the order again instead, see status_written_since).
    payload = message.payload
    BasDocumentState.objects.filter(
        account_id=message.account_id, entity_set=payload["entity_set"],
        bas_ref=payload["bas_ref"]).update(echo_updated_at=_parsed(result.get("updated_at")),
                                           echo_status_id=payload["status_id"])


def _status_lock(message: OutboxMessage) -> str:
    return f"order:{int(message.payload['order_id'])}"


def _send_create(client: KeyCrmClient, message: OutboxMessage) -> dict[str, Any]:
    """``POST /order``, never twice: after any earlier attempt for this document (an answer
    may have been lost), KeyCRM is searched by ``source_uuid`` first."""
    payload = message.payload
    earlier = message.attempts > 1 or OutboxMessage.objects.filter(
        account_id=message.account_id, key=message.key).exclude(pk=message.pk).exists()
    if earlier:
        found = client.find_orders_by_source_uuid(str(payload["bas_ref"]))
        if found:
            return _order_result(found[0], found=True)
    return _order_result(client.create_order(payload["order"]))


def _confirm_create(message: OutboxMessage, result: dict[str, Any]) -> None:
    """Link both ways: the register, the document's row (with the echo marker, so the
    KeyCRM change that follows is not written back to BAS), and the state it must show."""
    payload = message.payload
    account = message.account
    order_id = int(result["id"])
    updated_at = _parsed(result.get("updated_at"))
    number = str(payload.get("number") or "")
    correspondence_set(account=account, directory=KeyCrmDirectory.ORDER, keycrm_id=order_id,
                       bas_entity_set=payload["entity_set"], bas_ref=payload["bas_ref"],
                       bas_presentation=f"{payload['entity_set']} {number}".strip(),
                       origin=CorrespondenceOrigin.IMPORTED,
                       note=_("created in KeyCRM from the BAS document"),
                       keycrm_updated_at=updated_at)
    BasDocumentState.objects.update_or_create(
        account=account, entity_set=payload["entity_set"], bas_ref=payload["bas_ref"],
        defaults={"number": number, "keycrm_order_id": order_id,
                  "data_version": payload.get("data_version") or "",
                  "state_value": payload.get("state") or "", "exported_at": timezone.now(),
                  "echo_updated_at": updated_at, "echo_status_id": result.get("status_id"),
                  "seen_at": timezone.now()})
    wanted = payload.get("status_id")
    if wanted is not None and result.get("status_id") != wanted:
        outbox_put(account=account, kind=STATUS_KIND, key=f"order:{order_id}:status",
                   payload={"order_id": order_id, "status_id": wanted,
                            "entity_set": payload["entity_set"], "bas_ref": payload["bas_ref"]},
                   cause=_("%(document)s %(number)s: the state it has in BAS") % {
                       "document": payload["entity_set"], "number": number})


def _parsed(value: Any) -> dt.datetime | None:
    try:
        return parse_keycrm_datetime(value) if isinstance(value, str) else None
    except ValueError:
        return None


register_sender(STATUS_KIND, Sender(send=_send_status, confirm=_confirm_status,
                                    lock=_status_lock))
register_sender(CREATE_KIND, Sender(send=_send_create, confirm=_confirm_create))
