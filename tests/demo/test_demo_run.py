"""The Quick-start run command with the demo, from a fresh database: the portal, the two
emulators and the demo account come up, and orders reach the BAS emulator as posted customer
orders within a minute. Drives what ``bin/run --demo`` runs after installing: ``migrate`` and
``runportal --demo`` as real processes (web server, Celery worker and beat included)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ORDERS = "Document_ЗаказПокупателя"
DEADLINE_SECONDS = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bas_orders(port: int) -> list[dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/__emulator__/objects",
        data=json.dumps({"base": "sb", "set": ORDERS}).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        return json.loads(response.read())["value"]


def _documents_done(database: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(database, timeout=5)) as db:
        rows = db.execute("SELECT bas_document_ref FROM staging_inboundrecord "
                          "WHERE state = 'done' AND bas_document_ref IS NOT NULL").fetchall()
    return {str(uuid.UUID(str(ref))) for (ref,) in rows}


def _answers(url: str, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as page:  # noqa: S310 - loopback
                return page.status == 200
        except OSError:
            time.sleep(0.5)
    return False


def test_the_demo_shows_posted_orders_in_bas_within_a_minute(tmp_path):
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL",
                          "DJANGO_SETTINGS_MODULE")}
    env.update(PORTAL_VAR_DIR=str(tmp_path), PYTHONUNBUFFERED="1")
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True,
                   timeout=120)
    web, keycrm, bas = _free_port(), _free_port(), _free_port()
    log = (tmp_path / "portal.log").open("w")
    started = time.monotonic()
    portal = subprocess.Popen(
        [*manage, "runportal", "--demo", "--port", str(web), "--demo-keycrm-port", str(keycrm),
         "--demo-bas-port", str(bas), "--demo-order-every", "5", "--concurrency", "2",
         "--web-workers", "1"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        posted: list[dict] = []
        while time.monotonic() - started < DEADLINE_SECONDS and not posted:
            time.sleep(2)
            assert portal.poll() is None, (tmp_path / "portal.log").read_text()[-4000:]
            try:
                # The demo base has orders of its own: count those the portal reports as its
                # own finished work, and check that BAS has each of them posted.
                written = _documents_done(tmp_path / "portal.sqlite3")
                posted = [doc for doc in _bas_orders(bas)
                          if doc["Ref_Key"] in written and doc.get("Posted")]
            except (OSError, sqlite3.Error):
                continue  # still starting
        elapsed = time.monotonic() - started
        print(f"demo: {len(posted)} posted order(s) in BAS after {elapsed:.0f} s")
        assert posted, (f"no posted order in BAS after {DEADLINE_SECONDS} s:\n"
                        + (tmp_path / "portal.log").read_text()[-6000:])
        assert all(doc["Number"] for doc in posted)
        assert _answers(f"http://127.0.0.1:{web}/admin/login/")  # the portal's pages too
        time.sleep(1)  # the access log line of the last webhook
        with contextlib.closing(sqlite3.connect(tmp_path / "portal.sqlite3")) as db:
            [(token,)] = db.execute("SELECT webhook_token FROM accounts_keycrmaccount").fetchall()
        output = (tmp_path / "portal.log").read_text()
        assert "/hooks/keycrm/***/" in output  # webhooks arrived and were logged, masked
        assert token not in output
    finally:
        os.killpg(portal.pid, signal.SIGTERM)
        try:
            portal.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(portal.pid, signal.SIGKILL)
        log.close()
