"""What follows an order's BAS document, run right after ``order_to_bas`` ended DONE (the
worker still holds the order's lock): its payments into BAS, its fiscal receipts as retail
receipts (where the account sends them there) and the documents its status calls for.

Nothing runs unless the account switched it on. Every follow-up is idempotent (see
``documents.services``), so re-processing a record repeats only what had not finished. The
record's outcome stays DONE when every follow-up ended; otherwise it becomes RETRY or WAITING
with the follow-ups' reasons, keeping the order document it names.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.utils.translation import gettext as _

from documents.models import ActionOutcome, DocumentRule, FiscalTarget
from documents.services import FollowupContext, StepResult, followup_settings
from integration.keycrm.client import KeyCrmError
from integration.pipelines.documents_by_status import documents_by_status
from integration.pipelines.order_to_bas import Clients
from integration.pipelines.payments_to_bas import payments_to_bas
from integration.pipelines.retail_receipts import retail_receipts_to_bas
from mappings.models import Correspondence, KeyCrmDirectory
from staging.models import InboundRecord, RecordSource, RecordState
from staging.services.queue import Outcome


def order_followups(*, record: InboundRecord, clients: Clients, outcome: Outcome) -> Outcome:
    """Run the order's follow-ups; return ``outcome`` extended with what they did."""
    account = record.account
    settings = followup_settings(account)
    payments_on = settings is not None and settings.payments_to_bas
    receipts_on = settings is not None and \
        settings.fiscal_target == FiscalTarget.RETAIL_RECEIPT
    rules_on = DocumentRule.objects.filter(account=account, enabled=True).exists()
    if not (payments_on or receipts_on or rules_on) or record.keycrm_order_id is None:
        return outcome
    link = Correspondence.objects.filter(account=account, directory=KeyCrmDirectory.ORDER,
                                         keycrm_id=record.keycrm_order_id).first()
    if link is None:
        return outcome
    try:
        order = _snapshot(record, clients)
    except KeyCrmError as exc:
        state = RecordState.RETRY if exc.retryable else RecordState.WAITING
        return dataclasses.replace(outcome, state=state, problem_kind="keycrm",
                                   message=f"{outcome.message}; {exc}")
    ctx = FollowupContext(account=account, order=order, order_link=link,
                          configuration=account.bas_connection.configuration, bas=clients.bas,
                          keycrm=clients.keycrm, settings=settings)
    results: list[StepResult] = []
    if payments_on:
        results += payments_to_bas(ctx=ctx)
    if receipts_on:
        results += retail_receipts_to_bas(ctx=ctx)
    if rules_on:
        results += documents_by_status(ctx=ctx)
    return _merged(outcome, results)


def _snapshot(record: InboundRecord, clients: Clients) -> dict[str, Any]:
    """The order with its payments: the newest stored full snapshot when it is at least as new
    as this record, else one GET."""
    newest = (InboundRecord.objects.filter(
        account=record.account, keycrm_order_id=record.keycrm_order_id,
        source__in=(RecordSource.POLL, RecordSource.BACKFILL), payload__isnull=False,
        order_updated_at__isnull=False).order_by("-order_updated_at", "-id").first())
    if newest and "payments" in (newest.payload or {}) and (
            record.order_updated_at is None
            or newest.order_updated_at >= record.order_updated_at):
        return newest.payload
    return clients.keycrm.get_order(int(record.keycrm_order_id))


def _merged(outcome: Outcome, results: list[StepResult]) -> Outcome:
    if not results:
        return outcome
    notes = [r.text for r in results if r.outcome == ActionOutcome.DONE]
    problems = [r for r in results if r.outcome in (ActionOutcome.WAITING, ActionOutcome.RETRY)]
    message = "; ".join([outcome.message, *notes])
    if not problems:
        return dataclasses.replace(outcome, message=message)
    waiting = any(r.outcome == ActionOutcome.WAITING for r in problems)
    text = "; ".join(f"{r.action}: {r.text}" for r in problems)
    return dataclasses.replace(
        outcome, state=RecordState.WAITING if waiting else RecordState.RETRY,
        problem_kind="followup",
        message=_("%(done)s; follow-ups not finished: %(problems)s") % {
            "done": message, "problems": text})
