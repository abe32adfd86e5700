"""The account's KeyCRM budget holds with two worker processes sending the outbox.

Two real ``staging_worker`` processes send 32 stock messages (one ``PUT /offers/stocks``
each) for one account whose budget is 8 requests per window. The window is shortened to 2 s
(``KEYCRM_RATE_WINDOW_SECONDS``) so the test takes seconds, and the emulator refuses (429)
anything above 8 per 2 s, exactly like KeyCRM's per-minute limit. From the emulator's log of
accepted request times: no 2-second window ever held more than 8 calls, nothing got a 429, and
every message arrived.
"""

from __future__ import annotations

import math
import time

import pytest

from integration.pipelines.stock_to_keycrm import STOCK_KIND, stock_push
from staging.models import OutboxMessage, OutboxState
from stock.models import PushedStock
from tests.reliability.conftest import figures
from tests.stock.conftest import build_stock_shop, keycrm_quantity

LIMIT, WINDOW = 8, 2.0
MESSAGES = 32
API_KEY = "test-key"


def sent_by(worker) -> int:
    """From the line a worker prints when it stops: "w1: 0 record(s) processed, 12 message(s)
    sent"."""
    for line in worker.output().splitlines():
        if line.startswith(f"{worker.name}: ") and "message(s) sent" in line:
            return int(line.rsplit(",", 1)[1].split()[0])
    return 0


@pytest.mark.parametrize("budget_in", ["database", "redis"])
@pytest.mark.django_db(transaction=True)
def test_two_workers_never_exceed_the_account_budget(keycrm, bas, keycrm_account,
                                                     bas_connection, workers, budget_in):
    if budget_in == "redis" and not workers.redis_url:
        pytest.skip("no Redis answers; the database budget is tested without it")
    redis_url = workers.redis_url if budget_in == "redis" else ""
    shop = build_stock_shop(keycrm, bas, keycrm_account, bas_connection, size=MESSAGES)
    shop.move(bas, {i: i + 1 for i in range(MESSAGES)})
    keycrm_account.requests_per_minute = LIMIT
    keycrm_account.save(update_fields=["requests_per_minute"])
    # One item per batch: every message is its own call, so the workers have many to share.
    assert stock_push(account=shop.account, batch_size=1).changed == MESSAGES
    assert OutboxMessage.objects.filter(kind=STOCK_KIND).count() == MESSAGES
    keycrm.set_rate_limit(LIMIT, WINDOW)
    keycrm.clear_log()

    started = time.monotonic()
    pair = workers.run("w1", "w2", timeout=120, idle_seconds=1.5,
                       KEYCRM_RATE_WINDOW_SECONDS=WINDOW, REDIS_URL=redis_url)
    elapsed = time.monotonic() - started

    log = keycrm.requests(path_contains="/offers/stocks")
    statuses = [entry["status"] for entry in log]
    busiest = keycrm.max_accepted_in_window(API_KEY, WINDOW)
    accepted = keycrm.accepted_times(API_KEY)
    span = accepted[-1] - accepted[0] if accepted else 0.0
    per_worker = {worker.name: sent_by(worker) for worker in pair}
    figures("rate budget, two workers", messages=MESSAGES, calls=len(log),
            refused_429=statuses.count(429), busiest_window=busiest, budget=LIMIT,
            window_s=WINDOW, span_s=span, elapsed=elapsed,
            budget_in=budget_in,
            **{f"sent_{name}": count for name, count in per_worker.items()})

    assert statuses.count(429) == 0, "the emulator had to refuse requests"
    assert busiest <= LIMIT
    assert statuses == [202] * MESSAGES  # each message once: nothing lost, nothing repeated
    assert sum(per_worker.values()) == MESSAGES
    assert set(OutboxMessage.objects.filter(kind=STOCK_KIND).values_list(
        "state", flat=True)) == {OutboxState.SENT}
    assert [keycrm_quantity(keycrm, offer, shop.warehouse_id) for offer in shop.offers] == [
        i + 1 for i in range(MESSAGES)]
    assert PushedStock.objects.filter(account=shop.account).count() == MESSAGES
    # 32 calls at 8 per window cannot take less than three further windows after the first.
    assert span >= (math.ceil(MESSAGES / LIMIT) - 1) * WINDOW - 0.1
