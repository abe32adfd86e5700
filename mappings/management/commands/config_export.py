"""Writes the portal configuration (connections, accounts, profiles, mappings, statuses, the
correspondence register) as one JSON or YAML document, without any secret."""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import KeyCrmAccount
from mappings.services.transfer import configuration_dumps, configuration_export


class Command(BaseCommand):
    help = ("Export the configuration (without API keys, passwords or webhook tokens) to a "
            "file or to standard output.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", metavar="FILE", default="-",
                            help="Where to write; '-' (the default) is standard output.")
        parser.add_argument("--format", choices=["json", "yaml"], default=None,
                            help="json or yaml; by default yaml for a .yaml/.yml file, "
                                 "json otherwise.")
        parser.add_argument("--account", metavar="NAME", action="append", default=[],
                            help="Export only this KeyCRM account (and its BAS connection); "
                                 "repeat for several. By default every account.")

    def handle(self, *args, output: str, format: str | None, account: list[str],
               **options) -> None:
        fmt = format or ("yaml" if output.lower().endswith((".yaml", ".yml")) else "json")
        accounts = None
        if account:
            accounts = list(KeyCrmAccount.objects.filter(name__in=account))
            missing = sorted(set(account) - {found.name for found in accounts})
            if missing:
                raise CommandError(f"No KeyCRM account named {', '.join(missing)}.")
        text = configuration_dumps(configuration_export(accounts=accounts), fmt=fmt)
        if output == "-":
            self.stdout.write(text, ending="")
            return
        Path(output).write_text(text, encoding="utf-8")
        # stderr, so that "-o -" and a file behave alike for whoever pipes stdout.
        sys.stderr.write(f"Configuration written to {output}.\n")
