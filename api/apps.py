from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _roles_after_migrate(sender: AppConfig, *, apps: Any = None, using: str = "default",
                         **kwargs: Any) -> None:
    # After every migrate (and after a test database is flushed), so groups always hold the
    # permissions of the models that exist now.
    from api.roles import roles_sync  # auth's models are not importable before ready()

    if apps is None:
        return
    try:
        apps.get_model("api", "PortalAccess")
    except LookupError:  # ``migrate api zero``: the roles were just removed on purpose
        return
    roles_sync(apps=apps, using=using)


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = _("HTTP API and roles")

    def ready(self) -> None:
        post_migrate.connect(_roles_after_migrate, sender=self,
                             dispatch_uid="api.roles_after_migrate")
