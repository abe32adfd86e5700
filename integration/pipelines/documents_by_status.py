"""Documents that follow an order's KeyCRM status: a sales invoice when it ships, the order
closed when it is cancelled, and a return from the buyer when a cancelled order had shipped.

Each action is switched on per account (``documents.DocumentRule``) and triggered by the KeyCRM
statuses chosen there. It runs once per order and status change (a ``DocumentAction`` row per
occasion), and before creating anything BAS is searched for a document already based on the
same one, so a retry after a lost answer, or a second status change, never makes a second
invoice or return. Every decision not to act is logged with the reason.

"Based on" fills the new document the way BAS does: every header attribute and every column of
a tabular section that source and target share is copied, then the basis, the operation and
the warehouse are set.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from documents.models import ActionOutcome, DocumentAction, DocumentActionKind, DocumentRule
from documents.services import Done, FollowupContext, FollowupProblem, StepResult, action_run
from integration.bas import literals
from integration.bas.client import BasClient
from integration.bas.configurations import objects_for

SMALL_BUSINESS = "small_business"
ACCOUNTING = "accounting"
SB_ORDER = "Document_ЗаказПокупателя"
SB_RETURN = "Document_ПриходнаяНакладная"
ACC_RETURN = "Document_ВозвратТоваровОтПокупателя"
ORDER_STATES = "Catalog_СостоянияЗаказовПокупателей"
COMPLETED_STATE = "Завершен"
CANCELLED_VARIANT = "Отменен"
# Written by BAS itself, or by this module on purpose: never copied from the basis.
NOT_COPIED = frozenset({
    "Ref_Key", "DataVersion", "DeletionMark", "Number", "Date", "Posted", "Predefined",
    "PredefinedDataName", "ДокументОснование", "ДокументОснование_Type", "ВидОперации",
    "Комментарий", "СуммаДокумента", "НомерВходящегоДокумента", "ДатаВходящегоДокумента",
    "СостояниеЗаказа", "СостояниеЗаказа_Type", "ВариантЗавершения", "ПричинаОтмены_Key",
})
NOT_COPIED_COLUMNS = frozenset({"Ref_Key", "LineNumber"})


def documents_by_status(*, ctx: FollowupContext) -> list[StepResult]:
    """Run the rules the order's current status triggers (shipment; return, then close)."""
    rules = {r.action: r for r in DocumentRule.objects.filter(account=ctx.account, enabled=True)}
    status_id = ctx.order.get("status_id")
    occasion = ctx.status_occasion()
    trigger = _("status %(status)s") % {"status": status_id}
    results: list[StepResult | None] = []
    for action, work in ((DocumentActionKind.SHIP, _ship), (DocumentActionKind.RETURN, _return),
                         (DocumentActionKind.CLOSE, _close)):
        rule = rules.get(action)
        if rule is None or not rule.triggered_by(status_id):
            continue
        results.append(action_run(
            ctx=ctx, key=f"{action}:{ctx.order_id}:{occasion}", action=action, trigger=trigger,
            work=lambda row, w=work, r=rule: w(ctx, r, row)))
    return [r for r in results if r is not None]


# --- shipment --------------------------------------------------------------------------------
def _invoice_set(ctx: FollowupContext) -> str:
    return objects_for(ctx.configuration).sales_invoice


def shipped_invoice(ctx: FollowupContext) -> dict[str, Any] | None:
    """The order's sales invoice: the order's own document when that is a sales invoice, else
    one based on it (as this module creates them), or None."""
    invoice_set = _invoice_set(ctx)
    if ctx.order_set == invoice_set:
        return {"Ref_Key": ctx.order_ref, "Number": ctx.document().get("Number", ""),
                "_set": invoice_set}
    found = based_on(ctx.bas, invoice_set, ctx.order_set, ctx.order_ref)
    return {**found, "_set": invoice_set} if found else None


