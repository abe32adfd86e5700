"""KeyCRM fiscal receipts become BAS retail receipt documents, where the account says so
(``FollowupSettings.fiscal_target``).

A paid KeyCRM payment that KeyCRM fiscalised (``fiscal_status`` / ``fiscal_result``) becomes one
retail receipt (BAS Small Business: ``Document_ЧекККМ``) based on the order's BAS document: its
goods, prices and sums copied the way BAS fills a document "based on" another, the money taken
(cash or card, as the fiscal result or the payment method says), the fiscal number, date and
link in the attributes the operator chose, posted.

Written once: the receipt's comment carries the KeyCRM payment id, searched before any create on
a repeated attempt (and by the client after a lost answer), and the correspondence register
links the payment to its receipt. Fiscal data that arrives or changes later is patched in once
per content. A configuration without a retail receipt document (BAS Бухгалтерія) waits for a
person with the reason in the follow-up log.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from documents.models import (
    ActionOutcome,
    DocumentAction,
    DocumentActionKind,
    FiscalTarget,
    FollowupSettings,
    PaymentKind,
    PaymentRoute,
    retail_receipt_set,
)
from documents.services import (
    Done,
    FollowupContext,
    FollowupProblem,
    StepResult,
    action_note,
    action_run,
)
from integration.bas import literals
from integration.bas.configurations import BasConfiguration
from integration.keycrm.timestamps import parse_keycrm_datetime
from integration.pipelines.documents_by_status import fill_based_on
from integration.pipelines.payments_to_bas import (
    fiscal_attribute_values,
    fiscal_key,
    fiscal_receipt,
    payment_marker,
)
from mappings.models import Correspondence, CorrespondenceOrigin, KeyCrmDirectory
from mappings.services.correspondence import correspondence_set

CARD_SECTION = "ОплатаПлатежнымиКартами"
CASH_ATTRIBUTE = "ПолученоНаличными"
PUNCHED = "Пробит"  # the receipt's status once the fiscal register printed it


def receipt_link_id(payment_id: int) -> int:
    """The receipt's key in the correspondence register. The register holds one row per
    (directory, KeyCRM id) and the payment's own document has the payment id in the
    "payments" directory; its retail receipt takes the negated id there, so neither link
    replaces the other."""
    return -int(payment_id)


def receipt_link(ctx: FollowupContext, payment_id: int) -> Correspondence | None:
    return Correspondence.objects.filter(account=ctx.account, directory=KeyCrmDirectory.PAYMENT,
                                         keycrm_id=receipt_link_id(payment_id)).first()


def retail_receipts_to_bas(*, ctx: FollowupContext) -> list[StepResult]:
    """A retail receipt for every fiscalised paid payment of the order; later fiscal data
    patched into receipts already written. Payments without fiscal data are left alone until
    KeyCRM reports some."""
    settings = ctx.settings
    if settings is None or settings.fiscal_target != FiscalTarget.RETAIL_RECEIPT:
        return []
    results = []
    for payment in ctx.order.get("payments") or []:
        if payment.get("id") is None or payment.get("status") != "paid" or \
                fiscal_receipt(payment) is None:
            continue
        payment_id = int(payment["id"])
        link = receipt_link(ctx, payment_id)
        if link is None:
            result = action_run(
                ctx=ctx, key=f"retail_receipt:{payment_id}",
                action=DocumentActionKind.RETAIL_RECEIPT,
                trigger=_("fiscal receipt of payment #%(id)s") % {"id": payment_id},
                work=lambda row, p=payment: _write_receipt(ctx, settings, p, row))
        else:
            result = _receipt_fiscal_update(ctx, settings, payment, link)
        if result is not None:
            results.append(result)
    return results


def _receipt_values(ctx: FollowupContext, settings: FollowupSettings,
                    payment: dict[str, Any]) -> dict[str, Any]:
    receipt = fiscal_receipt(payment)
    if receipt is None:
        return {}
    return fiscal_attribute_values(
        ctx.bas, receipt, number=settings.receipt_number_attribute,
        date=settings.receipt_date_attribute, link=settings.receipt_link_attribute)


def _receipt_set(ctx: FollowupContext) -> str:
    entity_set = retail_receipt_set(ctx.configuration)
    if entity_set is None:
        raise FollowupProblem(_(
            "The %(conf)s configuration has no retail receipt document, so fiscal receipts "
            "cannot become retail receipts there: in “Payment settings” send fiscal data to "
            "the payment document instead.") % {"conf": _configuration_name(ctx.configuration)})
    if not ctx.bas.metadata().has(entity_set):
        raise FollowupProblem(_("BAS does not publish %(set)s: add it to the OData "
                                "composition.") % {"set": entity_set})
    return entity_set


def _configuration_name(configuration: str) -> str:
    try:
        return str(BasConfiguration(configuration).label)
    except ValueError:
        return configuration


def _write_receipt(ctx: FollowupContext, settings: FollowupSettings, payment: dict[str, Any],
                   row: DocumentAction) -> Done:
    entity_set = _receipt_set(ctx)
    payment_id = int(payment["id"])
    marker = payment_marker(payment_id)
    verify = f"Комментарий eq {literals.string(marker)} and DeletionMark eq false"
    # An earlier attempt may have created the receipt and lost the answer or died after it.
    found = ctx.bas.list(entity_set, filter=verify, top=2, select=["Ref_Key", "Number"]) \
        if row.attempts > 1 else []
    if len(found) > 1:
        raise FollowupProblem(_("%(n)s documents in %(set)s carry %(marker)s; mark the extra "
                                "ones for deletion in BAS.") % {
            "n": len(found), "set": entity_set, "marker": marker})
    values = _receipt_values(ctx, settings, payment)
    if found:
        document, how = found[0], _("found in BAS after an earlier attempt")
    elif part := _part_payment(ctx, payment):
        # Final, not waiting: no setting or advice can make the portal split the goods, so
        # a waiting row would wait forever. The log keeps the reason for the accountant.
        return Done(ActionOutcome.SKIPPED, part)
    else:
        body = _receipt_body(ctx, settings, payment, entity_set)
        document, how = ctx.bas.create(entity_set, {**body, **values}, verify_filter=verify), \
            _("created")
    ref, number = document["Ref_Key"], document.get("Number") or ""
    if settings.post_receipts:
        ctx.bas.post_document(entity_set, ref)
    # Linked only once posted: a receipt left unposted by a failed post is found again by its
    # comment on the next attempt and posted then.
    correspondence_set(
        account=ctx.account, directory=KeyCrmDirectory.PAYMENT,
        keycrm_id=receipt_link_id(payment_id), bas_entity_set=entity_set, bas_ref=ref,
        bas_presentation=f"{entity_set} {number}".strip(), origin=CorrespondenceOrigin.CREATED,
        note=_("retail receipt of payment #%(id)s, order %(order)s") % {
            "id": payment_id, "order": ctx.order_id},
        keycrm_updated_at=parse_keycrm_datetime(payment.get("updated_at")))
    if values and not found:  # written with the receipt: no separate update later
        action_note(account=ctx.account, order_id=ctx.order_id,
                    key=fiscal_key(payment_id, values, prefix="receipt_fiscal"),
                    action=DocumentActionKind.FISCAL,
                    trigger=_("fiscal receipt of payment #%(id)s") % {"id": payment_id},
                    outcome=ActionOutcome.DONE,
                    reason=_("written with the retail receipt to %(attrs)s") % {
                        "attrs": ", ".join(values)},
                    document_set=entity_set, document_ref=ref, document_number=number)
    return Done(ActionOutcome.DONE, _("%(set)s %(number)s %(how)s%(posted)s for %(amount)s "
                                      "(payment #%(id)s)") % {
        "set": entity_set, "number": number, "how": how,
        "posted": _(", posted") if settings.post_receipts else "",
        "amount": payment.get("amount"), "id": payment_id}, entity_set, ref, number)


def _receipt_body(ctx: FollowupContext, settings: FollowupSettings, payment: dict[str, Any],
                  entity_set: str) -> dict[str, Any]:
    """The receipt "based on" the order's document, with the register, the retail unit and
    the money taken."""
    if settings.receipt_cash_register_ref is None:
        raise FollowupProblem(_("Choose the fiscal cash register (Catalog_КассыККМ) in "
                                "“Payment settings”."))
    source = ctx.document()
    amount = float(payment.get("amount") or 0)
    properties = ctx.bas.metadata().entity_type(entity_set).properties
    body = fill_based_on(ctx.bas, source=source, source_set=ctx.order_set,
                         target_set=entity_set)
    body.update({"ДокументОснование": ctx.order_ref,
                 "ДокументОснование_Type": f"StandardODATA.{ctx.order_set}",
                 "КассаККМ_Key": str(settings.receipt_cash_register_ref),
                 "СтруктурнаяЕдиница_Key": _retail_unit(settings, source),
                 "Комментарий": payment_marker(payment["id"])})
    paid_at = parse_keycrm_datetime(payment.get("payment_date") or payment.get("created_at"))
    if paid_at is not None:
        body["Date"] = ctx.bas.to_bas_datetime(paid_at)
    if "Статус" in properties:
        body["Статус"] = PUNCHED
    if _paid_in_cash(ctx, payment):
        body[CASH_ATTRIBUTE] = amount
    else:
        body[CARD_SECTION] = [{"LineNumber": "1", "Сумма": amount,
                               "СсылочныйНомер": str(payment.get("transaction_uuid") or "")}]
    return body


def _part_payment(ctx: FollowupContext, payment: dict[str, Any]) -> str | None:
    """Why no receipt is made for a payment that covers only part of the order, or None.
    A fiscal receipt lists the goods it was paid for; splitting an order's goods across part
    payments is the accountant's decision, not a guess."""
    total = float(ctx.document().get("СуммаДокумента") or 0)
    if float(payment.get("amount") or 0) + 0.005 >= total:
        return None
    return _("Payment #%(id)s (%(amount)s) covers only part of the order (%(total)s): a retail "
             "receipt for part of an order is not made automatically; enter it in BAS if one "
             "is needed.") % {"id": payment["id"], "amount": payment.get("amount"),
                              "total": total}


