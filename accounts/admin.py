"""Admin pages for KeyCRM accounts and BAS connections. Secrets are write-only here: the forms
take a new value and never render the stored one."""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.models import BasConnection, CheckOutcome, KeyCrmAccount
from accounts.services import (
    CheckResult,
    bas_connection_check,
    keycrm_account_check,
    keycrm_account_rotate_webhook_token,
)
from mappings.tasks import RUN_KIND as DIRECTORY_SYNC_RUN
from mappings.tasks import directories_sync_run_start
from runs.services import run_url


def _https_urls(field: models.Field, **kwargs) -> forms.Field | None:
    # A URL typed without a scheme is taken as https (Django 6's default, chosen now).
    if isinstance(field, models.URLField):
        kwargs["assume_scheme"] = "https"
    return field.formfield(**kwargs)


_KEEP = _("Leave empty to keep the stored value; it is never shown again.")


class KeyCrmAccountForm(forms.ModelForm):
    api_key = forms.CharField(
        label=_("API key"), required=False, strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_KEEP,
    )

    class Meta:
        model = KeyCrmAccount
        formfield_callback = _https_urls
        fields = ["name", "api_base_url", "api_key", "requests_per_minute", "bas_connection",
                  "enabled"]

    def clean(self) -> dict:
        data = super().clean()
        if not data.get("api_key") and not self.instance.has_api_key:
            self.add_error("api_key", _("Enter the API key from KeyCRM → Settings → API."))
        return data

    def save(self, commit: bool = True) -> KeyCrmAccount:
        if self.cleaned_data.get("api_key"):
            self.instance.set_api_key(self.cleaned_data["api_key"])
        return super().save(commit)


class BasConnectionForm(forms.ModelForm):
    password = forms.CharField(
        label=_("password"), required=False, strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_KEEP,
    )

    class Meta:
        model = BasConnection
        formfield_callback = _https_urls
        fields = ["name", "publication_url", "configuration", "username", "password",
                  "server_timezone", "enabled"]

    def save(self, commit: bool = True) -> BasConnection:
        if self.cleaned_data.get("password"):
            self.instance.set_password(self.cleaned_data["password"])
        return super().save(commit)


@admin.action(description=_("Sync KeyCRM directories"), permissions=["change"])
def sync_directories_action(modeladmin: admin.ModelAdmin, request: HttpRequest,
                            queryset: QuerySet[KeyCrmAccount]) -> HttpResponse:
    """Refresh the selected accounts' directory mirrors in the background (a big catalogue is
    hundreds of pages) and open the progress page: the run's, or the list of runs for
    several accounts."""
    runs = [directories_sync_run_start(account=account) for account in queryset]
    modeladmin.message_user(request, ngettext(
        "The directory sync of %(count)d account is queued; this page shows its progress.",
        "The directory syncs of %(count)d accounts are queued; each has its progress page.",
        len(runs)) % {"count": len(runs)}, messages.SUCCESS)
    if len(runs) == 1:
        return HttpResponseRedirect(run_url(runs[0]))
    return HttpResponseRedirect(
        reverse("admin:runs_run_changelist") + f"?kind__exact={DIRECTORY_SYNC_RUN}")


def _report(modeladmin: admin.ModelAdmin, request: HttpRequest, obj: object,
            result: CheckResult) -> None:
    level = {CheckOutcome.OK: messages.SUCCESS,
             CheckOutcome.WARNING: messages.WARNING}.get(result.outcome, messages.ERROR)
    modeladmin.message_user(request, f"{obj}: {result.message}", level)