def _ship(ctx: FollowupContext, rule: DocumentRule, row: DocumentAction) -> Done:
    invoice_set = _invoice_set(ctx)
    if ctx.order_set == invoice_set:
        return Done(ActionOutcome.SKIPPED, _("The order's BAS document is itself the sales "
                                             "invoice (%(set)s); nothing to create.")
                    % {"set": invoice_set}, invoice_set, ctx.order_ref)
    existing = based_on(ctx.bas, invoice_set, ctx.order_set, ctx.order_ref)
    if existing:
        return _existing(ctx.bas, invoice_set, existing, rule, _(
            "A sales invoice based on the order already exists: %(number)s") % {
            "number": existing.get("Number", "")})
    source = ctx.document()
    body = fill_based_on(ctx.bas, source=source, source_set=ctx.order_set, target_set=invoice_set)
    _set_basis(body, ctx.order_set, ctx.order_ref)
    if ctx.configuration == SMALL_BUSINESS:
        body["ВидОперации"] = "ПродажаПокупателю"
        warehouse = rule.warehouse_ref or _filled(source.get("СтруктурнаяЕдиницаРезерв_Key"))
        body["СтруктурнаяЕдиница_Key"] = _required_warehouse(warehouse)
        if ctx.order_set == SB_ORDER:
            body["Заказ"], body["Заказ_Type"] = ctx.order_ref, f"StandardODATA.{SB_ORDER}"
            for row in body.get("Запасы") or []:
                row["Заказ"], row["Заказ_Type"] = ctx.order_ref, f"StandardODATA.{SB_ORDER}"
    elif "Склад_Key" in _properties(ctx.bas, invoice_set):
        body["Склад_Key"] = _required_warehouse(rule.warehouse_ref
                                                or _filled(source.get("Склад_Key")))
    body["Комментарий"] = _("Shipment of KeyCRM order %(id)s") % {"id": ctx.order_id}
    return _create_and_post(ctx.bas, invoice_set, body, rule,
                            _("sales invoice based on %(set)s") % {"set": ctx.order_set},
                            basis_set=ctx.order_set)


# --- cancellation: return ----------------------------------------------------------------------
def _return_set(ctx: FollowupContext) -> str | None:
    return {SMALL_BUSINESS: SB_RETURN, ACCOUNTING: ACC_RETURN}.get(ctx.configuration)


def _return(ctx: FollowupContext, rule: DocumentRule, row: DocumentAction) -> Done:
    return_set = _return_set(ctx)
    if return_set is None:
        raise FollowupProblem(_("Returns are not supported for the %(conf)s configuration "
                                "yet.") % {"conf": ctx.configuration})
    invoice = shipped_invoice(ctx)
    if invoice is None:
        return Done(ActionOutcome.SKIPPED, _("Nothing was shipped (no sales invoice for the "
                                             "order): no return needed."))
    invoice_set, invoice_ref = invoice["_set"], invoice["Ref_Key"]
    existing = based_on(ctx.bas, return_set, invoice_set, invoice_ref)
    if existing:
        return _existing(ctx.bas, return_set, existing, rule, _(
            "A return based on the sales invoice already exists: %(number)s") % {
            "number": existing.get("Number", "")})
    source = ctx.bas.get(invoice_set, invoice_ref)
    body = fill_based_on(ctx.bas, source=source, source_set=invoice_set, target_set=return_set)
    _set_basis(body, invoice_set, invoice_ref)
    if ctx.configuration == SMALL_BUSINESS:
        body["ВидОперации"] = "ВозвратОтПокупателя"
        if rule.warehouse_ref:
            body["СтруктурнаяЕдиница_Key"] = str(rule.warehouse_ref)
    elif rule.warehouse_ref:
        body["Склад_Key"] = str(rule.warehouse_ref)
    body["Комментарий"] = _("Return of KeyCRM order %(id)s") % {"id": ctx.order_id}
    return _create_and_post(ctx.bas, return_set, body, rule,
                            _("return based on %(set)s %(number)s") % {
                                "set": invoice_set, "number": source.get("Number", "")},
                            basis_set=invoice_set)


# --- cancellation: close the order -------------------------------------------------------------
def _close(ctx: FollowupContext, rule: DocumentRule, row: DocumentAction) -> Done:
    properties = _properties(ctx.bas, ctx.order_set)
    document = ctx.document()
    if "ВариантЗавершения" in properties:  # BAS Small Business
        if rule.cancel_reason_ref is None:
            raise FollowupProblem(_("Choose the cancellation reason (Catalog_ПричиныОтменыЗаказа)"
                                    " in the “close the order” rule."))
        completed = _completed_state(ctx.bas)
        if document.get("СостояниеЗаказа") == completed and \
                document.get("ВариантЗавершения") == CANCELLED_VARIANT:
            return _existing(ctx.bas, ctx.order_set, document, rule,
                             _("The order is already closed as cancelled."),
                             repost=row.attempts > 1)
        change = {"СостояниеЗаказа": completed,
                  "СостояниеЗаказа_Type": f"StandardODATA.{ORDER_STATES}",
                  "ВариантЗавершения": CANCELLED_VARIANT,
                  "ПричинаОтмены_Key": str(rule.cancel_reason_ref)}
    elif "Статус" in properties:  # BAS ERP / UT / KUP
        if document.get("Статус") == "Закрыт":
            return _existing(ctx.bas, ctx.order_set, document, rule,
                             _("The order is already closed."), repost=row.attempts > 1)
        change = {"Статус": "Закрыт"}
    else:
        return Done(ActionOutcome.SKIPPED, _("%(set)s is not an order that can be closed (BAS "
                                             "Accounting has no customer order).")
                    % {"set": ctx.order_set})
    ctx.bas.patch(ctx.order_set, ctx.order_ref, change)
    if rule.post_documents:
        ctx.bas.post_document(ctx.order_set, ctx.order_ref)
    return Done(ActionOutcome.DONE, _("%(set)s %(number)s closed as cancelled%(posted)s") % {
        "set": ctx.order_set, "number": document.get("Number", ""),
        "posted": _(" and re-posted") if rule.post_documents else ""},
        ctx.order_set, ctx.order_ref, document.get("Number") or "")


