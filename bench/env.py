"""The bench's world: a throwaway PostgreSQL database, Redis databases of its own, the two
emulators as HTTP servers in this process, and subprocesses of the portal (gunicorn, workers,
management commands) started with the same environment.

This module is imported before Django is set up: it chooses the settings (``DATABASE_URL``
and friends) that this process and every child share.
"""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# The bench owns these two Redis databases for the length of a run and empties them after.
REDIS_BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/9")
REDIS_CACHE = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")


@dataclass
class Database:
    name: str

    @property
    def url(self) -> str:
        return PG_ADMIN.rsplit("/", 1)[0] + "/" + self.name

    @property
    def dsn(self) -> str:
        return self.url.replace("postgres://", "postgresql://")


@contextlib.contextmanager
def throwaway_database() -> Iterator[Database]:
    db = Database(f"portal_bench_{os.getpid()}")
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db.name}"')
        conn.execute(f'CREATE DATABASE "{db.name}"')
    try:
        yield db
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')


def portal_environment(db: Database, var_dir: Path) -> dict[str, str]:
    """Production-like settings: PostgreSQL, Redis for the broker, the cache and the rate
    budget; queue retries short enough for a benchmark."""
    return {
        "DATABASE_URL": db.url, "REDIS_URL": REDIS_CACHE, "CELERY_BROKER_URL": REDIS_BROKER,
        "PORTAL_VAR_DIR": str(var_dir), "DEBUG": "false", "LOG_LEVEL": "WARNING",
        "STAGING_RETRY_BASE_SECONDS": "0.5", "STAGING_RETRY_MAX_SECONDS": "2",
        "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
    }


def redis_flush() -> None:
    import redis

    for url in (REDIS_BROKER, REDIS_CACHE):
        redis.Redis.from_url(url).flushdb()


@dataclass
class Finished:
    wall_s: float
    cpu_s: float  # user + system of the process (its children included when waited for)
    max_rss_mb: float
    output: str


class Child:
    """A portal process whose CPU time and peak memory are read from ``wait4``."""

    def __init__(self, argv: list[str], *, log: Path, env: dict[str, str]) -> None:
        self.log = log
        self.started = time.monotonic()
        with log.open("w") as out:
            self.process = subprocess.Popen(  # noqa: S603 - the portal's own argv
                argv, cwd=ROOT, env={**os.environ, **env},
                stdout=out, stderr=subprocess.STDOUT)

    def wait(self, timeout: float = 900) -> Finished:
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(self.process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError(f"{self.log.name} still running after {timeout} s")
            time.sleep(0.05)
        self.process.returncode = os.waitstatus_to_exitcode(status)
        output = self.log.read_text(errors="replace")
        if self.process.returncode:
            raise RuntimeError(f"{self.log.name} exited {self.process.returncode}:\n"
                               f"{output[-3000:]}")
        return Finished(wall_s=time.monotonic() - self.started,
                        cpu_s=usage.ru_utime + usage.ru_stime,
                        max_rss_mb=usage.ru_maxrss / 1024, output=output)

    def stop(self) -> Finished | None:
        if self.process.poll() is None and self.process.returncode is None:
            self.process.terminate()
        try:
            return self.wait(timeout=30)
        except (RuntimeError, ChildProcessError):
            return None


def manage(*args: str) -> list[str]:
    return [sys.executable, "manage.py", *args]


def own_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
