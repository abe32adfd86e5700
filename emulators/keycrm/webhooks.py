"""Outgoing webhooks, KeyCRM → the product: ``{"event": ..., "context": {flat order row}}``
POSTed as JSON to each subscribed URL.

One background worker delivers jobs in the order the events happened (so a status change and a
later one arrive in that order), up to ``attempts`` tries per URL, success meaning HTTP 200
exactly (what integrators report KeyCRM expects). Every attempt is recorded. The worker never
takes the emulator's lock, so a receiver may call the emulator back while a delivery is open.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import queue
import threading
import time
from typing import Any

import requests

from emulators.keycrm.values import iso

logger = logging.getLogger(__name__)

ORDER_EVENTS = ("order.change_order_status", "order.change_payment_status")
USER_AGENT = "KeyCRM-Webhook-Emulator/1.0"


@dataclasses.dataclass
class Subscription:
    url: str
    events: tuple[str, ...] = ORDER_EVENTS

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Subscription:
        if not isinstance(data, dict) or not data.get("url"):
            raise ValueError("each subscription needs a url")
        events = tuple(data.get("events") or ORDER_EVENTS)
        return cls(url=str(data["url"]), events=events)


@dataclasses.dataclass
class _Job:
    generation: int
    url: str
    event: str
    order_id: int | None
    payload: dict[str, Any]


class WebhookDispatcher:
    def __init__(
        self, *, attempts: int = 3, retry_delay: float = 0.2, timeout: float = 3.0
    ) -> None:
        self.attempts = attempts
        self.retry_delay = retry_delay
        self.timeout = timeout
        self.subscriptions: list[Subscription] = []
        self.deliveries: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._generation = 0  # bumped by clear(): jobs of an older generation are dropped
        self._queue: queue.Queue[_Job] = queue.Queue()
        self._worker: threading.Thread | None = None

    def configure(self, subscriptions: list[Subscription]) -> None:
        with self._lock:
            self.subscriptions = list(subscriptions)

    def publish(self, event: str, order_id: int | None, payload: dict[str, Any]) -> int:
        """Queue the payload for every subscription to ``event``; returns how many."""
        with self._lock:
            targets = [s.url for s in self.subscriptions if event in s.events]
            generation = self._generation
            self._pending += len(targets)
            self._ensure_worker()
        for url in targets:
            self._queue.put(_Job(generation, url, event, order_id, payload))
        return len(targets)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until every queued delivery has finished (all attempts); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self.subscriptions = []
            self.deliveries = []

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "subscriptions": [dataclasses.asdict(s) for s in self.subscriptions],
                "deliveries": [dict(d) for d in self.deliveries],
                "pending": self._pending,
                "attempts": self.attempts,
                "retry_delay": self.retry_delay,
                "timeout": self.timeout,
            }

    # --- worker ---------------------------------------------------------------------------
    def _ensure_worker(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._run, name="keycrm-webhooks", daemon=True)
            self._worker.start()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                self._deliver(job)
            finally:
                with self._idle:
                    self._pending = max(0, self._pending - 1)
                    self._idle.notify_all()

    def _deliver(self, job: _Job) -> None:
        for attempt in range(1, self.attempts + 1):
            with self._lock:
                if job.generation != self._generation:
                    return  # reset since it was queued
            status, error, started = None, None, time.monotonic()
            try:
                response = requests.post(
                    job.url,
                    json=job.payload,
                    timeout=self.timeout,
                    headers={"User-Agent": USER_AGENT},
                    allow_redirects=False,
                )
                status = response.status_code
            except requests.RequestException as exc:
                error = f"{type(exc).__name__}: {exc}"
            self._record(job, attempt, status, error, started)
            if status == 200:
                return
            if attempt < self.attempts:
                time.sleep(self.retry_delay)
        logger.info("webhook %s to %s failed after %d attempts", job.event, job.url, self.attempts)

    def _record(
        self, job: _Job, attempt: int, status: int | None, error: str | None, started: float
    ) -> None:
        with self._lock:
            if job.generation != self._generation:
                return
            self.deliveries.append(
                {
                    "url": job.url,
                    "event": job.event,
                    "order_id": job.order_id,
                    "attempt": attempt,
                    "status": status,
                    "error": error,
                    "ok": status == 200,
                    "at": iso(dt.datetime.now(dt.UTC)),
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                }
            )
