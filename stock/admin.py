"""Admin of the stock export: one settings row per KeyCRM account, with what the last runs did.

"Push now" and "Dry run" create a run and hand it to a worker after the commit; with one row
selected the browser goes to the run's page (live progress; a dry run's preview is its result).
The BAS warehouses are picked from the connection's warehouses catalog; when BAS cannot be
read the Ref_Keys can be typed instead.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from integration.bas.client import BasError
from integration.pipelines.stock_to_keycrm import stock_export_unavailable
from runs.services import run_url
from stock.models import PushedStock, StockSettings
from stock.services import stock_push_start, stock_warehouse_choices
from stock.tasks import enqueue_stock_push

MAPPING_HELP = _(
    "A KeyCRM offer gets the balance of the BAS item it is linked to: first the correspondence "
    "register's offer rows (nomenclature and characteristic), then its product rows when the "
    "product has a single offer, then — for items without a characteristic — the item's "
    "Артикул equal to exactly one offer's SKU. Only what changed since KeyCRM last confirmed "
    "a push is sent.")


class StockSettingsForm(forms.ModelForm):
    bas_warehouses = forms.MultipleChoiceField(
        label=_("BAS warehouses"), required=False, widget=forms.CheckboxSelectMultiple,
        help_text=_("Balances of these warehouses are summed."))
    typed_warehouses = forms.CharField(
        label=_("or Ref_Keys"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Only when BAS cannot list its warehouses: Ref_Keys, one per line."))

    class Meta:
        model = StockSettings
        fields = ["account", "enabled", "interval_minutes", "bas_warehouses",
                  "keycrm_warehouse_id", "subtract_reserves", "zero_drop_percent"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        saved = list(self.instance.bas_warehouses or []) if self.instance.pk else []
        choices: list[tuple[str, str]] = []
        account = self.instance.account if self.instance.pk else None
        if account is not None:
            try:
                choices = stock_warehouse_choices(account=account)
            except BasError as exc:
                self.fields["bas_warehouses"].help_text = gettext(
                    "BAS did not list its warehouses (%(error)s); type the Ref_Keys below."
                ) % {"error": exc}
            if account.bas_connection is not None:
                unavailable = stock_export_unavailable(account.bas_connection.configuration)
                if unavailable:
                    self.fields["enabled"].help_text = unavailable
        known = {ref for ref, _name in choices}
        choices += [(ref, ref) for ref in saved if ref not in known]
        self.fields["bas_warehouses"].choices = choices
        self.initial.setdefault("bas_warehouses", saved)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        refs = list(data.get("bas_warehouses") or [])
        for line in (data.get("typed_warehouses") or "").split():
            try:
                refs.append(str(uuid.UUID(line.strip().strip(","))))
            except ValueError:
                self.add_error("typed_warehouses",
                               gettext("“%(value)s” is not a Ref_Key.") % {"value": line})
        data["bas_warehouses"] = list(dict.fromkeys(refs))
        if data.get("enabled") and not data["bas_warehouses"]:
            self.add_error("bas_warehouses", gettext("Choose at least one warehouse."))
        return data


@admin.register(StockSettings)
class StockSettingsAdmin(admin.ModelAdmin):
    form = StockSettingsForm
    list_display = ["account", "enabled", "interval_minutes", "keycrm_warehouse_id",
                    "last_success_at", "last_sent_at", "short_summary", "short_refusal",
                    "short_error"]
    list_filter = ["enabled"]
    list_select_related = ["account"]
    search_fields = ["account__name"]
    autocomplete_fields = ["account"]
    readonly_fields = ["availability", "mapping_rules", "last_run_at", "last_success_at",
                       "last_sent_at", "last_summary", "last_refusal", "last_refusal_at",
                       "last_error", "last_error_at"]
    fieldsets = [
        (None, {"fields": ["account", "availability", "enabled", "interval_minutes",
                           "bas_warehouses", "typed_warehouses", "keycrm_warehouse_id",
                           "subtract_reserves", "zero_drop_percent", "mapping_rules"]}),
        (_("Last runs"), {"fields": ["last_run_at", "last_success_at", "last_sent_at",
                                     "last_summary", "last_refusal", "last_refusal_at",
                                     "last_error", "last_error_at"]}),
    ]
    actions = ["push_now", "dry_run"]

    def get_readonly_fields(self, request: HttpRequest, obj: StockSettings | None = None):
        return [*self.readonly_fields, "account"] if obj else self.readonly_fields

    @admin.display(description=_("available"))
    def availability(self, obj: StockSettings) -> str:
        connection = obj.account.bas_connection if obj.pk else None
        if connection is None:
            return gettext("The account has no BAS connection.") if obj.pk else "—"
        return stock_export_unavailable(connection.configuration) or gettext(
            "Yes: %(configuration)s") % {"configuration": connection.get_configuration_display()}

    @admin.display(description=_("how offers are matched"))
    def mapping_rules(self, obj: StockSettings) -> str:
        return str(MAPPING_HELP)

    @admin.display(description=_("last result"))
    def short_summary(self, obj: StockSettings) -> str:
        return Truncator(obj.last_summary).chars(100)

    @admin.display(description=_("last refusal"))
    def short_refusal(self, obj: StockSettings) -> str:
        return Truncator(obj.last_refusal).chars(100)

    @admin.display(description=_("last error"))
    def short_error(self, obj: StockSettings) -> str:
        return Truncator(obj.last_error).chars(100)

    @admin.action(description=_("Push now"), permissions=["change"])
    def push_now(self, request: HttpRequest, queryset: QuerySet[StockSettings]):
        return self._start(request, queryset, dry_run=False)

    @admin.action(description=_("Dry run (send nothing)"), permissions=["view"])
    def dry_run(self, request: HttpRequest, queryset: QuerySet[StockSettings]):
        return self._start(request, queryset, dry_run=True)

    def _start(self, request: HttpRequest, queryset: QuerySet[StockSettings], *,
               dry_run: bool) -> HttpResponseRedirect | None:
        runs = []
        for row in queryset.select_related("account"):
            run = stock_push_start(account=row.account, dry_run=dry_run)
            enqueue_stock_push(run.pk)
            runs.append(run)
        if len(runs) == 1:
            return HttpResponseRedirect(run_url(runs[0]))
        self.message_user(request, gettext("%(count)d run(s) queued.") % {"count": len(runs)},
                          messages.SUCCESS)
        return None


@admin.register(PushedStock)
class PushedStockAdmin(admin.ModelAdmin):
    list_display = ["account", "keycrm_warehouse_id", "offer_id", "quantity", "pushed_at"]
    list_filter = ["account", "keycrm_warehouse_id"]
    list_select_related = ["account"]
    search_fields = ["=offer_id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
