"""Runs the whole portal in the foreground: the web server, a Celery worker and the scheduler.

For one machine (the quick start, a small shop). Production runs the same three processes as
separate services (see docker-compose.yml).
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

    def handle(self, *args, host: str, port: int, web_workers: int, concurrency: int,
               **options) -> None:
        bin_dir = os.path.dirname(sys.executable)
        commands = {
            "web": [os.path.join(bin_dir, "gunicorn"), "config.wsgi:application",
                    "--bind", f"{host}:{port}", "--workers", str(web_workers),
                    "--access-logfile", "-"],
            "worker": [sys.executable, "-m", "celery", "-A", "config", "worker",
                       "--loglevel", "INFO", "--concurrency", str(concurrency),
                       "--hostname", "portal@%h"],
            "beat": [sys.executable, "-m", "celery", "-A", "config", "beat",
                     "--loglevel", "INFO", "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME],
        }
        children = {name: subprocess.Popen(cmd, cwd=settings.BASE_DIR)  # noqa: S603 - own argv
                    for name, cmd in commands.items()}
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
