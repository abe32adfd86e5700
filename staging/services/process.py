"""Stage two for one record: claim it, hold its order, run the pipeline, store the outcome."""

from __future__ import annotations

import logging

from accounts.crypto import SecretUnreadable
from integration.bas.client import BasClient
from integration.keycrm.client import KeyCrmClient
from integration.pipelines.order_to_bas import Clients, order_to_bas
from staging.models import InboundRecord, RecordState
from staging.services.exchanges import exchange_store, exchanges_for
from staging.services.queue import (
    Outcome,
    lock_acquire,
    lock_release,
    record_claim,
    record_finish,
    record_release,
)

logger = logging.getLogger(__name__)

LOCKED_ORDER_DELAY = 2.0  # seconds before a record whose order is busy is tried again


def record_process(*, record_id: int, worker: str) -> InboundRecord | None:
    """Process one record if it is due and nobody else has it or its order; return it with its
    new state, or None when it was not ours to process. Idempotent: a second call for a
    finished record does nothing."""
    record = record_claim(record_id=record_id, worker=worker)
    if record is None:
        return None
    order_id = record.keycrm_order_id
    lock = f"order:{order_id}"
    if order_id is not None and not lock_acquire(account_id=record.account_id, name=lock,
                                                 holder=worker):
        record_release(record=record, delay=LOCKED_ORDER_DELAY)
        return None
    try:
        outcome = _process(record)
    except Exception as exc:  # the queue's one boundary: nothing escapes without a state
        logger.exception("record %s failed unexpectedly", record.pk)
        outcome = Outcome(RecordState.RETRY, f"unexpected error: {exc!r}", "internal")
    finally:
        if order_id is not None:
            lock_release(account_id=record.account_id, name=lock, holder=worker)
    record = record_finish(record=record, outcome=outcome, worker=worker)
    logger.info("record %s (order %s): %s — %s", record.pk, order_id, record.state,
                record.message)
    return record


def _process(record: InboundRecord) -> Outcome:
    account = record.account
    if account.bas_connection is None:
        return Outcome(RecordState.WAITING, "The account has no BAS connection.",
                       "configuration")
    try:
        clients = Clients(
            keycrm=KeyCrmClient.for_account(account, observer=exchange_store),
            bas=BasClient.for_connection(account.bas_connection, observer=exchange_store))
    except SecretUnreadable as exc:
        return Outcome(RecordState.WAITING, str(exc), "configuration")
    try:
        with exchanges_for(record.pk):
            return order_to_bas(record=record, clients=clients, worker=record.claimed_by)
    finally:
        clients.close()
