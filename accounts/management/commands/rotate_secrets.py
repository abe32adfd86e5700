from django.core.management.base import BaseCommand

from accounts.services import secrets_reencrypt


class Command(BaseCommand):
    help = ("Re-encrypt every stored API key and password under the first key of "
            "FIELD_ENCRYPTION_KEYS (run after putting a new key first).")

    def handle(self, *args, **options) -> None:
        count = secrets_reencrypt()
        self.stdout.write(self.style.SUCCESS(f"{count} secret(s) re-encrypted."))
