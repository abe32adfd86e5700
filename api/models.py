"""The portal's own permissions, which belong to no table of another app.

``PortalAccess`` is not a table (``managed = False``): it only carries the permissions that the
HTTP API and the roles check, so that granting "may re-process" does not need a migration in
the staging app, and the permission has a name a person understands in the admin's group page.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class PortalAccess(models.Model):
    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = _("portal access")
        verbose_name_plural = _("portal access")
        permissions = [
            ("view_health", _("Can see the health of the integration loops")),
            ("reprocess_records", _("Can re-process received records")),
            ("resend_outbox", _("Can send outgoing messages to KeyCRM again")),
            ("export_configuration", _("Can export the configuration")),
        ]

    def __str__(self) -> str:
        return str(self._meta.verbose_name)
