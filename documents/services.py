"""The follow-up log and the context every follow-up of one order shares.

A follow-up (a payment document, a sales invoice, a closed order…) runs once per occasion: the
occasion is a ``DocumentAction`` row keyed by what caused it. ``action_claim`` returns None
when the occasion already ended (done, or not needed); otherwise it counts the attempt and
commits a STARTED row *before* BAS is touched, so that the next attempt knows an earlier one
may have written something and searches BAS before creating.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable
from typing import Any

from django.utils import timezone

from accounts.models import KeyCrmAccount
from documents.models import ActionOutcome, DocumentAction, FollowupSettings
from integration.bas.client import BasClient, BasError
from integration.keycrm.client import KeyCrmClient, KeyCrmError
from mappings.models import Correspondence

logger = logging.getLogger(__name__)

FINAL_OUTCOMES = (ActionOutcome.DONE, ActionOutcome.SKIPPED)


class FollowupProblem(Exception):
    """A follow-up cannot run as things are: a person must change a setting or BAS data
    (``retry=False``), or it is worth trying again later (``retry=True``)."""

    def __init__(self, message: str, *, retry: bool = False) -> None:
        super().__init__(message)
        self.retry = retry


@dataclasses.dataclass(frozen=True)
class Done:
    """How a follow-up ended when it did not fail: DONE or SKIPPED, why, and the document."""

    outcome: str
    reason: str
    document_set: str = ""
    document_ref: str | None = None
    document_number: str = ""


@dataclasses.dataclass(frozen=True)
class StepResult:
    action: str
    outcome: str  # an ActionOutcome
    text: str


@dataclasses.dataclass
class FollowupContext:
    """One order after its BAS document was written: the KeyCRM snapshot, the link to the
    document, and the document itself (read once, when a follow-up first needs it)."""

    account: KeyCrmAccount
    order: dict[str, Any]
    order_link: Correspondence
    configuration: str
    bas: BasClient
    keycrm: KeyCrmClient | None = None
    settings: FollowupSettings | None = None
    _document: dict[str, Any] | None = None

    @property
    def order_id(self) -> int:
        return int(self.order["id"])

    @property
    def order_set(self) -> str:
        return self.order_link.bas_entity_set

    @property
    def order_ref(self) -> str:
        return str(self.order_link.bas_ref)

    def document(self) -> dict[str, Any]:
        if self._document is None:
            self._document = self.bas.get(self.order_set, self.order_ref)
        return self._document

    def status_occasion(self) -> str:
        """The order's current status change: status id and when it was set."""
        return f"{self.order.get('status_id')}@{self.order.get('status_changed_at') or ''}"


def action_claim(*, account: KeyCrmAccount, order_id: int, key: str, action: str,
                 trigger: str = "") -> DocumentAction | None:
    """The log row of an occasion, with one more attempt counted; None when it already
    ended (done or not needed)."""
    row, _ = DocumentAction.objects.get_or_create(
        account=account, key=key[:200],
        defaults={"keycrm_order_id": order_id, "action": action, "trigger": trigger[:200],
                  "outcome": ActionOutcome.STARTED})
    if row.outcome in FINAL_OUTCOMES:
        return None
    row.attempts += 1
    row.outcome = ActionOutcome.STARTED
    row.save(update_fields=["attempts", "outcome", "updated_at"])
    return row


def action_end(row: DocumentAction, *, outcome: str, reason: str = "", document_set: str = "",
               document_ref: str | uuid.UUID | None = None,
               document_number: str = "") -> DocumentAction:
    row.outcome, row.reason = outcome, reason
    if document_set:
        row.document_set = document_set
    if document_ref:
        row.document_ref = document_ref
    if document_number:
        row.document_number = document_number
    row.updated_at = timezone.now()
    row.save()
    return row


def action_note(*, account: KeyCrmAccount, order_id: int, key: str, action: str, trigger: str,
                outcome: str, reason: str, document_set: str = "",
                document_ref: str | uuid.UUID | None = None,
                document_number: str = "") -> DocumentAction | None:
    """Record why an occasion did not need anything (once: an ended row is kept as is)."""
    row = action_claim(account=account, order_id=order_id, key=key, action=action,
                       trigger=trigger)
    if row is None:
        return None
    return action_end(row, outcome=outcome, reason=reason, document_set=document_set,
                      document_ref=document_ref, document_number=document_number)


def followup_settings(account: KeyCrmAccount) -> FollowupSettings | None:
    return FollowupSettings.objects.filter(account=account).first()


def action_run(*, ctx: FollowupContext, key: str, action: str, trigger: str,
               work: Callable[[DocumentAction], Done]) -> StepResult | None:
    """Run one follow-up occasion once: claim its row, do the work, record how it ended.
    None when the occasion had already ended. BAS and KeyCRM errors become RETRY (worth
    another try) or WAITING (a person must look), never an exception."""
    row = action_claim(account=ctx.account, order_id=ctx.order_id, key=key, action=action,
                       trigger=trigger)
    if row is None:
        return None
    try:
        done = work(row)
    except FollowupProblem as exc:
        outcome = ActionOutcome.RETRY if exc.retry else ActionOutcome.WAITING
        text = str(exc)
    except BasError as exc:
        outcome = ActionOutcome.RETRY if exc.retryable and not exc.business \
            else ActionOutcome.WAITING
        text = f"BAS: {exc.message}"
    except KeyCrmError as exc:
        outcome = ActionOutcome.RETRY if exc.retryable else ActionOutcome.WAITING
        text = f"KeyCRM: {exc}"
    else:
        action_end(row, outcome=done.outcome, reason=done.reason,
                   document_set=done.document_set, document_ref=done.document_ref,
                   document_number=done.document_number)
        return StepResult(action, done.outcome, done.reason)
    logger.info("follow-up %s of order %s: %s %s", key, ctx.order_id, outcome, text)
    action_end(row, outcome=outcome, reason=text)
    return StepResult(action, outcome, text)
