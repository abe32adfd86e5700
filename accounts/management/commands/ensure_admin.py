"""Creates the first administrator for the quick start and says how to log in."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = ("Create a superuser 'admin' with a random password if there is no superuser yet; "
            "the password is kept in var/admin-password.txt (readable by you only).")

    def handle(self, *args, **options) -> None:
        user_model = get_user_model()
        password_file = settings.VAR_DIR / "admin-password.txt"
        if user_model.objects.filter(is_superuser=True).exists():
            if password_file.exists():
                self.stdout.write(f"Log in as: admin / {password_file.read_text().strip()}")
            else:
                self.stdout.write("Log in with your existing superuser.")
            return
        password = secrets.token_urlsafe(12)
        user_model.objects.create_superuser("admin", "", password)
        password_file.write_text(password + "\n")
        password_file.chmod(0o600)
        self.stdout.write(self.style.SUCCESS(f"Created superuser. Log in as: admin / {password}"))
