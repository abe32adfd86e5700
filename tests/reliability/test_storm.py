"""A webhook storm: 100 orders of 20 buyers, 500 webhooks (every status change of every order,
30 % of them sent twice, all shuffled), processed by two workers at once. Afterwards BAS holds
each order exactly once, in the state of its latest KeyCRM status, with one counterparty per
buyer, and no record is lost or stuck."""

from __future__ import annotations

import collections
import random
import time

import pytest

from staging.models import InboundRecord, ProcessingLock, RecordState
from tests.reliability.conftest import (
    COUNTERPARTIES,
    ENDED,
    ORDERS,
    document_creations,
    figures,
    post_webhook,
    queue_retries,
    record_states,
    webhook_body,
)

ORDER_COUNT, BUYER_COUNT = 100, 20
# 385 distinct webhooks (100 orders created, 285 status changes) and 115 of them sent again:
# 30 % repeated, 500 in all.
DISTINCT, WEBHOOK_COUNT = 385, 500
FIRST_STATUS = "Нове"


@pytest.mark.django_db(transaction=True)
def test_a_storm_of_shuffled_repeated_webhooks_makes_each_document_once(
        client, fast_shop, keycrm, bas, workers):
    shop = fast_shop
    rng = random.Random(20250101)
    later_statuses = [name for name in shop.statuses if name != FIRST_STATUS]

    # 100 orders; buyer k places orders k, k+20, k+40… (same phone, so one KeyCRM buyer).
    # Each order is created "Нове" and moves through two or three other statuses, each status
    # once (a status visited twice in one second would share a dedupe key with its first
    # visit: KeyCRM's timestamps have whole seconds). The webhook of every change is captured
    # as KeyCRM would have sent it then.
    sent: list[dict] = []
    latest: dict[int, str] = {}
    changes_left = DISTINCT - ORDER_COUNT
    for n in range(ORDER_COUNT):
        k = n % BUYER_COUNT
        order_id = shop.order(keycrm, status=FIRST_STATUS, phone=f"067 100 20 {k:02d}",
                              email=f"buyer{k}@example.com", name=f"Покупець {k:02d}",
                              skus=rng.choice([("TSH-BLK",), ("CAP-1",), ("TSH-BLK", "CAP-1")]))
        sent.append(webhook_body(keycrm, order_id))
        remaining = ORDER_COUNT - n - 1
        path = rng.sample(later_statuses, k=3 if changes_left - 3 >= 2 * remaining else 2)
        changes_left -= len(path)
        for name in path:
            keycrm.set_order_status(order_id, shop.statuses[name])
            sent.append(webhook_body(keycrm, order_id))
        latest[order_id] = path[-1]
    distinct = len(sent)
    repeats = rng.sample(sent, WEBHOOK_COUNT - distinct)
    storm = sent + repeats
    rng.shuffle(storm)
    assert (distinct, len(storm)) == (DISTINCT, WEBHOOK_COUNT)

    started = time.monotonic()
    answers = collections.Counter()
    for body in storm:
        response = post_webhook(client, shop.account, body)
        assert response.status_code == 200, response.content
        answers[response.json()["state"]] += 1
    received_s = time.monotonic() - started
    assert answers == {RecordState.QUEUED: distinct, RecordState.DUPLICATE: len(repeats)}

    started = time.monotonic()
    w1, w2 = workers.run("w1", "w2", timeout=120, idle_seconds=2.5)
    processing_s = time.monotonic() - started

    states = record_states()
    stuck = InboundRecord.objects.exclude(state__in=ENDED)
    documents = bas.objects("sb", ORDERS)
    numbers = collections.Counter(d["НомерВходящегоДокумента"] for d in documents)
    counterparties = bas.objects("sb", COUNTERPARTIES)
    by_name = collections.Counter(c["Description"] for c in counterparties)
    by_phone = collections.Counter(
        row["НомерТелефона"] for c in counterparties for row in c["КонтактнаяИнформация"]
        if row.get("НомерТелефона"))
    figures("storm", records=sum(states.values()), webhooks=len(storm), distinct=distinct,
            duplicates=states.get(RecordState.DUPLICATE, 0), done=states.get("done", 0),
            lost=stuck.count(), retries=queue_retries(), documents=len(documents),
            document_posts=len(document_creations(bas)), counterparties=len(counterparties),
            w1=w1.processed(), w2=w2.processed(), redis=bool(workers.redis_url),
            elapsed_receive=received_s, elapsed_processing=processing_s)

    assert list(stuck.values_list("id", "state", "message")) == []
    assert states == {RecordState.DONE: distinct, RecordState.DUPLICATE: len(repeats)}
    assert w1.processed() + w2.processed() == distinct
    assert list(ProcessingLock.objects.values_list("name", "holder")) == []
    assert w1.processed() > 0, "both workers should have taken records"
    assert w2.processed() > 0, "both workers should have taken records"
    # Exactly one document per order, none created twice (a lost answer included).
    assert numbers == {f"KC-{order_id}": 1 for order_id in latest}
    assert len(document_creations(bas)) == ORDER_COUNT
    # Each in the BAS state of the order's latest KeyCRM status, posted.
    wrong = {d["НомерВходящегоДокумента"]: d["СостояниеЗаказа"] for d in documents
             if d["СостояниеЗаказа"] != shop.states[latest[int(d["НомерВходящегоДокумента"][3:])]]}
    assert wrong == {}
    assert all(d["Posted"] for d in documents)
    # One counterparty per buyer, however many of their orders were processed at once.
    assert len(counterparties) == BUYER_COUNT
    assert set(by_name.values()) == {1}
    assert set(by_phone.values()) == {1}
    assert len(by_phone) == BUYER_COUNT
