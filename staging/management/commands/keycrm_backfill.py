"""Pull an account's order history into staging, with a progress bar:

    manage.py keycrm_backfill --account "Магазин" --since 2024-01-01
    manage.py keycrm_backfill --resume 12

The account's last unfinished job for the same date is resumed rather than started again, so
running the same command after an interruption (Ctrl-C, a KeyCRM outage) continues from the
page it stopped at. The stored records are processed by the workers as usual.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts.models import KeyCrmAccount
from staging.models import BackfillJob
from staging.services.backfill import (
    BackfillBusy,
    backfill_run,
    backfill_since,
    backfill_start,
    backfill_unfinished,
)

BAR_WIDTH = 30


class ProgressBar:
    """``[#####.....] 250/1000 orders, 12.3/s, ETA 1m01s``: one line per page on a file or
    pipe, one line redrawn in place on a terminal."""

    def __init__(self, stdout, *, already: int) -> None:
        self.stdout = stdout
        self.already = already  # stored by earlier runs: not part of this run's speed
        self.started = time.monotonic()
        self.in_place = stdout.isatty()

    def __call__(self, done: int, total: int | None) -> None:
        self.stdout.write(("\r" if self.in_place else "") + self.line(done, total),
                          ending="" if self.in_place else "\n")
        self.stdout.flush()

    def line(self, done: int, total: int | None) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = (done - self.already) / elapsed
        if total:
            filled = min(BAR_WIDTH, round(BAR_WIDTH * done / total))
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            eta = _duration((total - done) / rate) if rate > 0 and done < total else "0s"
            return f"[{bar}] {done}/{total} orders, {rate:.1f}/s, ETA {eta}"
        return f"[{'.' * BAR_WIDTH}] {done} orders, {rate:.1f}/s"

    def finish(self) -> None:
        if self.in_place:
            self.stdout.write("")  # end the redrawn line


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class Command(BaseCommand):
    help = ("Store an account's KeyCRM orders dated since a day (ordered_at) in staging, page "
            "by page; resumes the account's unfinished backfill for the same day.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", help="the KeyCRM account's name in the portal")
        parser.add_argument("--since", type=_day, help="YYYY-MM-DD, a day in the portal's "
                            "time zone")
        parser.add_argument("--resume", type=int, metavar="JOB_ID",
                            help="resume this backfill job")

    def handle(self, *args, account: str | None, since: dt.date | None, resume: int | None,
               **options) -> None:
        job = self._job(account_name=account, since=since, job_id=resume)
        if job.state == BackfillJob.State.DONE:
            self.stdout.write(f"Backfill #{job.pk} is already done: {job.message}")
            return
        if job.next_page > 1:
            self.stdout.write(f"Resuming backfill #{job.pk} of {job.account} at page "
                              f"{job.next_page} ({job.stored}/{job.total or '?'} stored).")
        else:
            self.stdout.write(f"Backfill #{job.pk}: orders of {job.account} since "
                              f"{timezone.localtime(job.since):%Y-%m-%d %H:%M %Z}.")
        bar = ProgressBar(self.stdout, already=job.stored)
        started = time.monotonic()
        try:
            job = backfill_run(job=job, progress=bar)
        except BackfillBusy as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.finish()
        if job.state != BackfillJob.State.DONE:
            raise CommandError(f"Backfill #{job.pk} {job.get_state_display().lower()}: "
                               f"{job.message} (resume: --resume {job.pk})")
        self.stdout.write(f"Backfill #{job.pk} done: {job.stored}/{job.total or 0} orders "
                          f"stored in {time.monotonic() - started:.1f} s; the workers "
                          f"process them into BAS.")

    def _job(self, *, account_name: str | None, since: dt.date | None,
             job_id: int | None) -> BackfillJob:
        if job_id is not None:
            job = BackfillJob.objects.select_related("account").filter(pk=job_id).first()
            if job is None:
                raise CommandError(f"There is no backfill job #{job_id}.")
            if account_name and job.account.name != account_name:
                raise CommandError(f"Backfill #{job_id} belongs to {job.account}, "
                                   f"not {account_name}.")
            return job
        if not account_name or since is None:
            raise CommandError("Give --account and --since (or --resume JOB_ID).")
        account = KeyCrmAccount.objects.filter(name=account_name).first()
        if account is None:
            names = ", ".join(KeyCrmAccount.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"There is no KeyCRM account “{account_name}” (accounts: "
                               f"{names}).")
        start = backfill_since(since)
        return (backfill_unfinished(account=account, since=start)
                or backfill_start(account=account, since=start))


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day as YYYY-MM-DD") from None
