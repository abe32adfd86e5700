"""The long variant (about ten minutes; off unless ``RELIABILITY_LONG=1`` or ``--long``): the
storm of ``test_storm.py`` at ten times the size — 1,000 orders of 200 buyers, 5,000 webhooks
(every status change of every order, 30 % sent twice, all shuffled) — received in ten rounds.
Each round runs two workers under a different fault of BAS or KeyCRM and SIGKILLs one of them
while it holds a record; a fresh worker takes its place and the sweep gives the dead worker's
record back. Afterwards BAS holds each order exactly once, posted, in the state of its latest
KeyCRM status, with one counterparty per buyer, and no record is lost or stuck."""

from __future__ import annotations

import collections
import dataclasses
import random
import time
from typing import Any

import pytest

from staging.models import InboundRecord, ProcessingLock, RecordState
from tests.reliability.conftest import (
    COUNTERPARTIES,
    ENDED,
    ORDERS,
    Worker,
    Workers,
    document_creations,
    figures,
    post_webhook,
    queue_retries,
    record_states,
    webhook_body,
)

ORDER_COUNT, BUYER_COUNT = 1000, 200
# 3,850 distinct webhooks (1,000 orders created, 2,850 status changes) and 1,150 of them sent
# again: 30 % repeated, 5,000 in all, ten rounds of 500.
DISTINCT, WEBHOOK_COUNT, ROUND_SIZE = 3850, 5000, 500
FIRST_STATUS = "Нове"


@dataclasses.dataclass(frozen=True)
class Fault:
    name: str
    bas: dict[str, Any] = dataclasses.field(default_factory=dict)
    keycrm: dict[str, Any] = dataclasses.field(default_factory=dict)


# One per round, each already proved on a small scale in test_faults.py.
ROUNDS = (
    Fault("none"),
    Fault("bas-500", bas={"error_rate": 0.2, "error_status": 500}),
    Fault("bas-drop-after-commit", bas={"drop_after_commit_count": 30, "only_methods": ["POST"]}),
    Fault("keycrm-429", keycrm={"storm_429_count": 12}),
    Fault("bas-slow-documents", bas={"latency_ms": 300, "only_methods": ["POST"],
                                     "path_contains": ORDERS}),
    Fault("bas-503", bas={"error_rate": 0.1, "error_status": 503}),
    Fault("bas-drop-5%", bas={"drop_after_commit_rate": 0.05, "only_methods": ["POST"]}),
    Fault("keycrm-500", keycrm={"error_rate": 0.1, "error_status": 500}),
    Fault("bas-500-and-keycrm-429", bas={"error_rate": 0.1, "error_status": 500},
          keycrm={"storm_429_count": 8}),
    Fault("none"),
)

# A dead worker's record counts as stuck after 8 s; a worker stops after 10 s with nothing
# due, so its last idle sweeps find that record. A record's slowest attempt here (four tries
# of a GET meeting 429s: at most 7 s of back-off) stays under the 8 s.
WORKER_SETTINGS = {"STAGING_STALE_SECONDS": 8, "STAGING_MAX_ATTEMPTS": 50,
                   "KEYCRM_MAX_RETRIES": 3}
IDLE_SECONDS = 10


