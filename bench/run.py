"""Runs the sections in order and turns their results into table rows (Django is set up
here, after ``__main__`` chose the database)."""

from __future__ import annotations

import io
import json
import os
import traceback
from pathlib import Path

import django

django.setup()

from django.core.management import call_command  # noqa: E402 - after django.setup()

from bench.backfill import backfill_measure  # noqa: E402
from bench.env import Database  # noqa: E402
from bench.latency import latency_measure  # noqa: E402
from bench.processing import idle_worker_cpu, processing_phase  # noqa: E402
from bench.profile import cpu_layers, sql_statements  # noqa: E402
from bench.receiving import receiving_measure  # noqa: E402
from bench.shop import shop_create, webhook_bytes  # noqa: E402
from emulators.bas import BasEmulator  # noqa: E402
from emulators.common import EmulatorServer  # noqa: E402
from emulators.keycrm import KeyCrmEmulator  # noqa: E402

Row = tuple[str, str, str, str, str]


def _verdict(ok: bool, why: str = "") -> str:
    return "meets" if ok else f"**short**: {why}"


def run_sections(*, db: Database, portal_env: dict[str, str], logs: Path, sizes: dict,
                 only: set[str]) -> list[Row]:
    call_command("migrate", verbosity=0, stdout=io.StringIO())
    keycrm = KeyCrmEmulator(rate_limit=1_000_000)
    bas = BasEmulator()
    rows: list[Row] = []
    with EmulatorServer(keycrm) as kserver, EmulatorServer(bas) as bserver:
        shop = shop_create(keycrm=keycrm, bas=bas, keycrm_url=kserver.url, bas_url=bserver.url)
        sections = [("receiving", _receiving), ("processing", _processing),
                    ("latency", _latency), ("backfill", _backfill), ("stock", _stock)]
        for name, section in sections:
            if only and name not in only:
                continue
            print(f"--- {name}", flush=True)
            try:
                rows += section(db=db, env=portal_env, logs=logs, sizes=sizes, shop=shop,
                                keycrm=keycrm, bas=bas, kurl=kserver.url, burl=bserver.url)
            except Exception as exc:
                traceback.print_exc()
                rows.append((name, "—", f"not measured: {type(exc).__name__}: "
                             f"{str(exc)[:200]}", "—", "**failed**"))
    return rows


def _receiving(*, db, env, logs, sizes, shop, keycrm, **_) -> list[Row]:
    [order_id] = shop.orders(keycrm, [0], tag="rcv")
    template = json.loads(webhook_bytes(keycrm, order_id))["context"]
    r = receiving_measure(db=db, env=env, logs=logs, account=shop.account, template=template,
                          count=sizes["receiving"], concurrency=sizes["concurrency"])
    ratio = r.ratio * 100
    cores = os.cpu_count() or 1
    return [
        ("Receiving", f"webhooks/s, HTTP → committed row ({r.webhooks} webhooks of "
         f"{r.body_bytes} B, {r.concurrency} keep-alive connections, gunicorn {r.server})",
         f"{r.per_second:,.0f}/s", "≥ 1,000/s", _verdict(r.per_second >= 1000, "see notes")),
        ("Receiving", "latency p50 / p99", f"{r.p50_ms:.1f} / {r.p99_ms:.1f} ms", "—", "—"),
        ("Receiving", "CPU per webhook: portal (gunicorn) / PostgreSQL / Redis / load generator",
         " / ".join(f"{r.cpu_ms[k]:.2f}" for k in ("portal", "postgres", "redis", "generator"))
         + f" ms = {sum(r.cpu_ms.values()):.2f} ms",
         # 1,000 webhooks a second on N cores leave N ms of CPU for each, whoever spends it.
         f"≤ {cores} ms in all (1,000/s on {cores} cores)",
         _verdict(sum(r.cpu_ms.values()) <= cores, "see notes")),
        ("Receiving", "bare psycopg INSERT+COMMIT loop, same rows", f"{r.bare_per_second:,.0f}/s",
         "the database's commit rate", "—"),
        ("Receiving", "portal ÷ bare", f"{ratio:.0f} %", "≥ 50 %",
         _verdict(ratio >= 50, "see notes")),
        ("Receiving", "rows stored / webhooks answered 200", f"{r.stored} / {r.webhooks}",
         "equal", _verdict(r.stored == r.webhooks, "rows missing")),
    ]


