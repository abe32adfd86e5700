"""Runs the whole portal in the foreground: the web server, a Celery worker and the scheduler.

For one machine (the quick start, a small shop). Production runs the same three processes as
separate services (see docker-compose.yml). ``--demo`` also starts the KeyCRM and BAS emulators
with demo data and points a demo account at them (see ``demo/``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Start the web server, a Celery worker and the Celery beat scheduler together."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=os.environ.get("PORTAL_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--web-workers", type=int, default=2)
        parser.add_argument("--concurrency", type=int, default=2)
        parser.add_argument("--demo", action="store_true",
                            help="also start the KeyCRM and BAS emulators with demo data and a "
                                 "demo account that sends orders to them")
        parser.add_argument("--demo-keycrm-port", type=int,
                            default=int(os.environ.get("DEMO_KEYCRM_PORT", "8702")))
        parser.add_argument("--demo-bas-port", type=int,
                            default=int(os.environ.get("DEMO_BAS_PORT", "8701")))
        parser.add_argument("--demo-order-every", type=float,
                            default=float(os.environ.get("DEMO_ORDER_EVERY", "20")),
                            help="seconds between the demo shop's new orders")

    def handle(self, *args, host: str, port: int, web_workers: int, concurrency: int,
               demo: bool, demo_keycrm_port: int, demo_bas_port: int,
               demo_order_every: float, **options) -> None:
        bin_dir = os.path.dirname(sys.executable)
        children: dict[str, subprocess.Popen] = {}
        if demo:
            children.update(self._demo(host, port, demo_keycrm_port, demo_bas_port,
                                       demo_order_every))
        commands = {
            # Worker class, threads and the masked access log: config/gunicorn.py.
            "web": [os.path.join(bin_dir, "gunicorn"), "--config", "python:config.gunicorn",
                    "config.wsgi:application", "--bind", f"{host}:{port}",
                    "--workers", str(web_workers)],
            "worker": [sys.executable, "-m", "celery", "-A", "config", "worker",
                       "--loglevel", "INFO", "--concurrency", str(concurrency),
                       "--hostname", "portal@%h"],
            "beat": [sys.executable, "-m", "celery", "-A", "config", "beat",
                     "--loglevel", "INFO", "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME],
        }
        children.update({name: subprocess.Popen(cmd, cwd=settings.BASE_DIR)  # noqa: S603
                         for name, cmd in commands.items()})
        self.stdout.write(self.style.SUCCESS(
            f"Portal running: http://{host}:{port}/admin/  (web, worker and scheduler; "
            "Ctrl+C stops all three)"))
        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        exit_code = 0
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    self.stderr.write(f"{name} exited with {child.returncode}; stopping the rest")
                    exit_code = child.returncode or 1
                    stopping = True
            time.sleep(0.5)
        for child in children.values():
            if child.poll() is None:
                child.terminate()
        for child in children.values():
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
        sys.exit(exit_code)

    def _demo(self, host: str, port: int, keycrm_port: int, bas_port: int,
              order_every: float) -> dict[str, subprocess.Popen]:
        from demo.runner import LiveShop, control, emulators_start
        from demo.services import demo_configure
        from staging.tasks import run_backfill

        emulators = emulators_start(keycrm_port=keycrm_port, bas_port=bas_port,
                                    cwd=str(settings.BASE_DIR))
        portal_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        setup = demo_configure(keycrm_url=f"http://127.0.0.1:{keycrm_port}/v1",
                               bas_url=f"http://127.0.0.1:{bas_port}/sb",
                               portal_url=f"http://{portal_host}:{port}")
        control(keycrm_port, "webhooks", {"subscriptions": [{"url": setup.webhook_url}]})
        if setup.backfill is not None:
            run_backfill.delay(setup.backfill.pk)
        LiveShop(keycrm_port=keycrm_port, every=order_every).start()
        self.stdout.write(self.style.SUCCESS(
            f"Demo: KeyCRM emulator http://127.0.0.1:{keycrm_port}/v1, BAS emulator "
            f"http://127.0.0.1:{bas_port}/sb/odata/standard.odata/ (login "
            f"«{setup.account.bas_connection.username}»); account «{setup.account.name}» "
            f"receives a new order every {order_every:g} s."))
        return {f"{name} emulator": child for name, child in emulators.items()}
