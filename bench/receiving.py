"""Receiving: webhooks per second from the HTTP request to a durable staged row, through
gunicorn (as production runs it) on PostgreSQL, next to a bare psycopg loop inserting and
committing rows of the same size into a table shaped like the staging table."""

from __future__ import annotations

import http.client
import json
import socket
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench.env import ROOT, Child, Database, redis_flush
from staging.models import InboundRecord

GUNICORN_WORKERS = 3  # what docker-compose.yml and the Dockerfile start


@dataclass
class ReceivingResult:
    webhooks: int
    concurrency: int
    per_second: float
    p50_ms: float
    p99_ms: float
    stored: int
    bare_per_second: float
    body_bytes: int

    @property
    def ratio(self) -> float:
        return self.per_second / self.bare_per_second


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not listen on {port}")


def _body(order_id: int, template: dict) -> bytes:
    context = {**template, "id": order_id}
    return json.dumps({"event": "order.change_order_status", "context": context},
                      ensure_ascii=False).encode()


def _load(port: int, path: str, bodies: list[bytes], concurrency: int) -> tuple[float, list[float]]:
    """Posts every body over ``concurrency`` keep-alive connections; returns the wall time and
    each request's latency (s)."""
    latencies: list[float] = []
    lock = threading.Lock()
    chunks = [bodies[i::concurrency] for i in range(concurrency)]
    errors: list[str] = []

    def run(chunk: list[bytes]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        for body in chunk:
            started = time.perf_counter()
            for _attempt in range(3):
                try:
                    conn.request("POST", path, body=body,
                                 headers={"Content-Type": "application/json"})
                    response = conn.getresponse()
                    response.read()
                    break
                except (http.client.HTTPException, OSError):
                    # gunicorn's sync workers close the connection after each answer.
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            else:
                errors.append("no answer")
                continue
            mine.append(time.perf_counter() - started)
            if response.status != 200:
                errors.append(str(response.status))
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run, args=(chunk,)) for chunk in chunks]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} webhook(s) not stored: {errors[:5]}")
    return elapsed, latencies


def gunicorn_start(*, env: dict[str, str], logs: Path, port: int, workers: int) -> Child:
    argv = [str(Path(ROOT, ".venv/bin/gunicorn")), "config.wsgi:application",
            "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    child = Child(argv, log=logs / "gunicorn.log", env=env)
    _wait_for(port)
    return child


def bare_insert_rate(db: Database, bodies: list[bytes]) -> float:
    """One connection, one INSERT and one COMMIT per row, into a copy of the staging table
    (same columns, indexes and constraints) holding rows like the portal's."""
    with psycopg.connect(db.dsn) as conn:
        conn.execute("CREATE TABLE bench_bare (LIKE staging_inboundrecord INCLUDING ALL)")
        conn.commit()
        account_id = conn.execute("SELECT min(id) FROM accounts_keycrmaccount").fetchone()[0]
        sql = ("INSERT INTO bench_bare (account_id, source, event, keycrm_order_id, dedupe_key,"
               " headers, body, payload, order_updated_at, received_at, state, message,"
               " problem_kind, attempts, claimed_by, bas_document_set, bas_document_number)"
               " VALUES (%s, 'webhook', 'order.change_order_status', %s, %s, %s, %s, %s,"
               " now(), now(), 'queued', '', '', 0, '', '', '')")
        started = time.perf_counter()
        for n, body in enumerate(bodies):
            conn.execute(sql, (account_id, n, f"bare:{n}", '{"content-type": "application/json"}',
                               body.decode(), body.decode()))
            conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE bench_bare")
        conn.commit()
    return len(bodies) / elapsed


def receiving_measure(*, db: Database, env: dict[str, str], logs: Path, account, template: dict,
                      count: int, concurrency: int) -> ReceivingResult:
    port = _free_port()
    path = f"/hooks/keycrm/{account.webhook_token}/"
    bodies = [_body(10_000_000 + n, template) for n in range(count)]
    warm = [_body(9_000_000 + n, template) for n in range(200)]
    before = InboundRecord.objects.count()
    server = gunicorn_start(env=env, logs=logs, port=port, workers=GUNICORN_WORKERS)
    try:
        _load(port, path, warm, concurrency)  # imports, connections, caches
        elapsed, latencies = _load(port, path, bodies, concurrency)
    finally:
        server.stop()
    stored = InboundRecord.objects.count() - before - len(warm)
    # Load only: their orders exist nowhere, and the processing section's workers must find
    # an empty queue.
    InboundRecord.objects.filter(account=account).delete()
    # Their Celery messages too: a backlog of 10,000 would delay the latency section's orders.
    redis_flush()
    bare = bare_insert_rate(db, bodies)
    q = statistics.quantiles(latencies, n=100)
    return ReceivingResult(webhooks=count, concurrency=concurrency, per_second=count / elapsed,
                           p50_ms=q[49] * 1000, p99_ms=q[98] * 1000, stored=stored,
                           bare_per_second=bare, body_bytes=len(bodies[0]))
