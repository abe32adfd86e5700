"""KeyCRM order payments become BAS incoming payment documents linked to the order's document.

Each paid payment is written once: the correspondence register links the KeyCRM payment id to
its BAS document, and the document's comment carries the payment id, so an attempt after a
lost answer finds the document in BAS instead of writing a second one. A payment cancelled in
KeyCRM un-posts its document and marks it in the comment. Fiscal receipt data of a payment
(number, date, link) goes to the attributes the operator chose.

Bank or cash, and the references those documents need, come from the payment-method
correspondence (``documents.PaymentRoute``).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from django.utils.translation import gettext as _

from documents.models import (
    ActionOutcome,
    DocumentAction,
    DocumentActionKind,
    FiscalTarget,
    PaymentKind,
    PaymentRoute,
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
from integration.bas.client import BasClient
from integration.keycrm.timestamps import parse_keycrm_datetime
from mappings.models import Correspondence, CorrespondenceOrigin, KeyCrmDirectory
from mappings.services.correspondence import correspondence_set

SMALL_BUSINESS = "small_business"
ACCOUNTING = "accounting"
# (configuration, kind) → the incoming payment document.
PAYMENT_SETS: dict[tuple[str, str], str] = {
    (SMALL_BUSINESS, PaymentKind.BANK): "Document_ПоступлениеНаСчет",
    (SMALL_BUSINESS, PaymentKind.CASH): "Document_ПоступлениеВКассу",
    (ACCOUNTING, PaymentKind.BANK): "Document_ПоступлениеНаРасчетныйСчет",
    (ACCOUNTING, PaymentKind.CASH): "Document_ПриходныйКассовыйОрдер",
}
CANCELLED_MARK = "[скасовано в KeyCRM]"
# Keys a KeyCRM fiscal result may name its receipt's number, date and link with (the API
# documents ``fiscal_result`` only as "an object"; these are the fiscalisation services' names).
FISCAL_NUMBER_KEYS = ("fiscal_code", "fiscal_number", "receipt_number", "number", "id")
FISCAL_DATE_KEYS = ("fiscal_date", "receipt_date", "date", "created_at")
FISCAL_LINK_KEYS = ("receipt_url", "check_url", "url", "link")
FISCAL_FAILED = {"error", "failed", "fail", "canceled", "cancelled"}


def payment_marker(payment_id: int | str) -> str:
    """What the BAS document's comment carries: the KeyCRM payment id, searched on a repeat."""
    return f"KeyCRM payment #{payment_id}"


PAYMENT_MARKER = re.compile(re.escape(payment_marker("")) + r"\d+")


def carries_payment_marker(comment: str | None) -> bool:
    """Whether a BAS document's comment names a KeyCRM payment: the portal wrote it."""
    return bool(PAYMENT_MARKER.search(comment or ""))


def bas_payment_marker(number: str, ref: str) -> str:
    """What a KeyCRM payment added from a BAS document carries in its description."""
    return f"BAS {number} [{ref}]"


BAS_PAYMENT_MARKER = re.compile(
    r"\bBAS .*?\[[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\]")


def carries_bas_payment_marker(description: str | None) -> bool:
    """Whether a KeyCRM payment was added by the portal from a BAS payment document."""
    return bool(BAS_PAYMENT_MARKER.search(description or ""))


def payments_to_bas(*, ctx: FollowupContext) -> list[StepResult]:
    """Write every paid payment of the order, cancel cancelled ones, update fiscal data."""
    results = []
    for payment in ctx.order.get("payments") or []:
        if payment.get("id") is None:
            continue
        payment_id = int(payment["id"])
        link = Correspondence.objects.filter(account=ctx.account,
                                             directory=KeyCrmDirectory.PAYMENT,
                                             keycrm_id=payment_id).first()
        status = payment.get("status")
        result = None
        if status == "paid" and link is None and \
                carries_bas_payment_marker(payment.get("description")):
            # Added by the portal from a BAS document, whose link the outbox confirm may not
            # have stored yet: writing it into BAS would book the money a second time.
            action_note(
                account=ctx.account, order_id=ctx.order_id, key=f"payment:{payment_id}",
                action=DocumentActionKind.PAYMENT,
                trigger=_("payment #%(id)s paid") % {"id": payment_id},
                outcome=ActionOutcome.SKIPPED,
                reason=_("Payment #%(id)s came from BAS (%(description)s): it is not written "
                         "back into BAS.") % {"id": payment_id,
                                              "description": payment.get("description")})
        elif status == "paid" and link is None:
            result = action_run(
                ctx=ctx, key=f"payment:{payment_id}", action=DocumentActionKind.PAYMENT,
                trigger=_("payment #%(id)s paid") % {"id": payment_id},
                work=lambda row, p=payment: _write_payment(ctx, p, row))
        elif status == "canceled" and link is not None:
            result = action_run(
                ctx=ctx, key=f"payment_cancel:{payment_id}",
                action=DocumentActionKind.PAYMENT_CANCEL,
                trigger=_("payment #%(id)s cancelled") % {"id": payment_id},
                work=lambda row, lk=link: _cancel_payment(ctx, lk))
        elif status == "paid" and link is not None:
            result = _fiscal_update(ctx, payment, link)
        if result is not None:
            results.append(result)
    return results