def _storm(shop, keycrm, rng: random.Random) -> tuple[list[dict], dict[int, str]]:
    """Every webhook of 1,000 orders' lives plus 30 % repeats, shuffled; and each order's
    latest status."""
    later_statuses = [name for name in shop.statuses if name != FIRST_STATUS]
    sent: list[dict] = []
    latest: dict[int, str] = {}
    changes_left = DISTINCT - ORDER_COUNT
    for n in range(ORDER_COUNT):
        k = n % BUYER_COUNT
        order_id = shop.order(keycrm, status=FIRST_STATUS,
                              phone=f"067 {100 + k // 100} 20 {k % 100:02d}",
                              email=f"buyer{k}@example.com", name=f"Покупець {k:03d}",
                              skus=rng.choice([("TSH-BLK",), ("CAP-1",), ("TSH-BLK", "CAP-1")]))
        sent.append(webhook_body(keycrm, order_id))
        remaining = ORDER_COUNT - n - 1
        path = rng.sample(later_statuses, k=3 if changes_left - 3 >= 2 * remaining else 2)
        changes_left -= len(path)
        for name in path:
            keycrm.set_order_status(order_id, shop.statuses[name])
            sent.append(webhook_body(keycrm, order_id))
        latest[order_id] = path[-1]
    storm = sent + rng.sample(sent, WEBHOOK_COUNT - len(sent))
    rng.shuffle(storm)
    return storm, latest


def _holds_a_record(worker: Worker) -> bool:
    return InboundRecord.objects.filter(state=RecordState.PROCESSING,
                                        claimed_by=worker.name).exists()


def _kill_while_holding(worker: Worker, *, timeout: float) -> bool:
    """SIGKILL ``worker`` the moment it is seen holding a record (or after ``timeout``).
    Returns whether it held one."""
    deadline = time.monotonic() + timeout
    holding = False
    while time.monotonic() < deadline and worker.process.poll() is None:
        if _holds_a_record(worker):
            holding = True
            break
        time.sleep(0.01)
    worker.kill()
    return holding


def _injected(log: list[dict]) -> dict[str, int]:
    statuses = collections.Counter(r["status"] for r in log)
    return {"5xx": sum(n for status, n in statuses.items() if status and status >= 500),
            "429": statuses[429], "dropped": sum(1 for r in log if r.get("dropped"))}


def _run_round(number: int, fault: Fault, *, client, shop, keycrm, bas, workers: Workers,
               batch: list[dict], rng: random.Random) -> dict[str, Any]:
    started = time.monotonic()
    answers = collections.Counter()
    for body in batch:
        response = post_webhook(client, shop.account, body)
        assert response.status_code == 200, response.content
        answers[response.json()["state"]] += 1
    bas_seen, keycrm_seen = len(bas.requests()), len(keycrm.requests())
    retries_before = queue_retries()

    bas.set_faults(**fault.bas)
    keycrm.set_faults(**fault.keycrm)
    pair = [workers.start(f"r{number}{side}", idle_seconds=IDLE_SECONDS, **WORKER_SETTINGS)
            for side in "ab"]
    victim = rng.choice(pair)
    time.sleep(rng.uniform(0.5, 3.0))
    mid_record = _kill_while_holding(victim, timeout=10)
    stand_in = workers.start(f"r{number}c", idle_seconds=IDLE_SECONDS, **WORKER_SETTINGS)
    survivors = [w for w in pair if w is not victim] + [stand_in]
    for worker in survivors:
        worker.wait(timeout=600)
    bas.set_faults()
    keycrm.set_faults()

    injected_bas = _injected(bas.requests()[bas_seen:])
    injected_keycrm = _injected(keycrm.requests()[keycrm_seen:])
    states = record_states()
    return {"round": number, "fault": fault.name, "webhooks": len(batch),
            "queued": answers[RecordState.QUEUED], "repeats": answers[RecordState.DUPLICATE],
            "killed_mid_record": mid_record,
            "bas_5xx": injected_bas["5xx"], "bas_dropped": injected_bas["dropped"],
            "keycrm_429": injected_keycrm["429"], "keycrm_5xx": injected_keycrm["5xx"],
            "retries": queue_retries() - retries_before,
            "not_ended": sum(n for state, n in states.items() if state not in ENDED),
            "processed": sum(w.processed() for w in survivors),
            "elapsed": time.monotonic() - started}