class CheckConnectionMixin:
    """A "Check connection" list action and a button on the change page, both calling the
    same service."""

    change_form_template = "admin/accounts/change_form_with_check.html"
    # A URL typed without a scheme is taken as https (Django 6's default, chosen now).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    run_check: Callable[[object], CheckResult]  # each admin class says which service it calls

    # The same right as the change page's "Check connection" button: the check stores its
    # outcome on the row.
    @admin.action(description=_("Check connection"), permissions=["change"])
    def check_connection(self, request: HttpRequest, queryset) -> None:
        for obj in queryset:
            _report(self, request, obj, self.run_check(obj))

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        return [
            path("<int:object_id>/check/", self.admin_site.admin_view(self.check_view),
                 name="{}_{}_check".format(*info)),
            *super().get_urls(),
        ]

    def check_view(self, request: HttpRequest, object_id: int) -> HttpResponseRedirect:
        obj = get_object_or_404(self.model, pk=object_id)
        if not self.has_change_permission(request, obj):
            messages.error(request, _("You may not check this connection."))
        elif request.method == "POST":
            _report(self, request, obj, self.run_check(obj))
        info = self.model._meta.app_label, self.model._meta.model_name
        return HttpResponseRedirect(reverse("admin:{}_{}_change".format(*info), args=[obj.pk]))

    @admin.display(description=_("last check"), ordering="last_check_at")
    def check_status(self, obj) -> str:
        if not obj.last_check_at:
            return "—"
        colour = {"ok": "green", "warning": "darkorange"}.get(obj.last_check_outcome, "red")
        return format_html('<span style="color:{}" title="{}">{}</span>', colour,
                           obj.last_check_message, obj.get_last_check_outcome_display())


@admin.register(BasConnection)
class BasConnectionAdmin(CheckConnectionMixin, admin.ModelAdmin):
    form = BasConnectionForm
    list_display = ["name", "configuration", "publication_url", "username", "enabled",
                    "check_status"]
    list_filter = ["configuration", "enabled", "last_check_outcome"]
    search_fields = ["name", "publication_url", "username"]
    readonly_fields = ["odata_root", "last_check_at", "last_check_outcome",
                       "last_check_message"]
    actions = ["check_connection"]

    def run_check(self, obj: BasConnection) -> CheckResult:
        return bas_connection_check(connection=obj)

    @admin.display(description=_("OData root"))
    def odata_root(self, obj: BasConnection) -> str:
        return obj.odata_root if obj.pk else "—"


@admin.register(KeyCrmAccount)
class KeyCrmAccountAdmin(CheckConnectionMixin, admin.ModelAdmin):
    form = KeyCrmAccountForm
    list_display = ["name", "api_base_url", "bas_connection", "requests_per_minute", "enabled",
                    "check_status"]
    list_filter = ["enabled", "bas_connection", "last_check_outcome"]
    list_select_related = ["bas_connection"]
    search_fields = ["name", "api_base_url"]
    readonly_fields = ["webhook_url", "profile_link", "last_check_at",
                       "last_check_outcome", "last_check_message"]
    actions = ["check_connection", "rotate_webhook_token", sync_directories_action]

    @admin.display(description=_("document profile"))
    def profile_link(self, obj: KeyCrmAccount) -> str:
        if not obj.pk:
            return "—"
        profile = getattr(obj, "document_profile", None)
        if profile is None:
            url = reverse("admin:mappings_documentprofile_add") + f"?account={obj.pk}"
            return format_html('<a href="{}" id="setup-profile">{}</a>', url,
                               _("Set up: which BAS document its orders become"))
        url = reverse("admin:mappings_documentprofile_change", args=[profile.pk])
        return format_html('<a href="{}" id="open-profile">{}</a>', url, profile.document_set)

    def run_check(self, obj: KeyCrmAccount) -> CheckResult:
        return keycrm_account_check(account=obj)

    @admin.display(description=_("webhook URL"))
    def webhook_url(self, obj: KeyCrmAccount) -> str:
        if not obj.pk:
            return "—"
        return format_html(
            "<code>{}</code><br><small>{}</small>", obj.webhook_path,
            _("Prefix it with the portal's public address and paste it into the KeyCRM "
              "automation trigger “Send webhook” (method POST)."),
        )

    @admin.action(description=_("Rotate webhook token"), permissions=["change"])
    def rotate_webhook_token(self, request: HttpRequest, queryset) -> None:
        for account in queryset:
            keycrm_account_rotate_webhook_token(account=account)
        self.message_user(
            request,
            _("%(count)d webhook token(s) replaced; update the URL in KeyCRM's triggers.")
            % {"count": queryset.count()}, messages.WARNING)