# --- one payment -------------------------------------------------------------------------------
def _route(ctx: FollowupContext, payment: dict[str, Any]) -> PaymentRoute:
    method_id = payment.get("payment_method_id")
    route = PaymentRoute.objects.filter(account=ctx.account,
                                        keycrm_payment_method_id=method_id).first()
    if route is None:
        raise FollowupProblem(_(
            "No payment method correspondence for KeyCRM payment method %(id)s: add it in "
            "“Payment method correspondence” (bank or cash, and its BAS references).")
            % {"id": method_id})
    return route


def payment_set(configuration: str, kind: str) -> str:
    entity_set = PAYMENT_SETS.get((configuration, kind))
    if entity_set is None:
        raise FollowupProblem(_("Incoming payments are not supported for the %(conf)s "
                                "configuration yet.") % {"conf": configuration})
    return entity_set


def _write_payment(ctx: FollowupContext, payment: dict[str, Any], row: DocumentAction) -> Done:
    route = _route(ctx, payment)
    entity_set = payment_set(ctx.configuration, route.kind)
    payment_id = int(payment["id"])
    verify = (f"Комментарий eq {literals.string(payment_marker(payment_id))} and "
              "DeletionMark eq false")
    found = ctx.bas.list(entity_set, filter=verify, top=2, select=["Ref_Key", "Number"]) \
        if row.attempts > 1 else []
    if len(found) > 1:
        raise FollowupProblem(_("%(n)s documents in %(set)s carry %(marker)s; mark the extra "
                                "ones for deletion in BAS.") % {
            "n": len(found), "set": entity_set, "marker": payment_marker(payment_id)})
    if found:
        document, how = found[0], _("found in BAS after an earlier attempt")
    else:
        body = _payment_body(ctx, payment, route, entity_set)
        document, how = ctx.bas.create(entity_set, body, verify_filter=verify), _("created")
    ref, number = document["Ref_Key"], document.get("Number") or ""
    if route.post_documents:
        ctx.bas.post_document(entity_set, ref)
    # Linked only once posted: a posting that failed leaves no link, so the next attempt
    # finds the document by its marker and posts it, instead of only patching it.
    correspondence_set(
        account=ctx.account, directory=KeyCrmDirectory.PAYMENT, keycrm_id=payment_id,
        bas_entity_set=entity_set, bas_ref=ref,
        bas_presentation=f"{entity_set} {number}".strip(), origin=CorrespondenceOrigin.CREATED,
        note=_("order %(id)s") % {"id": ctx.order_id},
        keycrm_updated_at=parse_keycrm_datetime(payment.get("updated_at")))
    fiscal = _fiscal_values(ctx, payment)
    if fiscal and not found:  # written with the document: no separate update later
        action_note(account=ctx.account, order_id=ctx.order_id,
                    key=fiscal_key(payment_id, fiscal), action=DocumentActionKind.FISCAL,
                    trigger=_("fiscal receipt of payment #%(id)s") % {"id": payment_id},
                    outcome=ActionOutcome.DONE,
                    reason=_("written with the payment document to %(attrs)s") % {
                        "attrs": ", ".join(fiscal)},
                    document_set=entity_set, document_ref=ref, document_number=number)
    return Done(ActionOutcome.DONE, _("%(set)s %(number)s %(how)s%(posted)s for %(amount)s") % {
        "set": entity_set, "number": number, "how": how,
        "posted": _(", posted") if route.post_documents else "",
        "amount": payment.get("amount")}, entity_set, ref, number)


