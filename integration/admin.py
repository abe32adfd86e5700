"""The BAS → KeyCRM check in the admin: its settings per account with "run now", and the
per-document rows it keeps (read only: the system writes them)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from integration.models import BasChangesSettings, BasDocumentState
from integration.tasks import bas_changes_account
from runs.services import run_start, run_url

RUN_KIND = "bas.changes"


@admin.register(BasChangesSettings)
class BasChangesSettingsAdmin(admin.ModelAdmin):
    list_display = ("account", "enabled", "interval_seconds", "lookback_days", "create_orders",
                    "last_started_at", "last_success_at", "short_error")
    list_filter = ("enabled", "create_orders")
    list_select_related = ("account",)
    search_fields = ("account__name",)
    readonly_fields = ("last_started_at", "last_success_at", "last_error", "last_summary")
    fieldsets = (
        (None, {"fields": ("account", "enabled", "interval_seconds", "lookback_days")}),
        (_("Orders made in BAS"), {"fields": ("create_orders", "keycrm_source_id")}),
        (_("Last check"), {"fields": readonly_fields}),
    )
    actions = ("run_now",)

    @admin.display(description=_("last error"))
    def short_error(self, row: BasChangesSettings) -> str:
        return row.last_error[:80]

    @admin.action(description=_("Check BAS for changes now"), permissions=["change"])
    def run_now(self, request: HttpRequest,
                queryset: QuerySet[BasChangesSettings]) -> HttpResponseRedirect | None:
        runs = []
        for row in queryset.select_related("account"):
            with transaction.atomic():
                run = run_start(kind=RUN_KIND, account=row.account, queued=True,
                                title=str(_("BAS changes of %(account)s") % {
                                    "account": row.account}))
                transaction.on_commit(
                    lambda account_id=row.account_id, run_id=run.pk:
                    bas_changes_account.delay(account_id, run_id))
            runs.append(run)
        if len(runs) == 1:
            return HttpResponseRedirect(run_url(runs[0]))
        self.message_user(request, ngettext("%(count)d check queued.",
                                            "%(count)d checks queued.", len(runs))
                          % {"count": len(runs)})
        return None


@admin.register(BasDocumentState)
class BasDocumentStateAdmin(admin.ModelAdmin):
    list_display = ("number", "entity_set", "account", "keycrm_order_id", "state_value",
                    "data_version", "written_by_portal_at", "exported_at", "seen_at")
    list_filter = ("account", "entity_set")
    list_select_related = ("account",)
    search_fields = ("number", "=keycrm_order_id", "=bas_ref")
    date_hierarchy = "updated_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
