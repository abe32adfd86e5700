"""A worker that processes the staging queue and sends the outbox without Celery: for tests,
benchmarks and small installations. Several can run at once; the queue's claims and locks keep
them apart."""

from __future__ import annotations

import cProfile
import os
import socket
import time

from django.core.management.base import BaseCommand

from staging.services.outbox import outbox_due, outbox_send, outbox_sweep
from staging.services.process import record_process
from staging.services.queue import records_due, records_sweep


class Command(BaseCommand):
    help = ("Process due records of the staging queue and send due outbox messages until idle "
            "(or forever with --forever).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--forever", action="store_true")
        parser.add_argument("--idle-seconds", type=float, default=3.0,
                            help="stop after this long with nothing due")
        parser.add_argument("--name", default=f"worker@{socket.gethostname()}:{os.getpid()}")
        parser.add_argument("--profile", metavar="FILE",
                            help="write a CPU-time profile (cProfile, pstats format) to FILE "
                                 "when the worker stops: where its processor time goes")

    def handle(self, *args, profile: str | None = None, **options) -> None:
        if not profile:
            self._work(**options)
            return
        profiler = cProfile.Profile(time.process_time)  # CPU time: waiting for I/O is free
        profiler.enable()
        try:
            self._work(**options)
        finally:
            profiler.disable()
            profiler.dump_stats(profile)

    def _work(self, *, forever: bool, idle_seconds: float, name: str, **_options) -> None:
        idle_since = time.monotonic()
        processed = sent = 0
        while True:
            due = records_due(limit=20)
            for record_id in due:
                if record_process(record_id=record_id, worker=name) is not None:
                    processed += 1
                    idle_since = time.monotonic()
            outgoing = outbox_due(limit=20)
            for message_id in outgoing:
                if outbox_send(message_id=message_id, worker=name) is not None:
                    sent += 1
                    idle_since = time.monotonic()
            if not due and not outgoing:
                records_sweep()
                outbox_sweep()
                if not forever and time.monotonic() - idle_since > idle_seconds:
                    break
                time.sleep(0.2)
        self.stdout.write(f"{name}: {processed} record(s) processed, {sent} message(s) sent")