def _processing(*, env, logs, sizes, shop, keycrm, bas, **_) -> list[Row]:
    idle = idle_worker_cpu(env=env, logs=logs)
    new = processing_phase(label="new counterparty", shop=shop, keycrm=keycrm, bas=bas,
                           buyers=list(range(sizes["processing_new"])), workers=1, env=env,
                           logs=logs, idle_cpu=idle)
    # The same buyers again: counterparty and items are now known (the register has them).
    known = sizes["processing_known"]
    buyers = [k % sizes["processing_new"] for k in range(known)]
    one = processing_phase(label="known 1 worker", shop=shop, keycrm=keycrm, bas=bas,
                           buyers=buyers, workers=1, env=env, logs=logs, idle_cpu=idle)
    two = processing_phase(label="known 2 workers", shop=shop, keycrm=keycrm, bas=bas,
                           buyers=buyers, workers=2, env=env, logs=logs, idle_cpu=idle)
    rows: list[Row] = []
    for p in (one, two):
        rows.append(("Processing", f"orders/s end to end, {p.workers} worker(s), known "
                     f"counterparty ({p.done}/{p.orders} done)", f"{p.per_second:.1f}/s", "—",
                     _verdict(p.done == p.orders, "not all done")))
    for p in (one, two):
        rows.append(("Processing", f"portal CPU per order, {p.workers} worker(s)",
                     f"{p.cpu_ms_per_order:.1f} ms", "≤ 5 ms",
                     _verdict(p.cpu_ms_per_order <= 5, "see notes")))
    rows += [
        ("Processing", "BAS calls per order, known counterparty and items",
         f"{one.bas_calls:.2f} ({one.bas_writes:.2f} writes)", "2 (create + post)",
         _verdict(one.bas_calls <= 2.0, "lookups repeated per order; see notes")),
        ("Processing", "BAS calls per order, new counterparty",
         f"{new.bas_calls:.2f} ({new.bas_writes:.2f} writes)",
         "3 writes (counterparty, create, post) + the searches that prove it is new", "—"),
        ("Processing", "KeyCRM calls per order (webhook path)",
         f"{one.keycrm_calls:.2f} known / {new.keycrm_calls:.2f} new",
         "1 (the webhook row has no products: one GET of the order)",
         _verdict(one.keycrm_calls <= 1.0, "more than one GET")),
    ]
    # Where the CPU goes: the same work once more, in one worker profiled on CPU time.
    profile = logs / "processing-worker.prof"
    profiled = processing_phase(label="known profiled", shop=shop, keycrm=keycrm, bas=bas,
                                buyers=buyers, workers=1, env=env, logs=logs, idle_cpu=idle,
                                profile=profile)
    rows.append(("Processing", "SQL statements per order (profiled worker)",
                 f"{sql_statements(profile) / profiled.orders:.1f}", "—", "—"))
    for layer, share in cpu_layers(profile)[:6]:
        rows.append(("Processing", f"CPU by layer (profiled worker): {layer}",
                     f"{share * 100:.0f} % ≈ {share * one.cpu_ms_per_order:.1f} ms/order",
                     "—", "—"))
    return rows


