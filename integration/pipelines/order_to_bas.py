"""A KeyCRM order becomes its BAS document (ARCHITECTURE: snapshot → plan → resolve → write →
record).

Idempotent by design: the document is found through the correspondence register, or — when an
answer was lost before the link was stored — by the KeyCRM order number kept in the document,
before anything is created; an older state of an order is never written over a newer one.
Raises nothing for expected failures: every ending is an ``Outcome``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from typing import Any

from django.utils.translation import gettext as _

from catalogue.models import CatalogueSettings
from integration.bas import literals
from integration.bas.client import BasClient, BasError, BasErrorKind
from integration.bas.configurations import BasConfiguration
from integration.keycrm.client import KeyCrmClient, KeyCrmError
from integration.keycrm.timestamps import parse_keycrm_datetime
from integration.pipelines.bas_changes import (
    body_hash,
    document_already_has,
    document_written,
    order_echo,
    state_attribute_of,
    status_written_since,
)
from integration.pipelines.catalog_to_bas import CatalogueConfigError, item_create_defaults
from mappings.engine.plan import (
    CHARACTERISTIC,
    DocumentPlan,
    PlannedCreation,
    ProblemKind,
    plan_document,
)
from mappings.engine.resolve import Resolver
from mappings.models import (
    Correspondence,
    CorrespondenceOrigin,
    DocumentProfile,
    KeyCrmDirectory,
)
from mappings.services.correspondence import correspondence_set
from staging.models import InboundRecord, RecordSource, RecordState
from staging.services.queue import Outcome, lock_release, lock_wait

logger = logging.getLogger(__name__)

NOMENCLATURE = "Catalog_Номенклатура"
CHARACTERISTICS = "Catalog_ХарактеристикиНоменклатуры"


@dataclasses.dataclass
class Clients:
    keycrm: KeyCrmClient
    bas: BasClient

    def close(self) -> None:
        self.keycrm.close()
        self.bas.close()


class _Stop(Exception):
    """Ends processing with an outcome (a domain ending, not a crash)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


def order_to_bas(*, record: InboundRecord, clients: Clients, worker: str = "") -> Outcome:
    """Bring the BAS document of the record's order to the order's latest known state."""
    try:
        return _run(record, clients, worker or f"pipeline:{record.pk}")
    except _Stop as stop:
        return stop.outcome
    except BasError as exc:
        return _bas_outcome(exc)
    except KeyCrmError as exc:
        if exc.retryable:
            return Outcome(RecordState.RETRY, f"KeyCRM: {exc}", "keycrm")
        return Outcome(RecordState.WAITING, _("KeyCRM refused: %(error)s") % {"error": exc},
                       "keycrm")


def _run(record: InboundRecord, clients: Clients, worker: str) -> Outcome:
    account = record.account
    profile = DocumentProfile.objects.filter(account=account).first()
    if profile is None or not profile.document_set:
        raise _Stop(Outcome(RecordState.WAITING, _(
            "The account has no document profile: choose the BAS document its orders become."),
            ProblemKind.CONFIGURATION))
    if account.bas_connection is None:
        raise _Stop(Outcome(RecordState.WAITING, _("The account has no BAS connection."),
                            ProblemKind.CONFIGURATION))
    order = _snapshot(record, clients.keycrm)
    order_id = int(order["id"])
    updated_at = _parsed(order.get("updated_at"))
    resolver = Resolver(account=account, bas=clients.bas)
    link = resolver.correspondence(KeyCrmDirectory.ORDER, order_id)
    if link and link.keycrm_updated_at and updated_at and updated_at < link.keycrm_updated_at:
        return Outcome(RecordState.DONE, _("A newer state of this order is already in BAS; "
                                           "this older one was not written."),
                       document_set=link.bas_entity_set,
                       document_ref=str(link.bas_ref))
    if link and updated_at and status_written_since(
            account=account, entity_set=link.bas_entity_set, bas_ref=str(link.bas_ref),
            updated_at=updated_at):
        # The portal has since written BAS's state to KeyCRM: this snapshot's status is older
        # than the document's, while its other changes must still reach BAS. The order as
        # KeyCRM has it now carries both.
        order = clients.keycrm.get_order(order_id)
        updated_at = _parsed(order.get("updated_at"))
    plan = plan_document(profile=profile, order=order, resolver=resolver)
    if plan.problems:
        kinds = {p.kind for p in plan.problems}
        state = RecordState.RETRY if kinds == {ProblemKind.BAS} else RecordState.WAITING
        kind = ProblemKind.BAS if state == RecordState.RETRY else sorted(kinds - {
            ProblemKind.BAS})[0]
        return Outcome(state, "; ".join(str(p) for p in plan.problems), kind)
    if link and not plan.creations and (same := _needs_no_write(
            account, link, plan, profile, updated_at, order.get("status_id"))):
        return Outcome(RecordState.DONE, same, document_set=link.bas_entity_set,
                       document_ref=str(link.bas_ref))
    created = [note for creation in plan.creations
               if (note := _create_once(creation, plan, account, clients.bas, worker))]
    document = _write(plan, profile, link, clients.bas,
                      search_first=link is None and _touched_before(record))
    _record_matches(plan, account)
    ref = document["Ref_Key"]
    number = document.get("Number") or ""
    correspondence_set(
        account=account, directory=KeyCrmDirectory.ORDER, keycrm_id=order_id,
        bas_entity_set=profile.document_set, bas_ref=ref,
        bas_presentation=f"{profile.document_set} {number}".strip(),
        origin=CorrespondenceOrigin.CREATED, note=_("order %(id)s") % {"id": plan.order_number},
        keycrm_updated_at=updated_at)
    if profile.post_documents:
        try:
            clients.bas.post_document(profile.document_set, ref)
        except BasError as exc:
            # The saved document holds the plan's state: the BAS check must take it for our
            # own (not send it to KeyCRM, whose confirm would then make the retry look like a
            # no-op), while the empty hash makes the retry write and post again.
            _remember_written(plan, profile, document, order_id, complete=False)
            outcome = _bas_outcome(exc, stage="posting")
            return dataclasses.replace(outcome, document_set=profile.document_set,
                                       document_ref=ref, document_number=number)
    # Only once the document is complete (posted when the profile posts): a retry after a
    # failed posting must not take the saved document for one that needs nothing more.
    _remember_written(plan, profile, document, order_id)
    done = _("%(set)s %(number)s posted") if profile.post_documents else \
        _("%(set)s %(number)s saved")
    message = "; ".join([done % {"set": profile.document_set, "number": number}, *created])
    return Outcome(RecordState.DONE, message, document_set=profile.document_set,
                   document_ref=ref, document_number=number)


