"""The two roles, as data, and the one function that makes the auth groups match them.

* **operator** — sees everything an operator needs (accounts, connections, mappings, records,
  the exchange log, the outbox, polling, runs), re-processes records and sends outbox messages
  again; changes no connection and no mapping.
* **configurator** — everything the operator may, plus adding, changing and deleting KeyCRM
  accounts, BAS connections and every mapping (payment routes and document rules included),
  changing polling, backfills and the settings rows of the other loops (stock push,
  catalogue, BAS changes, payments), and running those loops for real from the admin; the
  operator may start only their dry runs.

A staff user in neither group (and not a superuser) sees nothing: the API refuses and the
admin shows no page. Groups are rebuilt from this definition after every ``migrate`` (the
``api`` app's post-migrate handler), so the permissions of models added later join the roles
without a hand edit; a change made to these two groups in the admin is undone then.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Q

OPERATOR = "operator"
CONFIGURATOR = "configurator"

# Apps whose every model an operator may view. Labels that are not installed are skipped.
VIEWED_APPS = ("accounts", "mappings", "staging", "integration", "runs", "catalogue",
               "documents", "stock")

OPERATOR_EXTRA = (
    # The admin's "Re-process" action asks for this (the record page itself stays read-only).
    "staging.change_inboundrecord",
    "staging.change_outboxmessage",
    "api.view_health",
    "api.reprocess_records",
    "api.resend_outbox",
    "api.export_configuration",
)
CONFIGURATOR_EXTRA = (
    "staging.add_pollcursor", "staging.change_pollcursor",
    "staging.add_backfilljob", "staging.change_backfilljob",
    # Mappings that live in the documents app: payment-method correspondence and the rules
    # of which status makes which document.
    "documents.add_paymentroute", "documents.change_paymentroute",
    "documents.delete_paymentroute",
    "documents.add_documentrule", "documents.change_documentrule",
    "documents.delete_documentrule",
)


@dataclasses.dataclass(frozen=True)
class Role:
    name: str
    viewed_apps: tuple[str, ...]
    managed_apps: tuple[str, ...] = ()  # add, change, delete and view of every model
    extra: tuple[str, ...] = ()  # "app_label.codename"
    # Add and change the settings rows of every viewed app (stock push, catalogue, BAS
    # changes…): they are configuration, like the mappings.
    edits_settings: bool = False


ROLES = (
    Role(name=OPERATOR, viewed_apps=VIEWED_APPS, extra=OPERATOR_EXTRA),
    Role(name=CONFIGURATOR, viewed_apps=VIEWED_APPS, managed_apps=("accounts", "mappings"),
         extra=OPERATOR_EXTRA + CONFIGURATOR_EXTRA, edits_settings=True),
)


def roles_sync(*, apps: Any = global_apps, using: str = DEFAULT_DB_ALIAS) -> dict[str, int]:
    """Create the role groups if missing and give each exactly its permissions. Idempotent.
    ``apps`` is the registry to use: a migration passes its historical one. Returns the number
    of permissions of each group."""
    _ensure_permissions(apps, using)
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    counts = {}
    for role in ROLES:
        group, _created = group_model.objects.using(using).get_or_create(name=role.name)
        wanted = permission_model.objects.using(using).filter(_role_filter(role))
        group.permissions.set(wanted)
        counts[role.name] = group.permissions.count()
    return counts


def _role_filter(role: Role) -> Q:
    query = Q(content_type__app_label__in=role.viewed_apps, codename__startswith="view_")
    query |= Q(content_type__app_label__in=role.managed_apps)
    if role.edits_settings:
        query |= Q(content_type__app_label__in=role.viewed_apps,
                   content_type__model__endswith="settings",
                   codename__regex=r"^(add|change)_")
    for name in role.extra:
        app_label, codename = name.split(".", 1)
        query |= Q(content_type__app_label=app_label, codename=codename)
    return query


def _ensure_permissions(apps: Any, using: str) -> None:
    """Django creates permissions after the last migration; a data migration that grants them
    has to create them first (for every app, since the roles span several)."""
    for app_config in apps.get_app_configs():
        # Historical app configs have no models module, and create_permissions skips those.
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True
        try:
            create_permissions(app_config, verbosity=0, using=using, apps=apps)
        finally:
            app_config.models_module = models_module
