"""Queue received records again, e.g. after fixing the cause of a whole batch of waiting ones.

    manage.py reprocess --state waiting --account "Магазин" --since 2025-03-01 --dry-run
    manage.py reprocess --id 41 42 --id 57

Selectors combine (all must match); at least one is required, so a bare ``reprocess`` can never
re-queue the whole history by accident. Duplicates, ignored records and records a worker holds
are skipped, as in the admin's "Re-process" action.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from runs.terminal import ProgressBar
from staging.models import RecordState
from staging.services.selectors import (
    UnknownAccount,
    records_matching,
    records_requeue_preview,
)
from staging.tasks import REPROCESS_CHUNK, REPROCESS_IN_REQUEST_MAX, records_reprocess_now

STATES = (RecordState.WAITING, RecordState.FAILED, RecordState.RETRY, RecordState.DONE)


def _who() -> str:
    try:
        return f"{getpass.getuser()} (manage.py reprocess)"
    except (KeyError, OSError):  # a container user with no login name
        return "manage.py reprocess"


def _day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"“{value}” is not a date like 2025-03-01") from exc


class Command(BaseCommand):
    help = ("Queue received records again for processing into BAS. Select them by id, state, "
            "account and/or received date; at least one selector is required.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--id", dest="ids", type=int, nargs="+", action="extend",
                            default=[], metavar="N", help="record ids")
        parser.add_argument("--state", dest="states", nargs="+", action="extend", default=[],
                            choices=[str(s) for s in STATES], help="records in these states")
        parser.add_argument("--account", help="the KeyCRM account's name in the portal")
        parser.add_argument("--since", type=_day, metavar="YYYY-MM-DD",
                            help="received on or after this day (portal time zone)")
        parser.add_argument("--until", type=_day, metavar="YYYY-MM-DD",
                            help="received on or before this day (portal time zone)")
        parser.add_argument("--dry-run", action="store_true",
                            help="show what would be re-queued; change nothing")

    def handle(self, *args, ids: list[int], states: list[str], account: str | None,
               since: dt.date | None, until: dt.date | None, dry_run: bool,
               **options) -> None:
        if not (ids or states or account is not None or since or until):
            raise CommandError("Say which records to re-process: --id, --state, --account, "
                               "--since and/or --until (e.g. --state waiting). Refusing to "
                               "re-queue every record.")
        if since and until and since > until:
            raise CommandError(f"--since {since} is after --until {until}")
        try:
            records = records_matching(ids=ids, states=states, account_name=account,
                                       since=since, until=until)
        except UnknownAccount as exc:
            raise CommandError(str(exc)) from exc
        selected = list(records.values_list("id", flat=True))
        if dry_run:
            requeued, skipped = records_requeue_preview(records=records)
            self.stdout.write(f"{len(selected)} record(s) match: {requeued} would be "
                              f"re-queued, {skipped} skipped (in processing, duplicates or "
                              f"ignored). Dry run: nothing changed.")
            return
        requeued, skipped = self._requeue(selected, who=_who())
        self.stdout.write(f"{len(selected)} record(s) match: {requeued} re-queued, {skipped} "
                          f"skipped (in processing, duplicates or ignored).")

    def _requeue(self, ids: list[int], *, who: str) -> tuple[int, int]:
        """Chunk by chunk, each sent to the workers as its transaction commits; a bar for
        more than a screenful of records (or on a terminal)."""
        show = len(ids) > REPROCESS_IN_REQUEST_MAX or self.stdout.isatty()
        bar = ProgressBar(self.stdout, total=len(ids), label="re-queue") if show else None
        if bar is not None:
            self.stdout.ending = ""  # the bar ends its own lines; "\r" redraws in place
        requeued = skipped = 0
        try:
            for start in range(0, len(ids), REPROCESS_CHUNK):
                chunk = ids[start:start + REPROCESS_CHUNK]
                with transaction.atomic():
                    chunk_requeued, chunk_skipped = records_reprocess_now(record_ids=chunk,
                                                                          who=who)
                requeued, skipped = requeued + chunk_requeued, skipped + chunk_skipped
                if bar is not None:
                    bar.update(add=len(chunk))
        finally:
            if bar is not None:
                bar.finish()
                self.stdout.ending = "\n"
        return requeued, skipped