def _needs_no_write(account: Any, link: Any, plan: DocumentPlan, profile: DocumentProfile,
                   updated_at: Any, status_id: Any) -> str | None:
    """Why the document needs no write (None: it does): BAS already has all the plan says,
    or this is the first KeyCRM echo of an order the portal created from the document."""
    attribute = state_attribute_of(profile)
    body = plan.body()
    where = {"account": account, "entity_set": link.bas_entity_set, "bas_ref": str(link.bas_ref)}
    return document_already_has(**where, body=body, state_attribute=attribute) or order_echo(
        **where, updated_at=updated_at, status_id=status_id, body=body,
        state_attribute=attribute)


def _remember_written(plan: DocumentPlan, profile: DocumentProfile, document: dict[str, Any],
                      order_id: int, *, complete: bool = True) -> None:
    """Tell the BAS → KeyCRM check which state this write gave the document: when it next sees
    the document changed with that same state, the change is ours and goes nowhere. An
    incomplete write (posting failed) leaves no body hash, so nothing takes it for done."""
    attribute = state_attribute_of(profile)
    planned = plan.header.get(attribute) if attribute else None
    document_written(
        account=profile.account, entity_set=profile.document_set, bas_ref=document["Ref_Key"],
        number=document.get("Number") or "", keycrm_order_id=order_id,
        state_value=None if planned is None else str(planned.value or ""),
        data_version=str(document.get("DataVersion") or ""),
        written_hash=body_hash(plan.body(), attribute) if complete else "")


def _snapshot(record: InboundRecord, keycrm: KeyCrmClient) -> dict[str, Any]:
    """The order as KeyCRM last had it: the newest stored full snapshot when it is at least as
    new as this record, else one GET with everything accounting needs."""
    newest = (InboundRecord.objects.filter(
        account=record.account, keycrm_order_id=record.keycrm_order_id,
        source__in=(RecordSource.POLL, RecordSource.BACKFILL), payload__isnull=False,
        order_updated_at__isnull=False).order_by("-order_updated_at", "-id").first())
    if newest and (record.order_updated_at is None
                   or newest.order_updated_at >= record.order_updated_at):
        return newest.payload
    if record.keycrm_order_id is None:
        raise _Stop(Outcome(RecordState.WAITING, _("The record names no KeyCRM order."),
                            ProblemKind.DATA))
    try:
        return keycrm.get_order(record.keycrm_order_id)
    except KeyCrmError as exc:
        if exc.status == 404:
            raise _Stop(Outcome(RecordState.WAITING, _("KeyCRM has no order %(id)s (deleted?)")
                                % {"id": record.keycrm_order_id}, ProblemKind.DATA)) from exc
        raise


