"""The long variant (about ten minutes; off unless ``RELIABILITY_LONG=1`` or ``--long``): the
storm of ``test_storm.py`` at ten times the size — 1,000 orders of 200 buyers, about 5,000
webhooks (every status change of every order, 30 % sent again, shuffled) — in ten rounds.
In each round orders are created and change status in KeyCRM, their webhooks arrive, and two
workers run under a different fault of BAS or KeyCRM; one of them is SIGKILLed while it holds
a record, a fresh worker takes its place and the sweep gives the dead worker's record back.
Afterwards BAS holds each order exactly once, posted, in the state of its latest KeyCRM
status, with one counterparty per buyer, and no record is lost or stuck."""

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
# 3,850 distinct webhooks (1,000 orders created, 2,850 status changes), and 30 % more sent
# again: about 5,000 in all.
DISTINCT, REPEAT_SHARE = 3850, 0.3
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


def _plan(statuses: list[str], rng: random.Random) -> list[list[tuple[int, str]]]:
    """Which order (by its number) reaches which status in which round. Each order is created
    "Нове" and moves through two or three other statuses, each once (a status visited twice in
    one second would share a dedupe key with its first visit); its steps fall in rounds
    chosen at random, in order — several in one round now and then, so that round's webhooks
    of the order arrive shuffled."""
    later = [name for name in statuses if name != FIRST_STATUS]
    rounds: list[list[tuple[int, str]]] = [[] for _ in ROUNDS]
    changes_left = DISTINCT - ORDER_COUNT
    for n in range(ORDER_COUNT):
        remaining = ORDER_COUNT - n - 1
        path = [FIRST_STATUS,
                *rng.sample(later, k=3 if changes_left - 3 >= 2 * remaining else 2)]
        changes_left -= len(path) - 1
        steps = sorted(rng.choices(range(len(ROUNDS)), k=len(path)))
        for number, status in zip(steps, path, strict=True):
            rounds[number].append((n, status))
    return rounds


def _happen(events: list[tuple[int, str]], *, shop, keycrm, ids: dict[int, int],
            latest: dict[int, str]) -> list[dict]:
    """Carry out a round's changes in KeyCRM; returns the webhook of each, as KeyCRM would
    have sent it then."""
    bodies = []
    for n, status in events:
        if n not in ids:
            k = n % BUYER_COUNT
            ids[n] = shop.order(keycrm, status=FIRST_STATUS,
                                phone=f"067 {100 + k // 100} 20 {k % 100:02d}",
                                email=f"buyer{k}@example.com", name=f"Покупець {k:03d}",
                                skus=(("TSH-BLK",), ("CAP-1",), ("TSH-BLK", "CAP-1"))[n % 3])
        else:
            keycrm.set_order_status(ids[n], shop.statuses[status])
        latest[ids[n]] = status
        bodies.append(webhook_body(keycrm, ids[n]))
    return bodies


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
    """Receive ``batch``, then let two workers run under ``fault`` and SIGKILL one of them
    while it holds a record; returns the round's figures."""
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
    plan = _plan(list(shop.statuses), rng)
    assert sum(map(len, plan)) == DISTINCT
    started = time.monotonic()

    ids: dict[int, int] = {}
    latest: dict[int, str] = {}
    sent: list[dict] = []
    rounds = []
    for number, fault in enumerate(ROUNDS):
        bodies = _happen(plan[number], shop=shop, keycrm=keycrm, ids=ids, latest=latest)
        sent += bodies
        # 30 % sent again: this round's webhooks or any earlier one's.
        batch = bodies + rng.sample(sent, round(REPEAT_SHARE * len(bodies)))
        rng.shuffle(batch)
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
    webhooks = sum(r["webhooks"] for r in rounds)
    figures("long/total", records=sum(states.values()), webhooks=webhooks, distinct=DISTINCT,
            duplicates=len(documents) - len(numbers),
            repeats_recognised=states.get(RecordState.DUPLICATE, 0),
            done=states.get(RecordState.DONE, 0), lost=stuck.count(),
            retries=queue_retries(), kills=len(ROUNDS),
            kills_mid_record=sum(r["killed_mid_record"] for r in rounds),
            bas_faults=sum(r["bas_5xx"] + r["bas_dropped"] for r in rounds),
            keycrm_faults=sum(r["keycrm_429"] + r["keycrm_5xx"] for r in rounds),
            documents=len(documents), document_creations=len(committed),
            counterparties=len(counterparties), final_pass=final.processed(),
            redis=bool(workers.redis_url), elapsed=elapsed)

    assert list(stuck.values_list("id", "state", "message")) == []
    assert states == {RecordState.DONE: DISTINCT, RecordState.DUPLICATE: webhooks - DISTINCT}
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
