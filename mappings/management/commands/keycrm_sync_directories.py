from __future__ import annotations

from collections.abc import Callable

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.crypto import SecretUnreadable
from accounts.models import KeyCrmAccount
from mappings.models import MIRRORED_DIRECTORIES, KeyCrmDirectory
from mappings.services.directories import directories_sync
from runs.terminal import ProgressBar


class Command(BaseCommand):
    help = ("Refresh the mirrors of KeyCRM's directories (statuses, sources, products, "
            "offers…) of one account, or of every enabled account. Exits with an error when "
            "a directory could not be read.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--account", action="append", dest="accounts", metavar="NAME",
            help="KeyCRM account name (repeatable); all enabled accounts when omitted.")
        parser.add_argument(
            "--directory", action="append", dest="directories",
            choices=[str(name) for name in MIRRORED_DIRECTORIES],
            help="Directory to sync (repeatable); all mirrored directories when omitted.")

    def handle(self, *args, accounts: list[str] | None = None,
               directories: list[str] | None = None, **options) -> None:
        if accounts:
            found = {account.name: account
                     for account in KeyCrmAccount.objects.filter(name__in=accounts)}
            missing = [name for name in accounts if name not in found]
            if missing:
                raise CommandError(f"No KeyCRM account named {', '.join(missing)}.")
            selected = [found[name] for name in dict.fromkeys(accounts)]
        else:
            selected = list(KeyCrmAccount.objects.filter(enabled=True).order_by("name"))
            if not selected:
                self.stdout.write("No enabled KeyCRM account.")
                return
        wanted = list(dict.fromkeys(directories)) if directories else list(MIRRORED_DIRECTORIES)

        failures = 0
        for account in selected:
            self.stdout.write(self.style.MIGRATE_HEADING(f"{account.name}:"))
            # On a terminal one bar per account (directories done / all, the one being read
            # as its label); in a log or a pipe a line per directory and chunk, as before.
            bar = (ProgressBar(self.stdout, total=len(wanted))
                   if self.stdout.isatty() else None)
            if bar is not None:
                self.stdout.ending = ""  # the bar ends its own lines; "\r" redraws in place
            try:
                result = directories_sync(
                    account=account, directories=wanted,
                    progress=self._bar_progress(bar, wanted) if bar else self._progress)
            except SecretUnreadable as exc:
                self.stderr.write(f"{account.name}: {exc}")
                failures += 1
                continue
            finally:
                if bar is not None:
                    bar.update(done=len(wanted))
                    bar.finish()
                    self.stdout.ending = "\n"
            style = self.style.SUCCESS if result.ok else self.style.WARNING
            self.stdout.write(style(result.summary()))
            for counts in result.failed:
                self.stderr.write(f"{account.name}: {counts.describe()}")
            failures += len(result.failed)
        if failures:
            raise CommandError(f"{failures} director(ies) or account(s) could not be synced.")

    def _progress(self, directory: str, read: int) -> None:
        label = KeyCrmDirectory(directory).label
        if read:
            self.stdout.write(f"  {label}: {read} read")
        else:
            self.stdout.write(f"  {label}…")

    @staticmethod
    def _bar_progress(bar: ProgressBar, wanted: list[str]) -> Callable[[str, int], None]:
        def progress(directory: str, read: int) -> None:
            bar.label = f"{KeyCrmDirectory(directory).label}: {read}"
            bar.update(done=wanted.index(directory))
        return progress