def _latency(*, env, logs, sizes, shop, keycrm, bas, **_) -> list[Row]:
    rate = 10.0
    count = int(rate * sizes["latency_seconds"])
    buyers = [k % max(1, sizes["processing_new"]) for k in range(count)]
    r = latency_measure(shop=shop, keycrm=keycrm, bas=bas, env=env, logs=logs, buyers=buyers,
                        rate=rate, bas_latency_ms=50)
    return [("Latency", f"webhook → posted BAS document, {r.rate:.0f} orders/s, "
             f"+{r.bas_latency_ms} ms per BAS call ({r.posted}/{r.orders} posted)",
             f"p50 {r.p50_ms:.0f} ms / p95 {r.p95_ms:.0f} ms",
             f"floor ≈ {r.bas_calls_per_order:.1f} BAS calls × {r.bas_latency_ms} ms",
             _verdict(r.posted == r.orders, "not all posted in time"))]


def _backfill(*, env, logs, sizes, keycrm, kurl, **_) -> list[Row]:
    rows: list[Row] = []
    results = [backfill_measure(keycrm=keycrm, keycrm_url=kurl, env=env, logs=logs, orders=n)
               for n in sizes["backfill"]]
    for r in results:
        rows.append(("Backfill", f"{r.orders:,} orders: KeyCRM calls ({r.stored:,} stored)",
                     f"{r.calls} ({r.list_calls} list pages)", f"⌈N/50⌉ = {r.minimum}",
                     _verdict(r.calls == r.minimum and r.stored == r.orders,
                              f"{r.calls - r.minimum} extra call(s)")))
        rows.append(("Backfill", f"{r.orders:,} orders: wall time, peak memory",
                     f"{r.wall_s:.1f} s, {r.max_rss_mb:.0f} MB", "flat memory", "—"))
    small, large = results[0], results[-1]
    growth = large.max_rss_mb - small.max_rss_mb
    rows.append(("Backfill", f"memory growth {small.orders:,} → {large.orders:,} orders",
                 f"{growth:+.0f} MB", "flat (≤ 10 MB)", _verdict(growth <= 10, "grows with N")))
    return rows


def _stock(*, env, logs, sizes, keycrm, bas, kurl, burl, **_) -> list[Row]:
    try:
        from bench.stock import stock_measure
    except ImportError as exc:
        return [("Stock push", "—", f"not measured: {exc}", "—", "—")]
    from accounts.models import BasConnection, KeyCrmAccount
    from bench.shop import API_KEY, BAS_PASSWORD, BAS_USER

    with keycrm.lock:
        keycrm.reset()
    connection = BasConnection(name="БАС склад", publication_url=f"{burl}/sb",
                               username=BAS_USER, configuration="small_business")
    connection.set_password(BAS_PASSWORD)
    connection.save()
    account = KeyCrmAccount(name="Склад", api_base_url=f"{kurl}/v1",
                            requests_per_minute=1_000_000)
    account.set_api_key(API_KEY)
    account.save()
    r = stock_measure(keycrm=keycrm, bas=bas, account=account, connection=connection, env=env,
                      logs=logs, offers=sizes["stock"])
    return [
        ("Stock push", f"{r.offers:,} offers, first push: KeyCRM calls "
         f"({r.first_stocked:,} offers right)", str(r.first_calls),
         f"⌈N/{r.batch:,}⌉ = {r.first_minimum}",
         _verdict(r.first_calls == r.first_minimum and r.first_stocked == r.offers,
                  "more calls than batches")),
        ("Stock push", f"delta after 1 % changed ({r.delta_changed} offers): calls",
         f"{r.delta_calls} ({r.delta_stocked:,} offers right)", str(r.delta_minimum),
         _verdict(r.delta_calls == r.delta_minimum and r.delta_stocked == r.offers,
                  "more calls than batches")),
        ("Stock push", "peak memory: push command / sending worker",
         f"{r.push_rss_mb:.0f} / {r.send_rss_mb:.0f} MB", "flat", "—"),
        ("Stock push", "first push wall time (read BAS, plan, queue, send)",
         f"{r.first_wall_s:.1f} s", "—", "—"),
    ]
