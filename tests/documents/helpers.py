"""What the follow-up tests share: webhooks as KeyCRM sends them, the worker loop, the outbox
loop, and the payment and document settings of a shop."""

from __future__ import annotations

import json

from django.urls import reverse

from documents.models import DocumentRule, FollowupSettings, PaymentKind, PaymentRoute
from emulators.keycrm import render
from staging.models import InboundRecord
from staging.services.outbox import outbox_due, outbox_send
from staging.services.process import record_process
from staging.services.queue import records_due

STATUS_EVENT = "order.change_order_status"
PAYMENT_EVENT = "order.change_payment_status"


def webhook(client, account, keycrm, order_id: int, event: str = STATUS_EVENT):
    with keycrm.lock:
        context = render.webhook_context(keycrm.store, keycrm.store.orders[order_id])
    return client.post(reverse("keycrm_webhook", args=[account.webhook_token]),
                       data=json.dumps({"event": event, "context": context}),
                       content_type="application/json")


def work() -> list[InboundRecord]:
    done = []
    for record_id in records_due():
        record = record_process(record_id=record_id, worker="test-worker")
        if record:
            done.append(record)
    return done


def send_outbox() -> list:
    return [m for message_id in outbox_due() if (m := outbox_send(message_id=message_id,
                                                                   worker="test"))]


def set_up_followups(*, account, ref: dict, methods: dict[str, int], statuses: dict[str, int],
                     shipped: str, cancelled: str, cash_desk: bool = True) -> None:
    """Payments both ways with fiscal attributes; ship on ``shipped``; return and close on
    ``cancelled``."""
    FollowupSettings.objects.create(
        account=account, payments_to_bas=True, payments_from_bas=True,
        fiscal_number_attribute="НомерВходящегоДокумента",
        fiscal_date_attribute="ДатаВходящегоДокумента",
        fiscal_link_attribute="НазначениеПлатежа")
    item = ref["Catalog_СтатьиДвиженияДенежныхСредств"]["from_customers"]
    PaymentRoute.objects.create(
        account=account, keycrm_payment_method_id=methods["card"], kind=PaymentKind.BANK,
        bank_account_ref=ref["Catalog_БанковскиеСчета"]["main"], cash_flow_item_ref=item,
        use_for_bas_payments=True)
    PaymentRoute.objects.create(
        account=account, keycrm_payment_method_id=methods["cash"], kind=PaymentKind.CASH,
        cash_desk_ref=ref["Catalog_Кассы"]["main"] if cash_desk else None,
        cash_flow_item_ref=item)
    DocumentRule.objects.create(account=account, action="ship",
                                keycrm_status_ids=[statuses[shipped]])
    DocumentRule.objects.create(account=account, action="return",
                                keycrm_status_ids=[statuses[cancelled]])
    reasons = ref.get("Catalog_ПричиныОтменыЗаказа", {})
    DocumentRule.objects.create(account=account, action="close",
                                keycrm_status_ids=[statuses[cancelled]],
                                cancel_reason_ref=reasons.get("refused"))
