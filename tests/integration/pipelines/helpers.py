"""Steps shared by the BAS → KeyCRM tests: KeyCRM's webhook through the real view, the staging
worker, the outbox worker, and an accountant's edit in the BAS emulator."""

from __future__ import annotations

import json
from typing import Any

from django.urls import reverse

from integration.pipelines.bas_changes import ChangesSummary, bas_changes_check
from staging.models import InboundRecord, OutboxMessage
from staging.services.outbox import outbox_due, outbox_send
from staging.services.process import record_process
from staging.services.queue import records_due

ORDERS = "Document_ЗаказПокупателя"
STATES = "Catalog_СостоянияЗаказовПокупателей"


def webhook(client, account, keycrm, order_id: int,
            event: str = "order.change_order_status") -> Any:
    """What KeyCRM's trigger posts for the order as it is now, through the real view."""
    order = keycrm.store.orders[order_id]
    changed = order["status_changed_at"]
    body = {"event": event, "context": {
        "id": order_id, "status_id": order["status_id"],
        "status_changed_at": changed.isoformat() if hasattr(changed, "isoformat") else changed,
        "updated_at": str(order["updated_at"])}}
    return client.post(reverse("keycrm_webhook", args=[account.webhook_token]),
                       data=json.dumps(body), content_type="application/json")


def work() -> list[InboundRecord]:
    """Run the staging queue once, as a worker would."""
    return [record for record_id in records_due()
            if (record := record_process(record_id=record_id, worker="test-worker"))]


def send_outbox() -> list[OutboxMessage]:
    """Send every due outbox message once, as the outbox worker would."""
    return [message for message_id in outbox_due()
            if (message := outbox_send(message_id=message_id, worker="test-outbox"))]


def check(account) -> ChangesSummary:
    return bas_changes_check(account=account, worker="test-check")


def set_state(bas, ref: str, state: str) -> None:
    """An accountant changes the order's state in BAS (a new DataVersion)."""
    with bas.lock:
        bas.infobase("sb").update(ORDERS, ref, {"СостояниеЗаказа": state,
                                                "СостояниеЗаказа_Type": f"StandardODATA.{STATES}"})


def bas_writes(bas) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in bas.requests() if r["method"] != "GET"]


def keycrm_writes(keycrm) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in keycrm.requests() if r["method"] != "GET"]
