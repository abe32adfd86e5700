"""Push free balances BAS → KeyCRM now, for one account or every account with stock export
settings: ``manage.py stock_push [--account ID] [--dry-run]``."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from accounts.models import KeyCrmAccount
from runs.models import RunState
from stock.services import stock_push_run, stock_push_start


class Command(BaseCommand):
    help = "Push free balances from BAS to KeyCRM (only what changed since the last push)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--account", type=int, help="KeyCRM account id (default: all)")
        parser.add_argument("--dry-run", action="store_true",
                            help="show what would be sent; queue nothing")

    def handle(self, *args, account: int | None, dry_run: bool, **options) -> None:
        accounts = KeyCrmAccount.objects.filter(stock_settings__isnull=False)
        if account is not None:
            accounts = accounts.filter(pk=account)
            if not accounts.exists():
                raise CommandError(f"account {account} has no stock export settings")
        failed = 0
        for each in accounts:
            run = stock_push_run(run_id=stock_push_start(account=each, dry_run=dry_run).pk,
                                 worker="stock_push command")
            self.stdout.write(f"{each} (run {run.pk}): {run.state}: {run.message}")
            if dry_run and run.result:
                preview = run.result.get("preview", [])
                self.stdout.write(json.dumps(preview, ensure_ascii=False))
            failed += run.state == RunState.FAILED
        if failed:
            raise CommandError(f"{failed} account(s) not pushed")