def _touched_before(record: InboundRecord) -> bool:
    """Whether any earlier attempt for this order may have reached BAS. Only then can a
    document exist that the register does not know (a worker died between the POST and the
    link), so only then is BAS searched before creating — the first attempt goes straight to
    the protocol minimum: one create, one post."""
    return record.attempts > 1 or InboundRecord.objects.filter(
        account=record.account, keycrm_order_id=record.keycrm_order_id, attempts__gt=0,
    ).exclude(pk=record.pk).exists()


def _record_matches(plan: DocumentPlan, account: Any) -> None:
    """Remember each element found by search (counterparty by phone, item by SKU), with how."""
    seen = set()
    for row in [plan.header, *plan.lines]:
        for planned in row.values():
            if planned.matched and planned.matched[:2] not in seen:
                seen.add(planned.matched[:2])
                directory, keycrm_id, entity_set = planned.matched
                correspondence_set(account=account, directory=directory, keycrm_id=keycrm_id,
                                   bas_entity_set=entity_set, bas_ref=planned.value,
                                   origin=CorrespondenceOrigin.MATCHED, note=planned.how)


def _write(plan: DocumentPlan, profile: DocumentProfile, link: Any, bas: BasClient, *,
           search_first: bool) -> dict[str, Any]:
    body = plan.body()
    entity_set = profile.document_set
    if link is not None:
        try:
            return _patched(bas, entity_set, str(link.bas_ref), body)
        except BasError as exc:
            if exc.kind != BasErrorKind.NOT_FOUND:
                raise
            # Deleted in BAS: look for it by its number, or make it again.
    ref = None
    verify = None
    if profile.order_id_attribute:
        verify = (f"{profile.order_id_attribute} eq {literals.string(plan.order_number)} "
                  "and DeletionMark eq false")
        if search_first:
            found = bas.list(entity_set, filter=verify, top=2, select=["Ref_Key", "Number"])
            if len(found) > 1:
                raise _Stop(Outcome(
                    RecordState.WAITING, _("%(n)s documents in %(set)s carry %(marker)s; mark "
                                           "the extra ones for deletion in BAS.") % {
                        "n": len(found), "set": entity_set, "marker": plan.order_number},
                    ProblemKind.CONFIGURATION))
            ref = found[0]["Ref_Key"] if found else None
    if ref is not None:
        return _patched(bas, entity_set, ref, body)
    return bas.create(entity_set, body, verify_filter=verify)


def _patched(bas: BasClient, entity_set: str, ref: str, body: dict[str, Any]) -> dict[str, Any]:
    """PATCH, and the document's number: from the answer when BAS returns the entity, else
    read back."""
    answer = bas.patch(entity_set, ref, body)
    if answer.get("Ref_Key") and "Number" in answer:
        return answer
    return bas.get(entity_set, ref, select=["Ref_Key", "Number"])


def _create_once(creation: PlannedCreation, plan: DocumentPlan, account: Any, bas: BasClient,
                 worker: str) -> str | None:
    """Create an element the plan needs — once, however many workers need it at the same
    moment (two orders of one new buyer): under a lock, the register and BAS are asked again
    first."""
    identity = f"{creation.entity_set}|{_creation_filter(creation)}"
    name = f"create:{hashlib.sha1(identity.encode()).hexdigest()}"  # noqa: S324 - a name
    if not lock_wait(account_id=account.pk, name=name, holder=worker, timeout=60):
        raise _Stop(Outcome(RecordState.RETRY, _("another worker is creating %(element)s")
                            % {"element": creation.placeholder}, "busy"))
    try:
        return _create(creation, plan, account, bas)
    finally:
        lock_release(account_id=account.pk, name=name, holder=worker)


