"""Stock push: N offers linked to BAS items — KeyCRM calls of the first push next to the batch
minimum ⌈N / STOCK_BATCH_SIZE⌉, the delta push after 1 % of the balances changed, and the
peak memory of the push command and of the worker that sends it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from bench.env import Child, manage
from tests.stock.conftest import build_stock_shop


@dataclass
class StockResult:
    offers: int
    batch: int
    first_calls: int
    first_stocked: int  # offers whose KeyCRM quantity is BAS's after the first push
    delta_changed: int
    delta_calls: int
    delta_stocked: int
    push_rss_mb: float
    send_rss_mb: float
    first_wall_s: float

    @property
    def first_minimum(self) -> int:
        return math.ceil(self.offers / self.batch)

    @property
    def delta_minimum(self) -> int:
        return math.ceil(self.delta_changed / self.batch)


def _puts(keycrm) -> list[dict]:
    return keycrm.requests(method="PUT", path_contains="/offers/stocks")


def _stocked(keycrm, shop, expected: dict[int, int]) -> int:
    with keycrm.lock:
        stocks = keycrm.store.stocks
        return sum(float(stocks.get(offer, {}).get(shop.warehouse_id, {}).get("quantity", -1))
                   == expected[i] for i, offer in enumerate(shop.offers))


def _push_and_send(account_id: int, *, env: dict[str, str], logs: Path, tag: str):
    push = Child(manage("stock_push", "--account", str(account_id)),
                 log=logs / f"stock-push-{tag}.log", env=env).wait()
    send = Child(manage("staging_worker", "--name", f"stock-{tag}", "--idle-seconds", "1"),
                 log=logs / f"stock-send-{tag}.log", env=env).wait()
    return push, send


def stock_measure(*, keycrm, bas, account, connection, env: dict[str, str], logs: Path,
                  offers: int) -> StockResult:
    shop = build_stock_shop(keycrm, bas, account, connection, size=offers)
    shop.move(bas, {i: 1 + i % 7 for i in range(offers)})
    keycrm.clear_log()
    push, send = _push_and_send(account.pk, env=env, logs=logs, tag="first")
    first = _puts(keycrm)
    first_stocked = _stocked(keycrm, shop, {i: 1 + i % 7 for i in range(offers)})
    changed = {i: 2 for i in range(0, offers, 100)}  # 1 %
    shop.move(bas, changed)
    keycrm.clear_log()
    push2, send2 = _push_and_send(account.pk, env=env, logs=logs, tag="delta")
    delta = _puts(keycrm)
    delta_stocked = _stocked(keycrm, shop,
                             {i: 1 + i % 7 + changed.get(i, 0) for i in range(offers)})
    return StockResult(
        offers=offers, batch=settings.STOCK_BATCH_SIZE, first_calls=len(first),
        first_stocked=first_stocked, delta_changed=len(changed), delta_calls=len(delta),
        delta_stocked=delta_stocked, push_rss_mb=max(push.max_rss_mb, push2.max_rss_mb),
        send_rss_mb=max(send.max_rss_mb, send2.max_rss_mb),
        first_wall_s=push.wall_s + send.wall_s)
