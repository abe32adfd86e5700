"""Faults on the way to BAS and from KeyCRM: whatever breaks, once it is over every order is in
BAS exactly once, posted, and every record is done.

Each test receives webhooks through the real endpoint, breaks an emulator (which runs in this
process, so a ``staging_worker`` subprocess meets the fault over HTTP) and lets workers run.
"""

from __future__ import annotations

import collections
import itertools
import time
import uuid

import pytest
import redis

from mappings.models import Correspondence, KeyCrmDirectory
from staging.models import Attempt, InboundRecord, ProcessingLock, RecordState
from tests.reliability.conftest import (
    COUNTERPARTIES,
    ENDED,
    ORDERS,
    document_creations,
    figures,
    post_webhook,
    queue_retries,
    record_states,
    wait_until,
    webhook_body,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _receive(client, shop, keycrm, *, orders: int, buyers: int) -> list[int]:
    """``orders`` new orders of ``buyers`` buyers, one webhook each, stored and queued."""
    ids = []
    for n in range(orders):
        k = n % buyers
        order_id = shop.order(keycrm, status="Підтверджено", phone=f"050 300 40 {k:02d}",
                              email=f"client{k}@example.com", name=f"Клієнт {k:02d}")
        response = post_webhook(client, shop.account, webhook_body(keycrm, order_id))
        assert response.json()["state"] == RecordState.QUEUED
        ids.append(order_id)
    return ids


def _assert_each_once(bas, shop, order_ids: list[int], *, buyers: int) -> list[dict]:
    """One posted document per order in its state, one counterparty per buyer, every record
    done; returns the documents."""
    documents = bas.objects("sb", ORDERS)
    numbers = collections.Counter(d["НомерВходящегоДокумента"] for d in documents)
    assert numbers == {f"KC-{order_id}": 1 for order_id in order_ids}
    assert all(d["Posted"] for d in documents)
    assert {d["СостояниеЗаказа"] for d in documents} == {shop.states["Підтверджено"]}
    names = collections.Counter(c["Description"] for c in bas.objects("sb", COUNTERPARTIES))
    assert names == {f"Клієнт {k:02d}": 1 for k in range(buyers)}
    not_done = InboundRecord.objects.exclude(state=RecordState.DONE)
    assert list(not_done.values_list("id", "state", "message")) == []
    assert list(ProcessingLock.objects.values_list("name", "holder")) == []
    # The register points every order at its one document.
    linked = dict(Correspondence.objects.filter(directory="order").values_list(
        "keycrm_id", "bas_ref"))
    assert {f"KC-{k}": str(v) for k, v in linked.items()} == {
        d["НомерВходящегоДокумента"]: d["Ref_Key"] for d in documents}
    return documents


def test_bas_failing_a_fifth_of_its_calls_loses_nothing_and_doubles_nothing(
        client, fast_shop, keycrm, bas, workers):
    shop = fast_shop
    order_ids = _receive(client, shop, keycrm, orders=20, buyers=10)
    started = time.monotonic()

    bas.set_faults(error_rate=0.2, error_status=500)
    # Under faults: records whose POST met a 500 go to RETRY (a POST is never repeated by the
    # client); the queue takes them again a second later while the workers still run.
    workers.run("w1", "w2", idle_seconds=1, STAGING_RETRY_BASE_SECONDS=1,
                STAGING_MAX_ATTEMPTS=50)
    under_faults = record_states()
    errors = [r for r in bas.requests() if r["status"] == 500]
    bas.set_faults()
    workers.run("w3", idle_seconds=3, STAGING_MAX_ATTEMPTS=50)
    elapsed = time.monotonic() - started

    created = [r for r in document_creations(bas) if r["status"] == 201]
    figures("faults/bas-500", records=InboundRecord.objects.count(),
            under_faults=under_faults, injected_500=len(errors), retries=queue_retries(),
            duplicates=len(created) - len(order_ids),
            lost=InboundRecord.objects.exclude(state=RecordState.DONE).count(),
            documents=len(bas.objects("sb", ORDERS)), elapsed=elapsed)
    assert errors, "the fault plan never fired"
    assert queue_retries() > 0, "no record met a failed POST: the test proves nothing"
    assert len(created) == len(order_ids)
    _assert_each_once(bas, shop, order_ids, buyers=10)


def test_answers_lost_after_bas_committed_a_post_create_nothing_twice(
        client, fast_shop, keycrm, bas, workers):
    shop = fast_shop
    order_ids = _receive(client, shop, keycrm, orders=20, buyers=10)
    started = time.monotonic()

    # The first 12 POSTs (counterparty and document creations, postings) are carried out by
    # BAS, then the connection is closed without an answer.
    bas.set_faults(drop_after_commit_count=12, only_methods=["POST"])
    workers.run("w1", "w2", idle_seconds=2)
    elapsed = time.monotonic() - started

    dropped = [r for r in bas.requests(method="POST") if r.get("dropped")]
    documents = bas.objects("sb", ORDERS)
    created = document_creations(bas)
    figures("faults/drop-after-commit", records=InboundRecord.objects.count(),
            dropped=len(dropped),
            dropped_creations=sum(not r["path"].endswith("/Post") for r in dropped),
            dropped_postings=sum(r["path"].endswith("/Post") for r in dropped),
            retries=queue_retries(), document_posts=len(created),
            duplicates=len(documents) - len(order_ids),
            lost=InboundRecord.objects.exclude(state=RecordState.DONE).count(),
            documents=len(documents), elapsed=elapsed)
    assert len(dropped) == 12
    # A lost creation is found by the order number it carries, never sent again.
    assert len(created) == len(order_ids)
    assert len(bas.requests(method="POST", path_contains=COUNTERPARTIES)) == 10
    _assert_each_once(bas, shop, order_ids, buyers=10)


def test_a_worker_killed_while_bas_writes_the_document_is_taken_over(
        client, fast_shop, keycrm, bas, workers):
    shop = fast_shop
    order_ids = _receive(client, shop, keycrm, orders=6, buyers=6)
    started = time.monotonic()

    # Creating or posting an order document takes BAS 1.5 s. The worker is killed in the
    # middle of the first creation: it has created the buyer's counterparty and sent the
    # document's POST. BAS still creates the document; nobody hears of it.
    bas.set_faults(latency_ms=1500, only_methods=["POST"], path_contains=ORDERS)
    victim = workers.start("w1", STAGING_STALE_SECONDS=600)
    # The counterparty's link is stored right before the document's POST goes out.
    wait_until(lambda: Correspondence.objects.filter(directory=KeyCrmDirectory.BUYER).exists(),
               timeout=30, what="the worker creating the first counterparty")
    time.sleep(0.5)
    processing = list(InboundRecord.objects.filter(state=RecordState.PROCESSING))
    victim.kill()
    killed_at = time.monotonic() - started
    assert [r.claimed_by for r in processing] == ["w1"]
    [stuck] = processing
    # The document the killed worker asked for is made after its death: an orphan.
    wait_until(lambda: [r for r in document_creations(bas) if r["status"] == 201], timeout=5,
               what="BAS finishing the orphaned creation")
    orphans = len(bas.objects("sb", ORDERS))
    assert not Correspondence.objects.filter(directory="order").exists()
    bas.set_faults()

    # The next worker has nothing to do but the five other records; when it is idle its sweep
    # finds the record held by the dead worker (claimed more than 2 s ago) and takes it back.
    recovery = workers.run("w2", idle_seconds=3, STAGING_STALE_SECONDS=2)[0]
    elapsed = time.monotonic() - started

    stuck.refresh_from_db()
    attempts = list(Attempt.objects.filter(record=stuck).values_list("worker", "outcome"))
    figures("faults/sigkill", records=InboundRecord.objects.count(), killed_at_s=killed_at,
            orphan_documents=orphans, recovered=recovery.processed(),
            retries=queue_retries(), stuck_attempts=stuck.attempts,
            document_posts=len(document_creations(bas)),
            duplicates=len(bas.objects("sb", ORDERS)) - len(order_ids),
            lost=InboundRecord.objects.exclude(state=RecordState.DONE).count(),
            documents=len(bas.objects("sb", ORDERS)), elapsed=elapsed)
    assert orphans == 1
    assert recovery.processed() == len(order_ids)
    # The orphan was found by its number and completed, not created again.
    assert len(document_creations(bas)) == len(order_ids)
    assert stuck.state == RecordState.DONE
    assert stuck.attempts == 2  # the killed one counts
    assert attempts == [("w2", RecordState.DONE)]
    _assert_each_once(bas, shop, order_ids, buyers=6)


def test_keycrm_refusing_with_429_is_backed_off_from(client, fast_shop, keycrm, bas, workers):
    shop = fast_shop
    order_ids = _receive(client, shop, keycrm, orders=5, buyers=5)
    started = time.monotonic()

    # Six refusals in a row. The client tries a call four times (KEYCRM_MAX_RETRIES=3),
    # waiting 0.5-1, 1-2 and 2-4 s between tries: the first record's GET meets four 429s and
    # goes back to the queue, the second's meets two and then gets its order.
    keycrm.set_faults(storm_429_count=6)
    workers.run("w1", idle_seconds=2, KEYCRM_MAX_RETRIES=3)
    elapsed = time.monotonic() - started

    gets = keycrm.requests(method="GET", path_contains="/order/")
    statuses = collections.Counter(r["status"] for r in gets)
    retried = Attempt.objects.filter(outcome=RecordState.RETRY)
    # The first record's four tries: 0.5-1 s, 1-2 s, 2-4 s apart (jitter in the upper half).
    gaps = [round(b["at"] - a["at"], 2) for a, b in itertools.pairwise(gets[:4])]
    figures("faults/keycrm-429", records=InboundRecord.objects.count(),
            refused_429=statuses[429], answered_200=statuses[200], backoff_gaps=gaps,
            client_retries=len(gets) - len(order_ids) - retried.count(),
            retries=queue_retries(), lost=InboundRecord.objects.exclude(
                state=RecordState.DONE).count(),
            documents=len(bas.objects("sb", ORDERS)), elapsed=elapsed)
    assert statuses == {429: 6, 200: len(order_ids)}
    assert [r["status"] for r in gets[:4]] == [429] * 4
    bounds = [(0.5, 1), (1, 2), (2, 4)]  # the back-off's; a little more for the round trip
    assert all(low <= gap <= high + 0.5 for gap, (low, high) in zip(gaps, bounds, strict=True))
    [retry] = retried
    assert retry.message.startswith("KeyCRM: ")
    assert "too many requests" in retry.message
    assert len(document_creations(bas)) == len(order_ids)
    _assert_each_once(bas, shop, order_ids, buyers=5)


def test_a_slow_worker_is_not_robbed_of_its_order_by_the_sweep(
        client, fast_shop, keycrm, bas, workers):
    """The sweep and the order lock tell a dead worker from a slow one by time alone
    (STAGING_STALE_SECONDS), and nothing renews a claim or a lock while a record is being
    processed. Scaled down: BAS takes 3 s to create or post a document, records count as stuck
    after 2 s (in production: 600 s, while one BAS call may wait 120 s and a GET is tried four
    times; ``staging_worker`` has no time limit at all)."""
    shop = fast_shop
    order_id = shop.order(keycrm, status="Нове", phone="050 300 40 99", name="Клієнт 99")
    post_webhook(client, shop.account, webhook_body(keycrm, order_id))
    keycrm.set_order_status(order_id, shop.statuses["Підтверджено"])
    post_webhook(client, shop.account, webhook_body(keycrm, order_id))
    started = time.monotonic()

    bas.set_faults(latency_ms=3000, only_methods=["POST"], path_contains=ORDERS)
    w1, w2 = workers.run("w1", "w2", idle_seconds=3, STAGING_STALE_SECONDS=2)
    elapsed = time.monotonic() - started

    documents = bas.objects("sb", ORDERS)
    figures("faults/slow-worker", records=InboundRecord.objects.count(),
            document_posts=len(document_creations(bas)),
            duplicates=len(documents) - 1, retries=queue_retries(),
            processed_by_w1=w1.processed(), processed_by_w2=w2.processed(),
            documents=len(documents), elapsed=elapsed)
    assert [d["НомерВходящегоДокумента"] for d in documents] == [f"KC-{order_id}"]
    assert len(document_creations(bas)) == 1



# Sends ``process_record`` for the given records to one queue, as the webhook view and the
# dispatcher do (``python -c SEND_TASKS queue id…``).
SEND_TASKS = """
import sys, django
django.setup()
from staging.tasks import process_record
for record_id in sys.argv[2:]:
    process_record.apply_async((int(record_id),), queue=sys.argv[1])
"""


@pytest.mark.redis
def test_two_processes_of_one_celery_worker_never_hold_one_order_at_once(
        client, fast_shop, keycrm, bas, workers, redis_url):
    """A Celery worker runs a pool of processes (prefork, ``-c 2`` here), forked from one
    parent. Two records of one order, one to each pool process, must still be processed one
    after the other: each call holds the order's lock under a name of its own."""
    shop = fast_shop
    order_id = shop.order(keycrm, status="Нове", phone="050 300 40 98", name="Клієнт 98")
    post_webhook(client, shop.account, webhook_body(keycrm, order_id))
    keycrm.set_order_status(order_id, shop.statuses["Підтверджено"])
    post_webhook(client, shop.account, webhook_body(keycrm, order_id))
    record_ids = sorted(InboundRecord.objects.values_list("id", flat=True))
    queue = f"reliability-{uuid.uuid4().hex[:12]}"
    broker = {"CELERY_BROKER_URL": redis_url, "REDIS_URL": redis_url}

    # Creating a document takes BAS a second, so the two records overlap if the lock lets them.
    bas.set_faults(latency_ms=1000, only_methods=["POST"], path_contains=ORDERS)
    celery = workers.spawn("celery", [
        "-m", "celery", "-A", "config", "worker", "--pool", "prefork", "--concurrency", "2",
        "--queues", queue, "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--loglevel", "INFO"], **broker)
    wait_until(lambda: "ready." in celery.output() or celery.process.poll() is not None,
               timeout=30, interval=0.1, what="the Celery worker to start")
    assert celery.process.poll() is None, celery.output()[-3000:]
    started = time.monotonic()
    workers.spawn("send", ["-c", SEND_TASKS, queue, *map(str, record_ids)], **broker).wait(30)
    wait_until(lambda: not InboundRecord.objects.exclude(state__in=ENDED).exists(),
               timeout=30, interval=0.1, what="both records to be processed")
    elapsed = time.monotonic() - started
    celery.process.terminate()
    celery.process.wait(timeout=20)
    redis.Redis.from_url(redis_url).delete(f"_kombu.binding.{queue}", queue)

    documents = bas.objects("sb", ORDERS)
    counterparties = bas.objects("sb", COUNTERPARTIES)
    holders = list(Attempt.objects.order_by("id").values_list("worker", flat=True))
    figures("faults/one-celery-worker", records=len(record_ids),
            attempts_by=holders, document_posts=len(document_creations(bas)),
            duplicates=len(documents) - 1, counterparties=len(counterparties),
            retries=queue_retries(), documents=len(documents), elapsed=elapsed)
    assert [d["НомерВходящегоДокумента"] for d in documents] == [f"KC-{order_id}"]
    assert [c["Description"] for c in counterparties] == ["Клієнт 98"]
