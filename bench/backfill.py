"""Backfill: ``manage.py keycrm_backfill`` over N orders — KeyCRM calls next to ⌈N/50⌉ (one
page of 50 per call), the command's peak memory at two sizes, the wall time with the
emulator's rate limit raised out of the way."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from accounts.models import KeyCrmAccount
from bench.env import Child, manage
from bench.shop import API_KEY
from staging.models import InboundRecord

PAGE = 50


@dataclass
class BackfillResult:
    orders: int
    stored: int
    calls: int
    list_calls: int
    wall_s: float
    max_rss_mb: float

    @property
    def minimum(self) -> int:
        return math.ceil(self.orders / PAGE)


def backfill_measure(*, keycrm, keycrm_url: str, env: dict[str, str], logs: Path,
                     orders: int) -> BackfillResult:
    with keycrm.lock:
        keycrm.reset()
    keycrm.seed({"statuses": [{"name": "Нове"}], "sources": [{"name": "Сайт"}]})
    keycrm.seed({"orders": [{"buyer": {"full_name": f"Покупець {n}", "phone": f"050{n:07d}"},
                             "products": [{"sku": "TSH-BLK", "name": "Футболка", "price": 100,
                                           "quantity": 1}]} for n in range(orders)]})
    account = KeyCrmAccount(name=f"Backfill {orders}", api_base_url=f"{keycrm_url}/v1",
                            requests_per_minute=1_000_000)
    account.set_api_key(API_KEY)
    account.save()
    keycrm.clear_log()
    finished = Child(manage("keycrm_backfill", "--account", account.name, "--since",
                            "2000-01-01"), log=logs / f"backfill-{orders}.log", env=env).wait()
    log = keycrm.requests()
    return BackfillResult(
        orders=orders, stored=InboundRecord.objects.filter(account=account).count(),
        calls=len(log), list_calls=sum(r["path"].rstrip("/").endswith("/order") for r in log),
        wall_s=finished.wall_s, max_rss_mb=finished.max_rss_mb)
