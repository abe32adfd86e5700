"""Free balances BAS → KeyCRM: read, map, compare with what KeyCRM last confirmed, queue.

1. **read** — ``Balance`` of the configuration's stock register (``objects_for(...)
   .stock_register``), restricted to the chosen warehouses (1C has no ``in``: an ``or`` chain),
   summed client-side per (nomenclature, characteristic) — the ``Dimensions`` argument is not
   relied on (bas-odata.md §11 lists it as unverified per platform build). With "subtract
   reserves": Small Business keeps reserves in ``AccumulationRegister_Запасы`` (records whose
   ``ЗаказПокупателя`` is filled); ERP/UT keep them in the same ``СвободныеОстатки`` register
   (``ВРезервеСоСклада``; ``ВРезервеПодЗаказ`` reserves goods still to arrive, so it is not
   subtracted from what is on hand). A negative free balance is sent as 0. BAS Accounting has
   no stock accumulation register (stock lives in the accounting register, accounts 28x), so
   export is refused for it with a configuration error.
2. **map** — a KeyCRM offer gets the balance of the BAS item it is linked to, in this order:
   the correspondence register's *offer* rows (nomenclature + characteristic); its *product*
   rows when the product has exactly one offer in the mirrored offers directory; and, for items
   without a characteristic that neither links, the item's ``Артикул`` equal to exactly one
   mirrored offer's SKU. Items linked to no offer are counted, not sent.
3. **delta** — against ``PushedStock``, which only outbox confirmations write: an offer is sent
   when its quantity differs from the one KeyCRM last accepted (never pushed: always sent); a
   linked offer that vanished from the balances goes to 0.
4. **guard** — when more than the settings' share of the offers KeyCRM shows in stock would
   drop to zero at once, nothing is queued and the reason is stored on the settings row.
5. **queue** — one outbox message per ``STOCK_BATCH_SIZE`` items (``PUT /offers/stocks``
   takes up to 10,000), keyed by the batch's content, in the fewest calls possible. A dry run
   stops before this step and returns counts, the first rows and the guard's verdict.

``PUT /offers/stocks`` writes absolute quantities, so a repeated message is harmless.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import KeyCrmAccount
from integration.bas.client import BasClient, BasError
from integration.bas.configurations import BasConfiguration, objects_for
from integration.bas.literals import EMPTY_REF, any_of, guid
from integration.keycrm.client import KeyCrmClient
from mappings.models import Correspondence, DirectoryEntry, KeyCrmDirectory
from runs.models import Run
from runs.services import run_progress
from staging.models import OUTBOX_PENDING, OutboxMessage, OutboxState
from staging.services.outbox import Sender, outbox_put, register_sender
from staging.services.queue import lock_acquire, lock_release
from stock.models import PushedStock, StockSettings

STOCK_KIND = "stock.push"
PREVIEW_ROWS = 20
QUANTUM = Decimal("0.001")

ItemKey = tuple[str, str]  # (nomenclature Ref_Key, characteristic Ref_Key or EMPTY_REF)


class StockExportError(Exception):
    """The export cannot run as configured; the message says what to fix."""


@dataclasses.dataclass(frozen=True)
class RegisterShape:
    """Where a stock register keeps the warehouse, what is on hand, and the reserves."""

    warehouse: str
    on_hand: str
    reserved: tuple[str, ...] = ()  # resources of the same register
    reserve_register: str | None = None  # a separate register of reserves
    reserve_resource: str = ""
    reserve_condition: str = ""


SHAPES: dict[str, RegisterShape] = {
    "AccumulationRegister_ЗапасыНаСкладах": RegisterShape(
        warehouse="СтруктурнаяЕдиница", on_hand="Количество",
        reserve_register="AccumulationRegister_Запасы", reserve_resource="Количество",
        reserve_condition=f"ЗаказПокупателя_Key ne {guid(EMPTY_REF)}"),
    "AccumulationRegister_СвободныеОстатки": RegisterShape(
        warehouse="Склад", on_hand="ВНаличии", reserved=("ВРезервеСоСклада",)),
}


def stock_export_unavailable(configuration: str) -> str:
    """Why a configuration cannot export stock, or "" when it can."""
    register = objects_for(configuration).stock_register
    if register is None:
        return _("Stock export is not available for %(configuration)s: the configuration has no "
                 "stock accumulation register (its stock lives in the accounting register, "
                 "accounts 28x), and reading that through OData is not documented well enough "
                 "to rely on.") % {"configuration": BasConfiguration(configuration).label}
    if register not in SHAPES:
        return _("Stock export does not know the register %(register)s.") % {
            "register": register}
    return ""


# --- 1. read -----------------------------------------------------------------------------------
def stock_read_balances(*, client: BasClient, register: str, warehouses: list[str],
                        subtract_reserves: bool) -> dict[ItemKey, Decimal]:
    """Free quantity per (nomenclature, characteristic) summed over ``warehouses``. Raises
    ``BasError`` from the client, ``StockExportError`` when no warehouse is chosen."""
    if not warehouses:
        raise StockExportError(_("Choose at least one BAS warehouse in the stock export "
                                 "settings."))
    shape = SHAPES[register]
    where = any_of(f"{shape.warehouse}_Key", [guid(w) for w in warehouses])
    resources = [shape.on_hand, *(shape.reserved if subtract_reserves else ())]
    totals: dict[ItemKey, Decimal] = defaultdict(Decimal)
    for row in client.balance(register, condition=where, select=_select(resources)):
        quantity = _number(row, shape.on_hand) - sum(
            (_number(row, name) for name in resources[1:]), Decimal(0))
        totals[_item_key(row)] += quantity
    if subtract_reserves and shape.reserve_register:
        condition = f"{where} and {shape.reserve_condition}"
        for row in client.balance(shape.reserve_register, condition=condition,
                                  select=_select([shape.reserve_resource])):
            totals[_item_key(row)] -= _number(row, shape.reserve_resource)
    return dict(totals)


def _select(resources: list[str]) -> list[str]:
    return ["Номенклатура_Key", "Характеристика_Key", *(f"{r}Balance" for r in resources)]


def _item_key(row: Mapping[str, Any]) -> ItemKey:
    return (str(row.get("Номенклатура_Key") or EMPTY_REF).lower(),
            str(row.get("Характеристика_Key") or EMPTY_REF).lower())


def _number(row: Mapping[str, Any], resource: str) -> Decimal:
    return Decimal(str(row.get(f"{resource}Balance") or 0))


# --- 2. map ------------------------------------------------------------------------------------
def stock_offer_links(*, account: KeyCrmAccount, client: BasClient | None,
                      nomenclature_set: str,
                      balance_keys: Iterable[ItemKey]) -> dict[int, ItemKey]:
    """KeyCRM offer id → the BAS item whose balance it shows (see the module docstring for the
    order of the rules). ``client`` None skips the ``Артикул`` rule (no BAS reads)."""
    links: dict[int, ItemKey] = {}
    rows = Correspondence.objects.filter(
        account=account, directory__in=(KeyCrmDirectory.OFFER, KeyCrmDirectory.PRODUCT),
    ).values_list("directory", "keycrm_id", "bas_ref", "bas_characteristic_ref")
    products: dict[int, ItemKey] = {}
    for directory, keycrm_id, bas_ref, characteristic in rows:
        key = (str(bas_ref).lower(), str(characteristic or EMPTY_REF).lower())
        if directory == KeyCrmDirectory.OFFER:
            links[keycrm_id] = key
        else:
            products[keycrm_id] = key
    offers = DirectoryEntry.objects.filter(account=account, directory=KeyCrmDirectory.OFFER,
                                           is_active=True)
    if products:
        by_product: dict[int, list[int]] = defaultdict(list)
        for offer_id, product_id in offers.filter(parent_keycrm_id__in=products).values_list(
                "keycrm_id", "parent_keycrm_id"):
            by_product[product_id].append(offer_id)
        for product_id, offer_ids in by_product.items():
            if len(offer_ids) == 1:
                links.setdefault(offer_ids[0], products[product_id])
    linked_items = set(links.values())
    unlinked = sorted({nom for nom, char in balance_keys
                       if char == EMPTY_REF and (nom, char) not in linked_items})
    if client is not None and unlinked:
        links.update(_links_by_article(account=account, client=client, offers=offers,
                                       nomenclature_set=nomenclature_set, refs=unlinked,
                                       taken=set(links)))
    return links


def _links_by_article(*, account: KeyCrmAccount, client: BasClient, offers: Any,
                      nomenclature_set: str, refs: list[str],
                      taken: set[int]) -> dict[int, ItemKey]:
    by_sku: dict[str, list[int]] = defaultdict(list)
    for offer_id, sku in offers.exclude(sku="").values_list("keycrm_id", "sku"):
        by_sku[sku.strip()].append(offer_id)
    if not by_sku:
        return {}
    links: dict[int, ItemKey] = {}
    for item in client.get_by_keys(nomenclature_set, refs, select=["Ref_Key", "Артикул"]):
        matches = by_sku.get(str(item.get("Артикул") or "").strip(), [])
        if len(matches) == 1 and matches[0] not in taken:
            links[matches[0]] = (str(item["Ref_Key"]).lower(), EMPTY_REF)
    return links


# --- 3 and 4. delta and guard --------------------------------------------------------------------
@dataclasses.dataclass
class StockPlan:
    warehouse_id: int
    changes: list[tuple[int, Decimal]]  # (offer id, quantity), by offer id
    offers: int  # linked offers considered
    unlinked_items: int  # BAS items with a balance and no offer
    in_stock_before: int  # linked offers KeyCRM was last told are in stock
    dropping_to_zero: int
    refusal: str = ""


def stock_plan(*, links: Mapping[int, ItemKey], balances: Mapping[ItemKey, Decimal],
               pushed: Mapping[int, Decimal], warehouse_id: int,
               zero_drop_percent: int) -> StockPlan:
    """What to send, and whether the guard lets it go. Pure: no reads, no writes."""
    changes: list[tuple[int, Decimal]] = []
    in_stock_before = dropping = 0
    for offer_id in sorted(links):
        quantity = max(Decimal(0), balances.get(links[offer_id], Decimal(0))).quantize(
            QUANTUM, rounding=ROUND_HALF_UP)
        before = pushed.get(offer_id)
        if before is not None and before > 0:
            in_stock_before += 1
            if quantity == 0:
                dropping += 1
        if before is None or before != quantity:
            changes.append((offer_id, quantity))
    linked_items = set(links.values())
    plan = StockPlan(warehouse_id=warehouse_id, changes=changes, offers=len(links),
                     unlinked_items=sum(1 for key, qty in balances.items()
                                        if qty > 0 and key not in linked_items),
                     in_stock_before=in_stock_before, dropping_to_zero=dropping)
    if in_stock_before and dropping * 100 > zero_drop_percent * in_stock_before:
        plan.refusal = _(
            "Refused: %(dropping)d of %(before)d offers in stock (%(share).0f %%) would drop to "
            "zero at once, more than the %(limit)d %% the guard allows. Check that the BAS "
            "base is complete and the warehouses are right, then push again or raise the "
            "threshold.") % {"dropping": dropping, "before": in_stock_before,
                             "share": 100 * dropping / in_stock_before,
                             "limit": zero_drop_percent}
    return plan


# --- 5. queue ----------------------------------------------------------------------------------
def stock_batches(changes: list[tuple[int, Decimal]], *, batch_size: int) -> list[list[dict]]:
    items = [{"id": offer_id, "quantity": _quantity_json(quantity)}
             for offer_id, quantity in changes]
    return [items[i:i + batch_size] for i in range(0, len(items), batch_size)]


def _quantity_json(quantity: Decimal) -> int | float:
    return int(quantity) if quantity == quantity.to_integral_value() else float(quantity)


def stock_pending_messages(*, account: KeyCrmAccount, warehouse_id: int) -> int:
    return OutboxMessage.objects.filter(
        account=account, kind=STOCK_KIND, key__startswith=f"stock:{warehouse_id}:",
        state__in=(*OUTBOX_PENDING, OutboxState.SENDING)).count()


def stock_queue(*, account: KeyCrmAccount, plan: StockPlan, batch_size: int,
                cause: str) -> list[OutboxMessage]:
    """One outbox message per batch, in one transaction. Older stock messages of this
    warehouse that wait for a person are superseded: this push is computed against what KeyCRM
    confirmed, so it already carries whatever they did not deliver."""
    messages = []
    with transaction.atomic():
        OutboxMessage.objects.filter(
            account=account, kind=STOCK_KIND, key__startswith=f"stock:{plan.warehouse_id}:",
            state__in=(OutboxState.WAITING, OutboxState.FAILED),
        ).update(state=OutboxState.SUPERSEDED, message=_("replaced by a newer stock push"))
        for batch in stock_batches(plan.changes, batch_size=batch_size):
            payload = {"warehouse_id": plan.warehouse_id, "stocks": batch}
            digest = hashlib.sha1(json.dumps(payload, sort_keys=True).encode(),
                                  usedforsecurity=False).hexdigest()[:20]
            messages.append(outbox_put(account=account, kind=STOCK_KIND,
                                       key=f"stock:{plan.warehouse_id}:{digest}",
                                       payload=payload, cause=cause))
    return messages


# --- the whole push ------------------------------------------------------------------------------
@dataclasses.dataclass
class StockPushResult:
    state: str  # queued | unchanged | refused | busy | dry_run
    summary: str
    offers: int = 0
    changed: int = 0
    messages: int = 0
    unlinked_items: int = 0
    in_stock_before: int = 0
    dropping_to_zero: int = 0
    refusal: str = ""
    preview: list[dict] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def stock_push(*, account: KeyCrmAccount, dry_run: bool = False, run: Run | None = None,
               batch_size: int | None = None, worker: str = "stock") -> StockPushResult:
    """Read, compare, guard and queue one account's free balances (see the module docstring).

    Idempotent: a repeat queues only what KeyCRM has not confirmed, and equal batches share a
    key. A push while the previous one is still being sent queues nothing (state ``busy``),
    so two pushes never race for the same offers. Raises ``StockExportError`` (configuration)
    and ``BasError`` (reading BAS); the settings row keeps the last error, refusal and summary
    — except for a dry run, which changes nothing at all."""
    stock_settings = StockSettings.objects.select_related("account__bas_connection").get(
        account=account)
    now = timezone.now()
    if not dry_run:
        StockSettings.objects.filter(pk=stock_settings.pk).update(last_run_at=now)
    try:
        result = _push(stock_settings, dry_run=dry_run, run=run, worker=worker,
                       batch_size=batch_size or settings.STOCK_BATCH_SIZE)
    except (StockExportError, BasError) as exc:
        if not dry_run:
            StockSettings.objects.filter(pk=stock_settings.pk).update(
                last_error=str(exc)[:2000], last_error_at=timezone.now())
        raise
    if dry_run:
        return result
    fields: dict[str, Any] = {"last_summary": result.summary[:500]}
    if result.state == "refused":
        fields.update(last_refusal=result.refusal, last_refusal_at=now)
    elif result.state in ("queued", "unchanged"):
        fields.update(last_success_at=now, last_error="", last_refusal="")
    StockSettings.objects.filter(pk=stock_settings.pk).update(**fields)
    return result


def _push(stock_settings: StockSettings, *, dry_run: bool, run: Run | None, worker: str,
          batch_size: int) -> StockPushResult:
    account = stock_settings.account
    connection = account.bas_connection
    if connection is None:
        raise StockExportError(_("The account has no BAS connection."))
    unavailable = stock_export_unavailable(connection.configuration)
    if unavailable:
        raise StockExportError(unavailable)
    warehouse_id = stock_settings.keycrm_warehouse_id
    lock = f"stock:{warehouse_id}"
    if not dry_run and not lock_acquire(account_id=account.pk, name=lock, holder=worker):
        return StockPushResult(state="busy", summary=_(
            "Another stock push of this warehouse is running; nothing queued."))
    try:
        if not dry_run:
            pending = stock_pending_messages(account=account, warehouse_id=warehouse_id)
            if pending:
                return StockPushResult(state="busy", summary=_(
                    "The previous push is still being sent (%(count)d message(s)); nothing "
                    "queued.") % {"count": pending})
        plan = _plan(stock_settings, connection=connection, run=run)
        return _outcome(account, plan, dry_run=dry_run, run=run, batch_size=batch_size)
    finally:
        if not dry_run:
            lock_release(account_id=account.pk, name=lock, holder=worker)


def _plan(stock_settings: StockSettings, *, connection: Any, run: Run | None) -> StockPlan:
    objects = objects_for(connection.configuration)
    assert objects.stock_register is not None  # stock_export_unavailable said so
    warehouses = [str(uuid.UUID(str(w))) for w in stock_settings.bas_warehouses]
    if run is not None:
        run_progress(run, message=_("Reading balances from BAS…"), force=True)
    client = BasClient.for_connection(connection)
    try:
        balances = stock_read_balances(client=client, register=objects.stock_register,
                                       warehouses=warehouses,
                                       subtract_reserves=stock_settings.subtract_reserves)
        links = stock_offer_links(account=stock_settings.account, client=client,
                                  nomenclature_set=objects.nomenclature,
                                  balance_keys=balances)
    finally:
        client.close()
    pushed = dict(PushedStock.objects.filter(
        account=stock_settings.account, keycrm_warehouse_id=stock_settings.keycrm_warehouse_id,
    ).values_list("offer_id", "quantity"))
    return stock_plan(links=links, balances=balances, pushed=pushed,
                      warehouse_id=stock_settings.keycrm_warehouse_id,
                      zero_drop_percent=stock_settings.zero_drop_percent)


def _outcome(account: KeyCrmAccount, plan: StockPlan, *, dry_run: bool, run: Run | None,
             batch_size: int) -> StockPushResult:
    calls = -(-len(plan.changes) // batch_size)
    result = StockPushResult(
        state="refused" if plan.refusal else "unchanged", summary="", offers=plan.offers,
        changed=len(plan.changes), messages=calls, unlinked_items=plan.unlinked_items,
        in_stock_before=plan.in_stock_before, dropping_to_zero=plan.dropping_to_zero,
        refusal=plan.refusal,
        preview=[{"id": offer_id, "quantity": _quantity_json(quantity)}
                 for offer_id, quantity in plan.changes[:PREVIEW_ROWS]])
    counts = {"changed": len(plan.changes), "offers": plan.offers, "calls": calls,
              "unlinked": plan.unlinked_items}
    if dry_run:
        result.state = "dry_run"
        result.summary = (plan.refusal + " " if plan.refusal else "") + _(
            "Dry run: %(changed)d of %(offers)d offers would be sent in %(calls)d call(s); "
            "%(unlinked)d BAS item(s) in stock are linked to no offer.") % counts
        return result
    if plan.refusal:
        result.summary, result.messages = plan.refusal, 0
        return result
    if not plan.changes:
        result.summary = _("Nothing changed in %(offers)d offers.") % counts
        return result
    if run is not None:
        run_progress(run, total=len(plan.changes), done=0, force=True)
    stock_queue(account=account, plan=plan, batch_size=batch_size,
                cause=_("stock push: %(changed)d of %(offers)d offers changed") % {
                    "changed": len(plan.changes), "offers": plan.offers})
    if run is not None:
        run_progress(run, done=len(plan.changes), force=True)
    result.state = "queued"
    result.summary = _("%(changed)d of %(offers)d offers queued in %(calls)d call(s); "
                       "%(unlinked)d BAS item(s) in stock are linked to no offer.") % counts
    return result


# --- the outbox sender ---------------------------------------------------------------------------
def _send(client: KeyCrmClient, message: OutboxMessage) -> dict[str, int]:
    """One ``PUT /offers/stocks``: absolute quantities, so safe to repeat after a lost answer."""
    client.request("PUT", "/offers/stocks", json_body=message.payload)
    return {"items": len(message.payload["stocks"])}


def _confirm(message: OutboxMessage, result: Any) -> None:
    """KeyCRM accepted the batch: these are now the quantities it shows."""
    now = timezone.now()
    warehouse_id = int(message.payload["warehouse_id"])
    PushedStock.objects.bulk_create(
        [PushedStock(account_id=message.account_id, keycrm_warehouse_id=warehouse_id,
                     offer_id=int(item["id"]), quantity=Decimal(str(item["quantity"])),
                     pushed_at=now)
         for item in message.payload["stocks"]],
        update_conflicts=True, unique_fields=["account", "keycrm_warehouse_id", "offer_id"],
        update_fields=["quantity", "pushed_at"], batch_size=1000)
    StockSettings.objects.filter(account_id=message.account_id).update(last_sent_at=now)


register_sender(STOCK_KIND, Sender(send=_send, confirm=_confirm))