def _retail_unit(settings: FollowupSettings, source: dict[str, Any]) -> str:
    for ref in (settings.receipt_store_ref, source.get("СтруктурнаяЕдиницаРезерв_Key"),
                source.get("СтруктурнаяЕдиница_Key")):
        if ref and not literals.is_empty_ref(str(ref)):
            return str(ref)
    raise FollowupProblem(_("Choose the retail unit in “Payment settings”: the order names no "
                            "warehouse the goods leave."))


def _paid_in_cash(ctx: FollowupContext, payment: dict[str, Any]) -> bool:
    """Cash or card: the fiscal result says so when it can (``payment_cash``), else the
    payment method's correspondence does; a method without one counts as card."""
    result = payment.get("fiscal_result") or {}
    if isinstance(result.get("payment_cash"), bool):
        return result["payment_cash"]
    route = PaymentRoute.objects.filter(
        account=ctx.account, keycrm_payment_method_id=payment.get("payment_method_id")).first()
    return route is not None and route.kind == PaymentKind.CASH


def _receipt_fiscal_update(ctx: FollowupContext, settings: FollowupSettings,
                           payment: dict[str, Any], link: Correspondence) -> StepResult | None:
    """Fiscal data that arrived or changed after the receipt was written: patched in once per
    content (and the receipt re-posted, as its date may have moved)."""
    values = _receipt_values(ctx, settings, payment)
    if not values:
        return None

    def patch(row: DocumentAction) -> Done:
        entity_set, ref = link.bas_entity_set, str(link.bas_ref)
        ctx.bas.patch(entity_set, ref, values)
        if settings.post_receipts:
            ctx.bas.post_document(entity_set, ref)
        return Done(ActionOutcome.DONE, _("fiscal receipt written to %(attrs)s of the retail "
                                          "receipt") % {"attrs": ", ".join(values)},
                    entity_set, ref)

    return action_run(
        ctx=ctx, key=fiscal_key(payment["id"], values, prefix="receipt_fiscal"),
        action=DocumentActionKind.FISCAL,
        trigger=_("fiscal receipt of payment #%(id)s") % {"id": payment["id"]}, work=patch)