def _create(creation: PlannedCreation, plan: DocumentPlan, account: Any,
            bas: BasClient) -> str | None:
    """Create an element the plan needs and put its reference where the plan waits for it;
    an element another worker created meanwhile is found by its register link or in BAS.
    Returns a note of what was created (None when it already existed)."""
    link = None
    if creation.directory and creation.keycrm_id is not None:
        link = Correspondence.objects.filter(account=account, directory=creation.directory,
                                             keycrm_id=creation.keycrm_id).first()
    if link is not None:
        _fill(plan, creation, str(link.bas_ref),
              str(link.bas_characteristic_ref) if link.bas_characteristic_ref else None)
        return None
    body = dict(creation.body)
    if creation.entity_set == NOMENCLATURE:
        body.update(_new_item_defaults(account, with_characteristic=bool(
            creation.characteristic and bas.metadata().has(CHARACTERISTICS))))
    if creation.entity_set == NOMENCLATURE and creation.group_path:
        body["Parent_Key"] = _group(bas, creation.group_path)
    verify = _creation_filter(creation)
    created = bas.create(creation.entity_set, body, verify_filter=verify)
    ref = created["Ref_Key"]
    characteristic = None
    if creation.characteristic and bas.metadata().has(CHARACTERISTICS):
        characteristic = bas.create(CHARACTERISTICS, {
            "Description": creation.characteristic, "Owner": ref,
            "Owner_Type": f"StandardODATA.{NOMENCLATURE}"},
            verify_filter=(f"Owner eq {literals.cast(ref, NOMENCLATURE)} and Description eq "
                           f"{literals.string(creation.characteristic)}"))["Ref_Key"]
    if creation.directory and creation.keycrm_id is not None:
        correspondence_set(account=account, directory=creation.directory,
                           keycrm_id=creation.keycrm_id, bas_entity_set=creation.entity_set,
                           bas_ref=ref, bas_characteristic_ref=characteristic,
                           bas_presentation=str(body.get("Description", "")),
                           origin=CorrespondenceOrigin.CREATED, note=creation.reason)
    _fill(plan, creation, ref, characteristic)
    return _("created in %(set)s: «%(name)s» because %(reason)s") % {
        "set": creation.entity_set, "name": body.get("Description", ""),
        "reason": creation.reason}


def _new_item_defaults(account: Any, *, with_characteristic: bool) -> dict[str, Any]:
    """What BAS requires of a new item beyond its name (kind, unit, category…): the defaults
    the catalogue import uses, from the account's catalogue settings."""
    configuration = account.bas_connection.configuration
    settings = CatalogueSettings.objects.filter(account=account).first() \
        or CatalogueSettings(account=account)
    try:
        defaults = item_create_defaults(settings, configuration)
    except CatalogueConfigError as exc:
        raise _Stop(Outcome(
            RecordState.WAITING, _("A new item cannot be created in BAS: %(error)s (Catalogue "
                                   "settings of the account, “defaults for a new item”).")
            % {"error": exc}, ProblemKind.CONFIGURATION)) from exc
    if configuration != BasConfiguration.ACCOUNTING:
        defaults["ИспользоватьХарактеристики"] = with_characteristic
    return defaults


def _fill(plan: DocumentPlan, creation: PlannedCreation, ref: str,
          characteristic: str | None) -> None:
    for row in [plan.header, *plan.lines]:
        for planned in list(row.values()):
            if planned.creation is creation:
                planned.creation, planned.value = None, ref
                if characteristic and row is not plan.header and CHARACTERISTIC not in row:
                    row[CHARACTERISTIC] = dataclasses.replace(
                        planned, value=characteristic, type_name=None,
                        how=_("characteristic created with the item"))


def _creation_filter(creation: PlannedCreation) -> str:
    body = creation.body
    if creation.entity_set == NOMENCLATURE and body.get("Артикул"):
        return f"Артикул eq {literals.string(body['Артикул'])} and IsFolder eq false"
    if body.get("Комментарий"):
        return (f"Комментарий eq {literals.string(body['Комментарий'])} and "
                "DeletionMark eq false")
    return f"Description eq {literals.string(str(body.get('Description', '')))}"


def _group(bas: BasClient, path: tuple[str, ...]) -> str:
    """The nomenclature group at ``path`` (root first), created where missing."""
    parent = literals.EMPTY_REF
    for name in path:
        condition = (f"IsFolder eq true and Parent_Key eq {literals.guid(parent)} and "
                     f"Description eq {literals.string(name)}")
        found = bas.list(NOMENCLATURE, filter=condition, top=1, select=["Ref_Key"])
        parent = found[0]["Ref_Key"] if found else bas.create(
            NOMENCLATURE, {"IsFolder": True, "Description": name, "Parent_Key": parent},
            verify_filter=condition)["Ref_Key"]
    return parent


def _bas_outcome(exc: BasError, stage: str = "") -> Outcome:
    where = (_(" while posting") if stage == "posting" else f" ({stage})") if stage else ""
    if exc.business:
        return Outcome(RecordState.WAITING, _("BAS refused%(where)s: %(error)s") % {
            "where": where, "error": exc.message}, "business")
    if exc.retryable:
        return Outcome(RecordState.RETRY, f"BAS{where}: {exc.message}", "bas")
    if exc.kind in (BasErrorKind.AUTH, BasErrorKind.NOT_PUBLISHED, BasErrorKind.NOT_ODATA):
        return Outcome(RecordState.WAITING, f"BAS{where}: {exc.message}",
                       ProblemKind.CONFIGURATION)
    return Outcome(RecordState.WAITING, f"BAS{where}: {exc.message}", "bas")


def _parsed(value: Any) -> Any:
    try:
        return parse_keycrm_datetime(value) if isinstance(value, str) else None
    except ValueError:
        return None
