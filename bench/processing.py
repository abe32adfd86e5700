"""Processing: orders per second end to end (KeyCRM GET → BAS writes) with ``staging_worker``
processes against the emulators at zero added latency; portal CPU per order; HTTP calls per
order from the emulators' request logs, for new and for known counterparties."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.db.models import Max, Min

from bench.env import Child, manage
from bench.shop import Shop, webhook_bytes
from staging.models import Attempt, InboundRecord, RecordState
from staging.services.receive import webhook_receive

IDLE_SECONDS = 1.0


@dataclass
class Phase:
    label: str
    workers: int
    orders: int
    done: int
    per_second: float
    cpu_ms_per_order: float
    bas_calls: float
    keycrm_calls: float
    bas_writes: float
    wall_s: float


def _queue(shop: Shop, keycrm, order_ids: list[int]) -> list[int]:
    ids = []
    for order_id in order_ids:
        stored = webhook_receive(account=shop.account, body=webhook_bytes(keycrm, order_id),
                                 headers={"Content-Type": "application/json"})
        ids.append(stored.record.pk)
    return ids


def _run_workers(count: int, *, env: dict[str, str], logs: Path, tag: str,
                 profile: Path | None = None) -> list:
    extra = ["--profile", str(profile)] if profile else []
    children = [Child(manage("staging_worker", "--name", f"{tag}-w{i}", "--idle-seconds",
                             str(IDLE_SECONDS), *extra), log=logs / f"{tag}-w{i}.log", env=env)
                for i in range(count)]
    return [child.wait() for child in children]


def idle_worker_cpu(*, env: dict[str, str], logs: Path) -> float:
    """CPU seconds of a worker that starts, finds nothing and stops: subtracted per worker."""
    runs = [_run_workers(1, env=env, logs=logs, tag=f"idle{i}")[0].cpu_s for i in range(2)]
    return min(runs)


def processing_phase(*, label: str, shop: Shop, keycrm, bas, buyers: list[int], workers: int,
                     env: dict[str, str], logs: Path, idle_cpu: float, tag: str = "",
                     profile: Path | None = None) -> Phase:
    order_ids = shop.orders(keycrm, buyers, tag=tag)
    record_ids = _queue(shop, keycrm, order_ids)
    keycrm.clear_log()
    bas.clear_log()
    finished = _run_workers(workers, env=env, logs=logs, tag=label.replace(" ", "-"),
                            profile=profile)
    records = InboundRecord.objects.filter(pk__in=record_ids)
    done = records.filter(state=RecordState.DONE).count()
    span = Attempt.objects.filter(record_id__in=record_ids).aggregate(
        first=Min("started_at"), last=Max("finished_at"))
    seconds = (span["last"] - span["first"]).total_seconds()
    cpu = sum(f.cpu_s for f in finished) - idle_cpu * workers
    n = len(order_ids)
    bas_log = bas.requests()
    return Phase(label=label, workers=workers, orders=n, done=done, per_second=n / seconds,
                 cpu_ms_per_order=cpu * 1000 / n, bas_calls=len(bas_log) / n,
                 keycrm_calls=len(keycrm.requests()) / n,
                 bas_writes=sum(r["method"] != "GET" for r in bas_log) / n,
                 wall_s=max(f.wall_s for f in finished))