def _payment_body(ctx: FollowupContext, payment: dict[str, Any], route: PaymentRoute,
                  entity_set: str) -> dict[str, Any]:
    document = ctx.document()
    amount = float(payment.get("amount") or 0)
    paid_at = parse_keycrm_datetime(payment.get("payment_date") or payment.get("created_at"))
    purpose = _("Payment for order KC-%(id)s") % {"id": ctx.order_id}
    buyer = (ctx.order.get("buyer") or {}).get("full_name") or ""
    item = str(route.cash_flow_item_ref or literals.EMPTY_REF)
    common: dict[str, Any] = {
        "Организация_Key": document.get("Организация_Key", literals.EMPTY_REF),
        "Контрагент_Key": document.get("Контрагент_Key", literals.EMPTY_REF),
        "СуммаДокумента": amount,
        "ДокументОснование": ctx.order_ref,
        "ДокументОснование_Type": f"StandardODATA.{ctx.order_set}",
        "Комментарий": payment_marker(payment["id"]),
    }
    if paid_at is not None:
        common["Date"] = ctx.bas.to_bas_datetime(paid_at)
    if route.kind == PaymentKind.BANK:
        if route.bank_account_ref is None:
            raise FollowupProblem(_("The payment method correspondence for method %(id)s has "
                                    "no bank account.") % {"id": route.keycrm_payment_method_id})
        common["НазначениеПлатежа"] = purpose
    else:
        common.update({"ПринятоОт": buyer, "Основание": purpose})
    if ctx.configuration == SMALL_BUSINESS:
        body = _sb_payment_body(ctx, document, route, amount, item)
    else:
        body = _acc_payment_body(ctx, document, route, amount, item)
    body = {**common, **body}
    body.update(_fiscal_values(ctx, payment))
    return body


def _sb_payment_body(ctx: FollowupContext, document: dict[str, Any], route: PaymentRoute,
                     amount: float, item: str) -> dict[str, Any]:
    if route.kind == PaymentKind.CASH and route.cash_desk_ref is None:
        raise FollowupProblem(_("The payment method correspondence for method %(id)s has no "
                                "cash desk.") % {"id": route.keycrm_payment_method_id})
    # The breakdown row names the order in the column that takes its document type.
    column = {"Document_ЗаказПокупателя": "Заказ", "Document_СчетНаОплату": "СчетНаОплату",
              "Document_РасходнаяНакладная": "Документ"}.get(ctx.order_set, "Заказ")
    body: dict[str, Any] = {
        "ВидОперации": "ОтПокупателя",
        "ВалютаДенежныхСредств_Key": document.get("ВалютаДокумента_Key", literals.EMPTY_REF),
        "Статья_Key": item,
        "НалогообложениеНДС": document.get("НалогообложениеНДС") or "ОблагаетсяНДС",
        "Курс": 1, "Кратность": 1, "СуммаУчета": amount,
        "РасшифровкаПлатежа": [{
            "LineNumber": "1",
            "Договор_Key": document.get("Договор_Key", literals.EMPTY_REF),
            "ПризнакАванса": True,
            column: ctx.order_ref, f"{column}_Type": f"StandardODATA.{ctx.order_set}",
            "СуммаРасчетов": amount, "Курс": 1, "Кратность": 1, "СуммаПлатежа": amount,
        }],
    }
    if route.kind == PaymentKind.BANK:
        body["БанковскийСчет_Key"] = str(route.bank_account_ref)
    else:
        body["Касса_Key"] = str(route.cash_desk_ref)
    return body


def _acc_payment_body(ctx: FollowupContext, document: dict[str, Any], route: PaymentRoute,
                      amount: float, item: str) -> dict[str, Any]:
    contract = document.get("ДоговорКонтрагента_Key", literals.EMPTY_REF)
    body: dict[str, Any] = {
        "ВидОперации": "ОплатаПокупателя",
        "ДоговорКонтрагента_Key": contract,
        "ВалютаДокумента_Key": document.get("ВалютаДокумента_Key", literals.EMPTY_REF),
        "СтатьяДвиженияДенежныхСредств_Key": item,
        "РасшифровкаПлатежа": [{
            "LineNumber": "1", "ДоговорКонтрагента_Key": contract,
            "Сделка": ctx.order_ref, "Сделка_Type": f"StandardODATA.{ctx.order_set}",
            "КурсВзаиморасчетов": 1, "КратностьВзаиморасчетов": 1,
            "СуммаПлатежа": amount, "СуммаВзаиморасчетов": amount,
            "СтатьяДвиженияДенежныхСредств_Key": item,
            "СпособПогашенияЗадолженности": "Автоматически",
        }],
    }
    if route.kind == PaymentKind.BANK:
        body["СчетОрганизации_Key"] = str(route.bank_account_ref)
    return body


