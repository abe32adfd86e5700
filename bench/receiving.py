"""Receiving: webhooks per second from the HTTP request to a durable staged row, through
gunicorn (as production runs it: ``config/gunicorn.py``) on PostgreSQL, next to a bare psycopg
loop inserting and committing rows of the same size into a table shaped like the staging table.

Where the time goes: the CPU seconds of every process on the path are read from
``/proc/<pid>/stat`` around the measured load (gunicorn's master and workers, the database's
backends for the bench database, Redis) and from the load generators themselves, and divided
by the webhooks. All of them share the machine's cores, so their sum bounds the rate.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bench.env import PG_ADMIN, ROOT, Child, Database, redis_flush
from staging.models import InboundRecord

GUNICORN_WORKERS = None  # None: what config/gunicorn.py (production's configuration) says
# Two generator processes, one per core: a single process's threads would serialise on its GIL.
LOAD_PROCESSES = 2
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Load:
    wall_s: float
    latencies: list[float]
    generator_cpu_s: float
    reconnects: int


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
    server: str = ""
    reconnects: int = 0
    # CPU milliseconds per webhook, by process group (portal, postgres, redis, generator).
    cpu_ms: dict[str, float] = field(default_factory=dict)

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


def _cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU of each of these processes so far (one gone meanwhile is left out)."""
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (14, 15)
    return seconds


def _cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two readings; a process that started in between counts whole."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _postgres_backends(db: Database) -> list[int]:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        return [pid for (pid,) in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (db.name,))]


def _redis_pid() -> list[int]:
    import redis

    from bench.env import REDIS_BROKER

    return [int(redis.Redis.from_url(REDIS_BROKER).info("server")["process_id"])]


def _load(port: int, path: str, bodies: list[bytes], concurrency: int,
          processes: int = LOAD_PROCESSES) -> Load:
    """Posts every body over ``concurrency`` keep-alive connections, spread over ``processes``
    generator processes (bench/loadgen.py); returns the wall time from the first request sent
    to the last answer, each request's latency and the generators' CPU time."""
    children = []
    for k in range(processes):
        share = [b.decode() for b in bodies[k::processes]]
        child = subprocess.Popen(
            [sys.executable, "-m", "bench.loadgen"], cwd=ROOT, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        child.stdin.write(json.dumps({"port": port, "path": path, "bodies": share,
                                      "connections": max(1, concurrency // processes)}) + "\n")
        child.stdin.flush()
        children.append(child)
    for child in children:
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("a load generator did not start")
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    reports = [json.loads(child.stdout.readline()) for child in children]
    for child in children:
        child.wait()
    failed = sum(r["failed"] for r in reports)
    if failed:
        samples = [f for r in reports for f in r["failures"]]
        raise RuntimeError(f"{failed} webhook(s) not answered 200: {samples[:5]}")
    return Load(wall_s=max(r["last"] for r in reports) - min(r["first"] for r in reports),
                latencies=[x for r in reports for x in r["latencies"]],
                generator_cpu_s=sum(r["cpu_s"] for r in reports),
                reconnects=sum(r["reconnects"] for r in reports))


def gunicorn_start(*, env: dict[str, str], logs: Path, port: int,
                   workers: int | None = GUNICORN_WORKERS, options: tuple[str, ...] = ()) -> Child:
    """gunicorn with production's configuration (``config/gunicorn.py``, access log included:
    it goes to the log file) on a local port."""
    argv = [str(Path(ROOT, ".venv/bin/gunicorn")), "--config", "python:config.gunicorn",
            "config.wsgi:application", "--bind", f"127.0.0.1:{port}", *options]
    if workers is not None:
        argv += ["--workers", str(workers)]
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
                      count: int, concurrency: int, options: tuple[str, ...] = ()
                      ) -> ReceivingResult:
    port = _free_port()
    path = f"/hooks/keycrm/{account.webhook_token}/"
    bodies = [_body(10_000_000 + n, template) for n in range(count)]
    warm = [_body(9_000_000 + n, template) for n in range(1000)]
    before = InboundRecord.objects.count()
    server = gunicorn_start(env=env, logs=logs, port=port, options=options)
    try:
        _load(port, path, warm, concurrency)  # imports, connections, caches
        groups = {"portal": lambda: [server.process.pid, *_children(server.process.pid)],
                  "postgres": lambda: _postgres_backends(db), "redis": _redis_pid}
        cpu_before = {name: _cpu_seconds(pids()) for name, pids in groups.items()}
        load = _load(port, path, bodies, concurrency)
        # Read the groups again: a database connection opened during the load counts too.
        cpu = {name: _cpu_used(cpu_before[name], _cpu_seconds(pids())) * 1000 / count
               for name, pids in groups.items()}
    finally:
        server.stop()
    cpu["generator"] = load.generator_cpu_s * 1000 / count
    stored = InboundRecord.objects.count() - before - len(warm)
    # Load only: their orders exist nowhere, and the processing section's workers must find
    # an empty queue.
    InboundRecord.objects.filter(account=account).delete()
    # Their Celery messages too: a backlog of 10,000 would delay the latency section's orders.
    redis_flush()
    bare = bare_insert_rate(db, bodies)
    q = statistics.quantiles(load.latencies, n=100)
    return ReceivingResult(webhooks=count, concurrency=concurrency,
                           per_second=count / load.wall_s, p50_ms=q[49] * 1000,
                           p99_ms=q[98] * 1000, stored=stored, bare_per_second=bare,
                           body_bytes=len(bodies[0]), server=_server_description(options),
                           reconnects=load.reconnects, cpu_ms=cpu)


def _server_description(options: tuple[str, ...]) -> str:
    from config import gunicorn as conf

    settings = {"worker_class": conf.worker_class, "workers": conf.workers,
                "threads": conf.threads}
    flags = {"--worker-class": "worker_class", "-k": "worker_class", "--workers": "workers",
             "-w": "workers", "--threads": "threads"}
    for flag, value in itertools.pairwise(options):
        if flag in flags:
            settings[flags[flag]] = value
    if settings["worker_class"] == "sync" and int(settings["threads"]) > 1:
        settings["worker_class"] = "gthread"  # what gunicorn itself does then
    return (f"{settings['workers']} {settings['worker_class']} workers"
            + (f" × {settings['threads']} threads" if settings["worker_class"] == "gthread"
               else ""))