@pytest.mark.timeout(3600)
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_ten_rounds_of_storm_faults_and_kills_lose_and_double_nothing(
        long_run, client, fast_shop, keycrm, bas, workers):
    shop = fast_shop
    # The queue is under test, not the rate budget (test_rate_budget.py is about that).
    shop.account.requests_per_minute = 60_000
    shop.account.save(update_fields=["requests_per_minute"])
    rng = random.Random(20250909)
    started = time.monotonic()
    storm, latest = _storm(shop, keycrm, rng)
    built_s = time.monotonic() - started
    assert len(storm) == WEBHOOK_COUNT
    assert len(ROUNDS) * ROUND_SIZE == WEBHOOK_COUNT

    rounds = []
    for number, fault in enumerate(ROUNDS):
        batch = storm[number * ROUND_SIZE:(number + 1) * ROUND_SIZE]
        rounds.append(_run_round(number, fault, client=client, shop=shop, keycrm=keycrm,
                                 bas=bas, workers=workers, batch=batch, rng=rng))
        figures("long/round", **rounds[-1])
    # Whatever a round left due later (a retry after its workers stopped) is finished here,
    # with no fault.
    final = workers.run("final", timeout=300, idle_seconds=IDLE_SECONDS, **WORKER_SETTINGS)[0]
    elapsed = time.monotonic() - started

    states = record_states()
    stuck = InboundRecord.objects.exclude(state__in=ENDED)
    documents = bas.objects("sb", ORDERS)
    numbers = collections.Counter(d["НомерВходящегоДокумента"] for d in documents)
    # A creation BAS carried out: answered 201, or committed and its answer dropped.
    committed = [r for r in document_creations(bas) if r["status"] == 201 or r.get("dropped")]
    counterparties = bas.objects("sb", COUNTERPARTIES)
    by_name = collections.Counter(c["Description"] for c in counterparties)
    figures("long/total", records=sum(states.values()), webhooks=len(storm), distinct=DISTINCT,
            duplicates=len(documents) - len(numbers),
            repeats_recognised=states.get(RecordState.DUPLICATE, 0),
            done=states.get(RecordState.DONE, 0), lost=stuck.count(),
            retries=queue_retries(), kills=len(ROUNDS),
            kills_mid_record=sum(r["killed_mid_record"] for r in rounds),
            bas_faults=sum(r["bas_5xx"] + r["bas_dropped"] for r in rounds),
            keycrm_faults=sum(r["keycrm_429"] + r["keycrm_5xx"] for r in rounds),
            documents=len(documents), document_creations=len(committed),
            counterparties=len(counterparties), final_pass=final.processed(),
            redis=bool(workers.redis_url), elapsed_build=built_s, elapsed=elapsed)

    assert list(stuck.values_list("id", "state", "message")) == []
    assert states == {RecordState.DONE: DISTINCT, RecordState.DUPLICATE: WEBHOOK_COUNT - DISTINCT}
    assert list(ProcessingLock.objects.values_list("name", "holder")) == []
    # The faults fired and the kills hit records in flight: otherwise this proves little.
    assert all(r["bas_5xx"] for r in rounds if r["fault"] in {"bas-500", "bas-503"})
    assert all(r["bas_dropped"] for r in rounds if r["fault"].startswith("bas-drop"))
    assert sum(r["killed_mid_record"] for r in rounds) >= len(ROUNDS) // 2
    # Exactly one document per order, none created twice, each posted and in the BAS state
    # of the order's latest KeyCRM status.
    assert numbers == {f"KC-{order_id}": 1 for order_id in latest}
    assert len(committed) == ORDER_COUNT
    assert all(d["Posted"] for d in documents)
    wrong = {d["НомерВходящегоДокумента"]: d["СостояниеЗаказа"] for d in documents
             if d["СостояниеЗаказа"] != shop.states[latest[int(d["НомерВходящегоДокумента"][3:])]]}
    assert wrong == {}
    # One counterparty per buyer, however many of their orders were processed at once.
    assert by_name == {f"Покупець {k:03d}": 1 for k in range(BUYER_COUNT)}
