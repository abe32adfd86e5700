"""Print a staff user's API token, creating it if needed.

    manage.py api_token admin            # the existing token, or a new one
    manage.py api_token admin --rotate   # a new token; the old one stops working

Only an active staff user in the operator or configurator group (or a superuser) gets one:
anybody else would be refused by every endpoint.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from api.services import TokenRefused, api_token_issue


class Command(BaseCommand):
    help = "Print a staff user's token for the HTTP API (Authorization: Token <key>)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--rotate", action="store_true",
                            help="replace the user's token; the old one stops working")

    def handle(self, *args, username: str, rotate: bool, **options) -> None:
        user_model = get_user_model()
        user = user_model._default_manager.filter(
            **{user_model.USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"no user is named “{username}”")
        try:
            token = api_token_issue(user=user, rotate=rotate)
        except TokenRefused as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(token.key)
