"""``manage.py catalogue_sync --account 1 --flow prices [--dry-run]``: run a catalogue flow now."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import KeyCrmAccount
from catalogue.models import CatalogueFlow
from catalogue.services import CatalogueRunBusy, catalogue_run_now
from runs.models import RunState


class Command(BaseCommand):
    help = "Run a catalogue flow now (products both ways, prices, cost price)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", type=int, required=True, help="KeyCRM account id")
        parser.add_argument("--flow", choices=list(CatalogueFlow.values), required=True)
        parser.add_argument("--dry-run", action="store_true",
                            help="Show what would change; write nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        account = KeyCrmAccount.objects.filter(pk=options["account"]).first()
        if account is None:
            raise CommandError(f"No KeyCRM account {options['account']}")
        try:
            run = catalogue_run_now(account=account, flow=options["flow"],
                                    dry_run=options["dry_run"])
        except CatalogueRunBusy as exc:
            raise CommandError(str(exc)) from exc
        if run.state != RunState.DONE:
            raise CommandError(run.message)
        self.stdout.write(run.message)
        if options["dry_run"] and run.result:
            self.stdout.write(json.dumps(run.result["changes"], ensure_ascii=False, indent=1))
