"""Delete old successful exchanges now (the ``prune_exchange_log`` task does it every day)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from staging.services.exchanges import exchanges_prune


class Command(BaseCommand):
    help = ("Delete successful exchanges older than --days (default EXCHANGE_LOG_KEEP_DAYS); "
            "failed ones are kept.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None,
                            help=f"keep this many days (default {settings.EXCHANGE_LOG_KEEP_DAYS},"
                                 " from EXCHANGE_LOG_KEEP_DAYS)")

    def handle(self, *args, days: int | None, **options) -> None:
        days = settings.EXCHANGE_LOG_KEEP_DAYS if days is None else days
        if days < 0:
            raise CommandError("--days must be 0 or more")
        deleted = exchanges_prune(older_than_days=days)
        self.stdout.write(f"{deleted} exchange(s) deleted: successful ones older than {days} "
                          f"day(s); failed ones are kept.")
