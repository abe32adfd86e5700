"""Check BAS for changed order states and orders made in BAS, now, in this process."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import KeyCrmAccount
from integration.bas.client import BasError
from integration.pipelines.bas_changes import BasChangesError, bas_changes_check


class Command(BaseCommand):
    help = ("Read the recent BAS documents of each account (or one) and queue what KeyCRM "
            "must learn: changed states, orders entered in BAS.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", type=int, help="the KeyCRM account id (default: all "
                            "accounts with a BAS connection and a document profile)")

    def handle(self, *args: Any, account: int | None = None, **options: Any) -> None:
        accounts = KeyCrmAccount.objects.filter(bas_connection__isnull=False,
                                                document_profile__isnull=False)
        if account is not None:
            accounts = accounts.filter(pk=account)
            if not accounts.exists():
                raise CommandError(f"no account {account} with a BAS connection and a "
                                   "document profile")
        failed = 0
        for row in accounts.order_by("pk"):
            try:
                summary = bas_changes_check(account=row, worker="command:bas_changes")
            except (BasChangesError, BasError) as exc:
                failed += 1
                self.stderr.write(f"{row}: {exc}")
                continue
            self.stdout.write(f"{row}: {summary.text()}")
        if failed:
            raise CommandError(f"{failed} account(s) failed")