def _existing(bas: BasClient, entity_set: str, document: dict[str, Any], rule: DocumentRule,
              reason: str, *, repost: bool = False) -> Done:
    """A document an earlier attempt (or a person) already wrote: nothing to create, but a
    posting that failed after the write is done now, or it would never happen — the retry
    finds the document and would otherwise end as "not needed". ``repost``: post even when
    BAS says it is posted (an order closed by an earlier attempt of this occasion stays
    posted with the movements from before the close until it is posted again)."""
    ref, number = document["Ref_Key"], document.get("Number") or ""
    if not rule.post_documents or (document.get("Posted") and not repost):
        return Done(ActionOutcome.SKIPPED, reason, entity_set, ref, number)
    bas.post_document(entity_set, ref)
    return Done(ActionOutcome.DONE, _("%(reason)s; it was not posted, now posted") % {
        "reason": reason}, entity_set, ref, number)


def _completed_state(bas: BasClient) -> str:
    condition = f"PredefinedDataName eq {literals.string(COMPLETED_STATE)}"
    found = bas.list(ORDER_STATES, filter=condition, top=1, select=["Ref_Key"])
    if not found:
        raise FollowupProblem(_("BAS has no predefined order state “Завершен”."))
    return found[0]["Ref_Key"]


# --- "based on" ------------------------------------------------------------------------------
def based_on(bas: BasClient, entity_set: str, basis_set: str,
             basis_ref: str) -> dict[str, Any] | None:
    """A document of ``entity_set`` based on the given one (not marked for deletion)."""
    condition = (f"ДокументОснование eq {literals.cast(basis_ref, basis_set)} and "
                 "DeletionMark eq false")
    found = bas.list(entity_set, filter=condition, top=1, select=["Ref_Key", "Number", "Posted"])
    return found[0] if found else None


def fill_based_on(bas: BasClient, *, source: dict[str, Any], source_set: str,
                  target_set: str) -> dict[str, Any]:
    """The attributes and tabular rows ``target_set`` shares with the source document."""
    metadata = bas.metadata()
    target = _properties(bas, target_set)
    sections = metadata.tabular_sections(target_set)
    body: dict[str, Any] = {}
    for name in target:
        if name in NOT_COPIED or name in sections or name not in source:
            continue
        body[name] = source[name]
    source_sections = metadata.tabular_sections(source_set)
    for section, row_type in sections.items():
        if section not in source_sections or not source.get(section):
            continue
        columns = set(row_type.properties) - NOT_COPIED_COLUMNS
        body[section] = [{"LineNumber": str(i), **{k: v for k, v in row.items() if k in columns}}
                         for i, row in enumerate(source[section], start=1)]
    return body


def _properties(bas: BasClient, entity_set: str) -> dict[str, Any]:
    return bas.metadata().entity_type(entity_set).properties


def _set_basis(body: dict[str, Any], basis_set: str, basis_ref: str) -> None:
    body["ДокументОснование"] = basis_ref
    body["ДокументОснование_Type"] = f"StandardODATA.{basis_set}"


def _filled(ref: Any) -> str | None:
    return None if literals.is_empty_ref(ref) else str(ref)


def _required_warehouse(ref: Any) -> str:
    if not ref:
        raise FollowupProblem(_("Choose the warehouse in the “sales invoice on shipment” rule: "
                                "the order names none."))
    return str(ref)


def _create_and_post(bas: BasClient, entity_set: str, body: dict[str, Any], rule: DocumentRule,
                     what: str, *, basis_set: str) -> Done:
    verify = (f"ДокументОснование eq {literals.cast(body['ДокументОснование'], basis_set)}"
              " and DeletionMark eq false")
    document = bas.create(entity_set, body, verify_filter=verify)
    ref, number = document["Ref_Key"], document.get("Number") or ""
    if rule.post_documents:
        bas.post_document(entity_set, ref)
    return Done(ActionOutcome.DONE, _("%(set)s %(number)s created (%(what)s)%(posted)s") % {
        "set": entity_set, "number": number, "what": what,
        "posted": _(", posted") if rule.post_documents else ""}, entity_set, ref, number)

