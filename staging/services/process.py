"""Stage two for one record: claim it, hold its order, run the pipeline, store the outcome."""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import connection
from django.utils.translation import gettext

from accounts.crypto import SecretUnreadable
from accounts.models import KeyCrmAccount
from integration.bas.client import BasClient
from integration.keycrm.client import KeyCrmClient
from integration.pipelines.order_followups import order_followups
from integration.pipelines.order_to_bas import Clients, order_to_bas
from staging.models import InboundRecord, RecordState
from staging.services.exchanges import exchange_store, exchanges_for
from staging.services.queue import (
    Outcome,
    lock_acquire,
    lock_release,
    record_claim,
    record_finish,
    record_heartbeat,
    record_release,
)

logger = logging.getLogger(__name__)

LOCKED_ORDER_DELAY = 2.0  # seconds before a record whose order is busy is tried again


class _Heartbeat:
    """While a record is processed, a thread renews its claim and locks every quarter of the
    stale limit: only a worker that has really stopped loses its record to the sweeper."""

    def __init__(self, record: InboundRecord, worker: str) -> None:
        self.record, self.worker = record, worker
        self.interval = max(0.5, settings.STAGING_STALE_SECONDS / 4)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{record.pk}",
                                        daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                record_heartbeat(record_id=self.record.pk, account_id=self.record.account_id,
                                 worker=self.worker)
        except Exception:  # a missed beat only risks a sweep; never crash the worker
            logger.exception("heartbeat of record %s failed", self.record.pk)
        finally:
            connection.close()  # this thread's own database connection


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
        with _Heartbeat(record, worker):
            outcome = _process(record)
    except Exception as exc:  # the queue's one boundary: nothing escapes without a state
        logger.exception("record %s failed unexpectedly", record.pk)
        outcome = Outcome(RecordState.RETRY,
                          gettext("unexpected error: %(error)r") % {"error": exc}, "internal")
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
        return Outcome(RecordState.WAITING, gettext("The account has no BAS connection."),
                       "configuration")
    try:
        clients = _clients_for(account)
    except SecretUnreadable as exc:
        return Outcome(RecordState.WAITING, str(exc), "configuration")
    with exchanges_for(record.pk):
        outcome = order_to_bas(record=record, clients=clients, worker=record.claimed_by)
        if outcome.state == RecordState.DONE:  # payments and documents by status follow
            outcome = order_followups(record=record, clients=clients, outcome=outcome)
        return outcome


# A worker process keeps one pair of clients per account between records: their connections
# stay open (no new TCP connection and client set-up per order) and the rate budget's slots
# are checked once. A change of the account's or the connection's address, secrets or limit
# makes new clients. One record at a time per process (Celery prefork, staging_worker), so
# clients are never shared between threads. Clients idle for a while are made anew rather than
# trusting connections a server may have closed meanwhile.
CLIENTS_IDLE_SECONDS = 30.0
_clients: dict[int, tuple[tuple, Clients, float]] = {}


def _clients_for(account: KeyCrmAccount) -> Clients:
    connection = account.bas_connection
    identity = (account.api_base_url, account.api_key_encrypted, account.requests_per_minute,
                connection.pk, connection.publication_url, connection.username,
                connection.password_encrypted, connection.server_timezone)
    now = time.monotonic()
    cached = _clients.pop(account.pk, None)
    if cached is not None:
        kept_identity, kept, last_used = cached
        if kept_identity == identity and now - last_used < CLIENTS_IDLE_SECONDS:
            _clients[account.pk] = (identity, kept, now)
            return kept
        kept.close()
    clients = Clients(
        keycrm=KeyCrmClient.for_account(account, observer=exchange_store),
        bas=BasClient.for_connection(connection, observer=exchange_store))
    _clients[account.pk] = (identity, clients, now)
    return clients


def clients_forget() -> None:
    """Close the kept clients (a worker shutting down, tests)."""
    while _clients:
        _account_id, (_identity, clients, _used) = _clients.popitem()
        clients.close()
