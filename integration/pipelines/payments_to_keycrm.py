"""Incoming payments entered in BAS become payments of the linked KeyCRM order.

A scheduled check reads the recent incoming payment documents (bank and cash) of each account
that switched this on. A document that the portal did not write, that is posted, and that names
an order linked to KeyCRM (in its payment breakdown or as its basis) is queued in the outbox as
``POST /order/{id}/payment`` — once: the queued message's key is the document, and once sent
the correspondence register links the new KeyCRM payment to the document, so later checks and
the order's own payments flow both skip it.

The sender is safe to repeat: the payment's description carries the BAS reference, and a
repeat looks for it among the order's payments before adding one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import KeyCrmAccount
from documents.models import PaymentKind, PaymentRoute
from integration.bas import literals
from integration.bas.client import BasClient
from integration.keycrm.client import KeyCrmClient
from integration.keycrm.timestamps import format_keycrm_datetime
from integration.pipelines.payments_to_bas import (
    PAYMENT_SETS,
    bas_payment_marker,
    carries_payment_marker,
)
from mappings.models import Correspondence, CorrespondenceOrigin, KeyCrmDirectory
from mappings.services.correspondence import correspondence_set
from staging.models import OutboxMessage, OutboxState
from staging.services.outbox import OutboxRefused, Sender, outbox_put, register_sender

KIND = "documents.payment_from_bas"
# Where a payment document may name the order it pays: header basis, breakdown columns.
ORDER_COLUMNS = ("Заказ", "СчетНаОплату", "Документ", "Сделка")


@dataclasses.dataclass
class CheckResult:
    read: int = 0
    queued: int = 0
    known: int = 0  # written by the portal, already imported, or already queued
    unlinked: int = 0  # names no order linked to KeyCRM
    notes: list[str] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        text = _("%(read)s payment documents read: %(queued)s queued for KeyCRM, %(known)s "
                 "already known, %(unlinked)s for no linked order") % dataclasses.asdict(self)
        return "; ".join([text, *self.notes])


def bas_payments_check(*, account: KeyCrmAccount, bas: BasClient,
                       since: dt.datetime | None = None) -> CheckResult:
    """Queue every new BAS payment of a linked order since ``since`` (default: the window in
    ``DOCUMENTS_BAS_PAYMENTS_DAYS``). Idempotent: a second check queues nothing new."""
    since = since or timezone.now() - dt.timedelta(days=settings.DOCUMENTS_BAS_PAYMENTS_DAYS)
    configuration = account.bas_connection.configuration
    result = CheckResult()
    for kind in PaymentKind:
        entity_set = PAYMENT_SETS.get((configuration, kind))
        if entity_set is None:
            continue
        route = _route_for(account, kind)
        if route is None:
            result.notes.append(_("%(set)s not read: no payment method correspondence of this "
                                  "kind names the KeyCRM method to use") % {"set": entity_set})
            continue
        condition = (f"Date ge {literals.datetime(since, bas.tz)} and Posted eq true and "
                     "DeletionMark eq false")
        for document in bas.iterate(entity_set, filter=condition):
            result.read += 1
            _consider(account, entity_set, document, route, result, bas)
    return result


def _route_for(account: KeyCrmAccount, kind: str) -> PaymentRoute | None:
    routes = PaymentRoute.objects.filter(account=account, kind=kind)
    return routes.filter(use_for_bas_payments=True).first() or routes.order_by("id").first()


def _consider(account: KeyCrmAccount, entity_set: str, document: dict[str, Any],
              route: PaymentRoute, result: CheckResult, bas: BasClient) -> None:
    ref = document["Ref_Key"]
    key = f"payment:bas:{ref}"
    # The portal's own document carries the KeyCRM payment in its comment: its link may be
    # missing (the answer was lost, the worker died before storing it), and sending it to
    # KeyCRM would record the payment twice.
    if carries_payment_marker(document.get("Комментарий")) or \
            Correspondence.objects.filter(account=account, directory=KeyCrmDirectory.PAYMENT,
                                          bas_entity_set=entity_set, bas_ref=ref).exists() or \
            OutboxMessage.objects.filter(account=account, key=key).exclude(
                state=OutboxState.SUPERSEDED).exists():
        result.known += 1
        return
    order = _linked_order(account, document)
    if order is None:
        result.unlinked += 1
        return
    number = document.get("Number") or ""
    paid_at = bas.from_bas_datetime(document.get("Date"))
    payload = {
        "order_id": order.keycrm_id, "bas_set": entity_set, "bas_ref": ref, "number": number,
        "body": {
            "amount": document.get("СуммаДокумента") or 0,
            "payment_method_id": route.keycrm_payment_method_id,
            "status": "paid",
            "description": bas_payment_marker(number, ref),
            **({"payment_date": format_keycrm_datetime(paid_at)} if paid_at else {}),
        },
    }
    outbox_put(account=account, kind=KIND, key=key, payload=payload,
               cause=_("%(set)s %(number)s entered in BAS for KeyCRM order %(order)s") % {
                   "set": entity_set, "number": number, "order": order.keycrm_id})
    result.queued += 1


def _linked_order(account: KeyCrmAccount, document: dict[str, Any]) -> Correspondence | None:
    candidates = [document.get("ДокументОснование")]
    for row in document.get("РасшифровкаПлатежа") or []:
        candidates += [row.get(column) for column in ORDER_COLUMNS]
    refs = [str(c) for c in candidates if c and not literals.is_empty_ref(str(c))]
    if not refs:
        return None
    return Correspondence.objects.filter(account=account, directory=KeyCrmDirectory.ORDER,
                                         bas_ref__in=refs).first()


# --- the sender ----------------------------------------------------------------------------
def _find_payment(client: KeyCrmClient, order_id: int, ref: str) -> dict[str, Any] | None:
    order = client.get_order(order_id, include=["payments"])
    return next((p for p in order.get("payments") or []
                 if ref in (p.get("description") or "")), None)


def _send(client: KeyCrmClient, message: OutboxMessage) -> dict[str, Any]:
    """Add the payment unless the order already lists it (an answer may have been lost). The
    answer to ``POST …/payment`` carries no id, so the order is read back for it."""
    payload = message.payload
    order_id, ref = int(payload["order_id"]), payload["bas_ref"]
    # Always searched first, not only on a repeat: "Send again" starts the count afresh, and
    # an earlier send whose answer was lost may already have added the payment.
    if found := _find_payment(client, order_id, ref):
        return {"payment_id": found["id"], "found": True}
    client.add_order_payment(order_id, payload["body"])
    found = _find_payment(client, order_id, ref)
    if found is None:
        raise OutboxRefused(_("KeyCRM accepted the payment but order %(id)s does not list it")
                            % {"id": order_id})
    return {"payment_id": found["id"]}


def _confirm(message: OutboxMessage, result: dict[str, Any]) -> None:
    payload = message.payload
    correspondence_set(account=message.account, directory=KeyCrmDirectory.PAYMENT,
                       keycrm_id=int(result["payment_id"]), bas_entity_set=payload["bas_set"],
                       bas_ref=payload["bas_ref"],
                       bas_presentation=f"{payload['bas_set']} {payload['number']}".strip(),
                       origin=CorrespondenceOrigin.IMPORTED,
                       note=_("order %(id)s") % {"id": payload["order_id"]})


def _lock(message: OutboxMessage) -> str:
    return f"order:{message.payload['order_id']}"


register_sender(KIND, Sender(send=_send, confirm=_confirm, lock=_lock))
