"""Reads a configuration document written by config_export (JSON or YAML) and creates or
updates the configuration by natural keys, in one transaction."""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mappings.services.transfer import (
    ConfigurationFileError,
    configuration_import,
    configuration_loads,
)


class Command(BaseCommand):
    help = ("Import a configuration file written by config_export. Secrets are not in the "
            "file: enter API keys and passwords in the admin afterwards.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", metavar="FILE", help="The JSON or YAML file; '-' reads "
                                                         "standard input.")
        parser.add_argument("--replace", action="store_true",
                            help="Also delete the attributes, mappings, statuses and "
                                 "correspondences of the file's accounts that the file does "
                                 "not list.")
        parser.add_argument("--dry-run", action="store_true",
                            help="Show what would change and save nothing.")

    def handle(self, *args, file: str, replace: bool, dry_run: bool, **options) -> None:
        try:
            raw = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from exc
        try:
            result = configuration_import(data=configuration_loads(raw), replace=replace,
                                          dry_run=dry_run)
        except ConfigurationFileError as exc:
            raise CommandError(f"Nothing was imported. {exc}") from exc
        if dry_run or options["verbosity"] > 1:
            for change in result.changes:
                self.stdout.write(f"  {change}")
        self.stdout.write(self.style.SUCCESS(result.summary()))
