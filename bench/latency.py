"""Latency: from the webhook leaving KeyCRM to the BAS document posted, at a steady 10 orders
per second, with 50 ms added to every BAS call. The production path: gunicorn stores the
webhook, Celery (Redis broker) hands the record to a worker, the worker writes BAS."""

from __future__ import annotations

import http.client
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from bench.env import Child
from bench.receiving import GUNICORN_WORKERS, _free_port, gunicorn_start
from bench.shop import Shop, webhook_bytes
from staging.models import InboundRecord, RecordState

ORDERS = "Document_ЗаказПокупателя"
# The work is waiting on BAS, not computing: more processes than cores keep up with the rate.
CONCURRENCY = 6


@dataclass
class LatencyResult:
    rate: float
    orders: int
    posted: int
    p50_ms: float
    p95_ms: float
    bas_latency_ms: int
    bas_calls_per_order: float


def latency_measure(*, shop: Shop, keycrm, bas, env: dict[str, str], logs: Path,
                    buyers: list[int], rate: float, bas_latency_ms: int) -> LatencyResult:
    order_ids = shop.orders(keycrm, buyers, tag="lat")
    bodies = {order_id: webhook_bytes(keycrm, order_id) for order_id in order_ids}
    port = _free_port()
    web = gunicorn_start(env=env, logs=logs, port=port, workers=GUNICORN_WORKERS)
    worker = Child([str(Path(env["PYTHONPATH"], ".venv/bin/celery")), "-A", "config", "worker",
                    "--concurrency", str(CONCURRENCY), "--loglevel", "WARNING",
                    "--hostname", "bench@%h",
                    "--without-gossip", "--without-mingle", "--without-heartbeat"],
                   log=logs / "celery.log", env=env)
    time.sleep(4)  # the worker connects to the broker and forks its pool
    bas.set_faults(latency_ms=bas_latency_ms)
    bas.clear_log()
    sent_at: dict[str, float] = {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    path = f"/hooks/keycrm/{shop.account.webhook_token}/"
    started = time.time()
    try:
        for n, (order_id, body) in enumerate(bodies.items()):
            # A steady rate, whatever each request took.
            time.sleep(max(0.0, started + n / rate - time.time()))
            sent_at[f"KC-{order_id}"] = time.time()
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            if response.will_close:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        deadline = time.monotonic() + 60
        webhooks = InboundRecord.objects.filter(keycrm_order_id__in=order_ids)
        while time.monotonic() < deadline and webhooks.exclude(
                state=RecordState.DONE).exists():
            time.sleep(0.2)
    finally:
        conn.close()
        bas.set_faults()
        worker.stop()
        web.stop()
    numbers = {d["Ref_Key"]: d["НомерВходящегоДокумента"] for d in bas.objects("sb", ORDERS)}
    latencies = []
    for entry in bas.requests(method="POST"):
        if entry["path"].endswith("/Post") and entry.get("status") == 200:
            ref = entry["path"].split("guid'")[1].split("'")[0]
            number = numbers.get(ref)
            if number in sent_at:
                latencies.append(entry["at"] + entry["duration_ms"] / 1000 - sent_at[number])
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return LatencyResult(rate=rate, orders=len(order_ids), posted=len(latencies),
                         p50_ms=q[49] * 1000, p95_ms=q[94] * 1000,
                         bas_latency_ms=bas_latency_ms,
                         bas_calls_per_order=len(bas.requests()) / max(1, len(order_ids)))