def _cancel_payment(ctx: FollowupContext, link: Correspondence) -> Done:
    """Un-post the payment's document and say so in its comment (kept, not deleted: the
    accountant decides what happens to money already booked)."""
    entity_set, ref = link.bas_entity_set, str(link.bas_ref)
    document = ctx.bas.get(entity_set, ref, select=["Ref_Key", "Number", "Posted", "Комментарий"])
    if document.get("Posted"):
        ctx.bas.unpost_document(entity_set, ref)
    comment = document.get("Комментарий") or ""
    if CANCELLED_MARK not in comment:
        ctx.bas.patch(entity_set, ref, {"Комментарий": f"{CANCELLED_MARK} {comment}".strip()})
    return Done(ActionOutcome.DONE, _("%(set)s %(number)s un-posted: the payment was cancelled "
                                      "in KeyCRM") % {"set": entity_set,
                                                      "number": document.get("Number", "")},
                entity_set, ref, document.get("Number") or "")


# --- fiscal receipts ---------------------------------------------------------------------------
def fiscal_receipt(payment: dict[str, Any]) -> dict[str, str] | None:
    """The receipt's number, date and link from a KeyCRM payment, or None when it has none
    (no fiscal result, or fiscalisation failed)."""
    status = str(payment.get("fiscal_status") or "").lower()
    result = payment.get("fiscal_result")
    if status in FISCAL_FAILED or not isinstance(result, dict) or not result:
        return None
    receipt = {"number": _first(result, FISCAL_NUMBER_KEYS),
               "date": _first(result, FISCAL_DATE_KEYS),
               "link": _first(result, FISCAL_LINK_KEYS)}
    return receipt if any(receipt.values()) else None


def _first(data: dict[str, Any], keys: tuple[str, ...]) -> str:
    return next((str(data[k]) for k in keys if data.get(k) not in (None, "")), "")


def fiscal_attribute_values(bas: BasClient, receipt: dict[str, str], *, number: str, date: str,
                            link: str) -> dict[str, Any]:
    """The receipt's number, date and link under the chosen attribute names (an empty name,
    or an empty value, is not written)."""
    values: dict[str, Any] = {}
    if number and receipt["number"]:
        values[number] = receipt["number"]
    if date and receipt["date"]:
        moment = parse_keycrm_datetime(receipt["date"])
        if moment is not None:
            values[date] = bas.to_bas_datetime(moment)
    if link and receipt["link"]:
        values[link] = receipt["link"]
    return values


def _fiscal_values(ctx: FollowupContext, payment: dict[str, Any]) -> dict[str, Any]:
    """Fiscal attributes for the payment document; none when the account sends fiscal data
    to retail receipts instead (``retail_receipts``)."""
    settings = ctx.settings
    receipt = fiscal_receipt(payment)
    if settings is None or receipt is None or \
            settings.fiscal_target != FiscalTarget.PAYMENT_DOCUMENT:
        return {}
    return fiscal_attribute_values(
        ctx.bas, receipt, number=settings.fiscal_number_attribute,
        date=settings.fiscal_date_attribute, link=settings.fiscal_link_attribute)


def _fiscal_update(ctx: FollowupContext, payment: dict[str, Any],
                   link: Correspondence) -> StepResult | None:
    """Fiscal data that arrived after the payment was written: patched in once per receipt."""
    values = _fiscal_values(ctx, payment)
    if not values:
        return None
    return action_run(
        ctx=ctx, key=fiscal_key(payment["id"], values), action=DocumentActionKind.FISCAL,
        trigger=_("fiscal receipt of payment #%(id)s") % {"id": payment["id"]},
        work=lambda row: _patch_fiscal(ctx.bas, link, values))


def fiscal_key(payment_id: int | str, values: dict[str, Any], prefix: str = "fiscal") -> str:
    """One occasion per payment and receipt content: a corrected receipt is written again."""
    digest = hashlib.sha1(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]  # noqa: S324 - a name
    return f"{prefix}:{payment_id}:{digest}"


def _patch_fiscal(bas: BasClient, link: Correspondence, values: dict[str, Any]) -> Done:
    bas.patch(link.bas_entity_set, str(link.bas_ref), values)
    return Done(ActionOutcome.DONE, _("fiscal receipt written to %(attrs)s") % {
        "attrs": ", ".join(values)}, link.bas_entity_set, str(link.bas_ref))
