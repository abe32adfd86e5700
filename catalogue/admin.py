"""Admin of the catalogue flows: one settings row per KeyCRM account. Each flow has "run now"
and "dry run" actions: they create a run, hand it to a worker after the commit and, with one
row selected, open the run's page (live progress; a dry run's result lists what would change).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from catalogue.models import CatalogueFlow, CatalogueSettings
from catalogue.services import CatalogueRunBusy, catalogue_run_start
from catalogue.tasks import enqueue_catalogue_run
from runs.services import run_url


class CatalogueSettingsForm(forms.ModelForm):
    class Meta:
        model = CatalogueSettings
        fields = [
            "account", "to_bas_enabled", "to_bas_interval", "offer_mode", "item_type",
            "unit_ref", "category_ref", "vat_rate_ref", "vat_rate", "fill_full_name",
            "to_keycrm_enabled", "to_keycrm_interval", "export_groups", "prices_enabled",
            "prices_interval", "price_type_ref", "cost_enabled", "cost_interval", "cost_source",
            "cost_price_type_ref"]

    def clean_export_groups(self) -> list[str]:
        """A list of group Ref_Keys (bad input is refused here, not halfway through a run)."""
        value = self.cleaned_data.get("export_groups") or []
        if not isinstance(value, list):
            raise forms.ValidationError(gettext("A list of Ref_Keys, e.g. [\"…\"]."))
        try:
            return [str(uuid.UUID(str(ref))) for ref in value]
        except ValueError as exc:
            raise forms.ValidationError(gettext("Not a Ref_Key: %(error)s") % {
                "error": exc}) from exc


def _action(flow: CatalogueFlow, *, dry_run: bool) -> Callable[..., Any]:
    def action(modeladmin: admin.ModelAdmin, request: HttpRequest,
               queryset: QuerySet[CatalogueSettings]) -> HttpResponseRedirect | None:
        runs, busy = [], []
        with transaction.atomic():
            for settings in queryset.select_related("account"):
                try:
                    run = catalogue_run_start(account=settings.account, flow=flow,
                                              dry_run=dry_run)
                except CatalogueRunBusy as exc:
                    busy.append(exc.run)
                    modeladmin.message_user(request, str(exc), messages.WARNING)
                    continue
                enqueue_catalogue_run(run.pk)
                runs.append(run)
        if len(runs) + len(busy) == 1:  # one account: its run's page, the new or the busy one
            return HttpResponseRedirect(run_url((runs or busy)[0]))
        modeladmin.message_user(request, gettext("%(count)d runs started.") % {
            "count": len(runs)}, messages.SUCCESS)
        return None

    verb = _("Dry run") if dry_run else _("Run now")
    action.__name__ = f"{'dry_run' if dry_run else 'run'}_{flow.value}"
    # format_lazy: the label is rendered in the language of each request, not the first one.
    action.short_description = format_lazy(  # type: ignore[attr-defined]
        "{verb}: {label}", verb=verb, label=flow.label)
    # As the stock push's: a dry run changes nothing, so whoever sees the settings may start
    # one; a real run writes to BAS or KeyCRM and needs the right to change them.
    allowed = ("view",) if dry_run else ("change",)
    action.allowed_permissions = allowed  # type: ignore[attr-defined]
    return action


@admin.register(CatalogueSettings)
class CatalogueSettingsAdmin(admin.ModelAdmin):
    form = CatalogueSettingsForm
    list_display = ("account", "to_bas_enabled", "to_keycrm_enabled", "prices_enabled",
                    "cost_enabled", "to_bas_last_run", "prices_last_run")
    list_select_related = ("account",)
    search_fields = ("account__name",)
    autocomplete_fields = ("account",)
    readonly_fields = ("to_bas_last_run", "to_keycrm_last_run", "prices_last_run",
                       "cost_last_run")
    fieldsets = (
        (None, {"fields": ("account",)}),
        (_("Products KeyCRM → BAS"), {"fields": (
            "to_bas_enabled", "to_bas_interval", "offer_mode", "item_type", "unit_ref",
            "category_ref", "vat_rate_ref", "vat_rate", "fill_full_name", "to_bas_last_run")}),
        (_("Products BAS → KeyCRM"), {"fields": (
            "to_keycrm_enabled", "to_keycrm_interval", "export_groups", "to_keycrm_last_run")}),
        (_("Prices and cost price BAS → KeyCRM"), {"fields": (
            "prices_enabled", "prices_interval", "price_type_ref", "prices_last_run",
            "cost_enabled", "cost_interval", "cost_source", "cost_price_type_ref",
            "cost_last_run")}),
    )
    actions = [_action(flow, dry_run=dry) for flow in CatalogueFlow for dry in (False, True)]
