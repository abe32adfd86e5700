"""What the reliability tests share: ``staging_worker`` processes started against the test
database and the emulators, the webhook KeyCRM would send for an order as it is now, and the
figures every test prints.

Workers are real subprocesses, so the test needs ``@pytest.mark.django_db(transaction=True)``:
they only see committed rows. The emulators run in the pytest process; the workers reach them
over loopback through the account's and the connection's URLs.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import connection
from django.urls import reverse

from emulators.keycrm import render
from staging.models import Attempt, InboundRecord, RecordState

ROOT = Path(__file__).resolve().parents[2]
ORDERS = "Document_ЗаказПокупателя"
COUNTERPARTIES = "Catalog_Контрагенты"
ENDED = (RecordState.DONE, RecordState.DUPLICATE)


def database_url() -> str:
    """The test database as a URL another process can open (a file for SQLite)."""
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def redis_url_if_answering() -> str:
    """The Redis the suite uses when one answers, else "" (workers then keep the rate budget
    in the database and the cache in files)."""
    url = (os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL")
           or "redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return ""
    return url


@dataclasses.dataclass
class Worker:
    name: str
    process: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float) -> str:
        """Wait for a clean exit; the log's tail is the failure message otherwise."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"{self.name} still running after {timeout} s:\n{self.output()[-3000:]}")
        assert self.process.returncode == 0, f"{self.name} failed:\n{self.output()[-3000:]}"
        return self.output()

    def kill(self) -> None:
        """SIGKILL: no cleanup, no ``finally`` — what the OOM killer or a lost node does."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def processed(self) -> int:
        """The count the worker prints when it stops ("w1: 12 record(s) processed")."""
        for line in self.output().splitlines():
            if line.startswith(f"{self.name}: ") and "record(s) processed" in line:
                return int(line.split()[1])
        return 0


class Workers:
    """Starts ``manage.py staging_worker`` processes; settings go in as environment."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.redis_url = redis_url_if_answering()
        self.started: list[Worker] = []
        self.base_env = {
            **os.environ, "DATABASE_URL": database_url(), "REDIS_URL": self.redis_url,
            "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
            # A rate window of 5 s instead of a minute: the budget (in Redis, which outlives the
            # test run) never makes a test wait for the runs before it.
            "KEYCRM_RATE_WINDOW_SECONDS": "5",
            # Queue retries within the test's time: 0.2 s, 0.4 s, … capped at 2 s.
            "STAGING_RETRY_BASE_SECONDS": "0.2", "STAGING_RETRY_MAX_SECONDS": "2",
        }

    def start(self, name: str, *, idle_seconds: float = 3.0, **settings: Any) -> Worker:
        """One ``staging_worker``; it stops after ``idle_seconds`` with nothing due."""
        return self.spawn(name, ["manage.py", "staging_worker", "--name", name,
                                 "--idle-seconds", str(idle_seconds)], **settings)

    def spawn(self, name: str, argv: list[str], **settings: Any) -> Worker:
        """Any Python process of the project (``argv`` after the interpreter), with the
        workers' environment; its output goes to ``<name>.log``."""
        env = {**self.base_env, **{key: str(value) for key, value in settings.items()}}
        log = self.logs / f"{name}.log"
        with log.open("w") as out:
            process = subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=env, stdout=out,
                                       stderr=subprocess.STDOUT)
        worker = Worker(name, process, log)
        self.started.append(worker)
        return worker

    def run(self, *names: str, timeout: float = 60, idle_seconds: float = 3.0,
            **settings: Any) -> list[Worker]:
        """Start the workers together and wait until every one has found nothing to do."""
        workers = [self.start(name, idle_seconds=idle_seconds, **settings) for name in names]
        for worker in workers:
            worker.wait(timeout)
        return workers

    def stop_all(self) -> None:
        for worker in self.started:
            if worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait()


LONG_ENV = "RELIABILITY_LONG"


def pytest_addoption(parser: pytest.Parser) -> None:
    # Seen only when pytest starts from tests/reliability (a conftest's options are read at
    # start-up); from anywhere else use the environment variable.
    parser.addoption("--long", action="store_true", default=False,
                     help="run the long reliability variant (about ten minutes); the same as "
                          f"{LONG_ENV}=1")


@pytest.fixture
def long_run(request: pytest.FixtureRequest) -> None:
    """Skips the test unless the long variant was asked for."""
    asked = request.config.getoption("--long", default=False) or os.environ.get(LONG_ENV) == "1"
    if not asked:
        pytest.skip(f"the long reliability variant runs about ten minutes: set {LONG_ENV}=1 "
                    "(or pass --long to pytest tests/reliability)")


@pytest.fixture
def workers(tmp_path: Path):
    pool = Workers(tmp_path)
    yield pool
    pool.stop_all()


@pytest.fixture
def fast_shop(shop):  # extends tests/shop.py's fixture
    """The shop with a KeyCRM budget no test here reaches: the tests are about the queue, not
    the rate limit (tests/integration/test_ratelimit.py is)."""
    shop.account.requests_per_minute = 1000
    shop.account.save(update_fields=["requests_per_minute"])
    return shop


def webhook_body(keycrm, order_id: int, event: str = "order.change_order_status") -> dict:
    """What KeyCRM sends for the order as it is at this moment (its row, §4.1)."""
    with keycrm.lock:
        return {"event": event,
                "context": render.webhook_context(keycrm.store, keycrm.store.orders[order_id])}


def post_webhook(client, account, body: dict | bytes | str, **extra: Any):
    data = body if isinstance(body, bytes | str) else json.dumps(body, ensure_ascii=False)
    return client.post(reverse("keycrm_webhook", args=[account.webhook_token]), data=data,
                       content_type="application/json", **extra)


def record_states() -> dict[str, int]:
    return dict(collections.Counter(InboundRecord.objects.values_list("state", flat=True)))


def queue_retries() -> int:
    """Attempts that ended in RETRY: each is a record the queue had to take again."""
    return Attempt.objects.filter(outcome=RecordState.RETRY).count()


def document_creations(bas) -> list[dict]:
    """Every POST that created an order document (not the /Post action), answered or not."""
    return [r for r in bas.requests(method="POST", path_contains=ORDERS)
            if not r["path"].endswith("/Post")]


def wait_until(condition, *, timeout: float, interval: float = 0.02, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"waited {timeout} s for {what or condition}")


def figures(test: str, **values: Any) -> None:
    """One line a person can compare between runs (SQLite and PostgreSQL)."""
    shown = " ".join(f"{k}={v:.1f}s" if k.startswith("elapsed") or k.endswith("_s")
                     else f"{k}={v}" for k, v in values.items())
    print(f"\n[{connection.vendor}] {test}: {shown}", flush=True)
