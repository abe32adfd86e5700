"""The shared rate budget: several processes on one API key never exceed the account's limit,
with the budget in the database and in Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.db import connection

from integration.ratelimit import DatabaseRateBudget, RateBudgetExhausted, RedisRateBudget

ROOT = Path(__file__).resolve().parents[2]
LIMIT, WINDOW = 6, 2.0


def _database_url() -> str:
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _run_three_processes(keycrm, api_key: str, redis_url: str) -> None:
    keycrm.set_keys([api_key])
    keycrm.set_rate_limit(LIMIT, WINDOW)
    env = {**os.environ, "DATABASE_URL": _database_url(), "REDIS_URL": redis_url,
           "KEYCRM_RATE_WINDOW_SECONDS": str(WINDOW), "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.integration.budget_worker", f"{keycrm.url}/v1",
             api_key, str(LIMIT), str(LIMIT)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    for worker in workers:
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err[-2000:]
        assert out.strip() == f"done {LIMIT}"
    elapsed = time.monotonic() - started
    log = keycrm.requests(path_contains="/order/status")
    statuses = [entry["status"] for entry in log]
    assert statuses.count(200) == 3 * LIMIT
    assert statuses.count(429) == 0, "the emulator had to refuse requests"
    # 18 requests at 6 per window need at least two further windows after the first burst.
    assert elapsed >= 2 * WINDOW
    # What the server saw: never more than the limit in any window.
    assert keycrm.max_accepted_in_window(api_key, WINDOW) <= LIMIT


@pytest.mark.django_db(transaction=True)
def test_three_processes_share_a_database_budget(keycrm):
    _run_three_processes(keycrm, f"db-{uuid.uuid4().hex}", redis_url="")


@pytest.mark.django_db(transaction=True)
def test_three_processes_share_a_redis_budget(keycrm, redis_url):
    _run_three_processes(keycrm, f"redis-{uuid.uuid4().hex}", redis_url=redis_url)


@pytest.mark.django_db(transaction=True)
def test_database_budget_waits_for_the_window_and_gives_up_when_told():
    budget = DatabaseRateBudget(f"t-{uuid.uuid4().hex}", limit=3, period=0.5)
    started = time.monotonic()
    for _ in range(3):
        assert budget.acquire(max_wait=1) < 0.1
    assert budget.acquire(max_wait=2) >= 0.4  # the fourth waits for the window to pass
    assert time.monotonic() - started < 1.5
    for _ in range(2):
        budget.acquire(max_wait=2)
    with pytest.raises(RateBudgetExhausted, match="no request slot"):
        budget.acquire(max_wait=0.05)


def test_redis_budget_waits_for_the_window(redis_url):
    bucket = f"t-{uuid.uuid4().hex}"
    budget = RedisRateBudget(bucket, limit=2, period=0.5, url=redis_url)
    assert budget.acquire(max_wait=1) < 0.1
    assert budget.acquire(max_wait=1) < 0.1
    with pytest.raises(RateBudgetExhausted, match="no request slot"):
        budget.acquire(max_wait=0.05)  # both slots were taken a moment ago
    assert budget.acquire(max_wait=2) >= 0.4  # waits for the first to leave the window
    redis.Redis.from_url(redis_url).delete(bucket)
