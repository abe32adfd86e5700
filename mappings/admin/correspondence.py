"""Admin pages for the correspondence register and the status correspondence.

Both import and export CSV/XLSX through django-import-export, matching rows by their natural keys
(the account by name), so a sheet edited in a spreadsheet updates rows instead of duplicating
them. The register's list page also carries "Export configuration" and "Import configuration":
the whole portal configuration as one JSON document (``mappings.services.transfer``).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from import_export import fields, resources, widgets
from import_export.admin import ImportExportModelAdmin

from accounts.models import KeyCrmAccount
from mappings.admin.widgets import BasPickerInput
from mappings.models import Correspondence, DirectoryEntry, KeyCrmDirectory, StatusCorrespondence
from mappings.services.transfer import (
    KINDS,
    ConfigurationFileError,
    configuration_dumps,
    configuration_export,
    configuration_import,
    configuration_loads,
)

# A configuration of a few accounts is kilobytes; a register with every buyer and order linked
# may reach megabytes. Anything far beyond is not a configuration file.
MAX_CONFIGURATION_BYTES = 50 * 1024 * 1024


class _BlankIsNull(widgets.Widget):
    """An empty cell of a nullable column is "none", not the text "" (which no UUID is)."""

    def clean(self, value, row=None, **kwargs):
        if value is None or not str(value).strip():
            return None
        return str(value).strip()


class _AccountByName(resources.ModelResource):
    account = fields.Field(attribute="account", column_name="account",
                           widget=widgets.ForeignKeyWidget(KeyCrmAccount, field="name"))


class CorrespondenceResource(_AccountByName):
    bas_characteristic_ref = fields.Field(attribute="bas_characteristic_ref",
                                          column_name="bas_characteristic_ref",
                                          widget=_BlankIsNull())

    class Meta:
        model = Correspondence
        fields = ("account", "directory", "keycrm_id", "bas_entity_set", "bas_ref",
                  "bas_characteristic_ref", "bas_presentation", "origin", "note")
        export_order = fields
        import_id_fields = ("account", "directory", "keycrm_id")
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = True


class StatusCorrespondenceResource(_AccountByName):
    class Meta:
        model = StatusCorrespondence
        fields = ("account", "keycrm_status_id", "keycrm_status_name", "bas_value",
                  "bas_entity_set", "bas_presentation")
        export_order = fields
        import_id_fields = ("account", "keycrm_status_id")
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = True


class ConfigurationImportForm(forms.Form):
    file = forms.FileField(
        label=_("configuration file"),
        help_text=_("JSON or YAML written by “Export configuration” or "
                    "“manage.py config_export”."))
    replace = forms.BooleanField(
        label=_("replace"), required=False,
        help_text=_("Also delete the attributes, field mappings, statuses and correspondences "
                    "of the file's accounts that the file does not list."))
    dry_run = forms.BooleanField(
        label=_("dry run"), required=False, initial=True,
        help_text=_("Only show what would change; nothing is saved."))

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_CONFIGURATION_BYTES:
            raise forms.ValidationError(_("The file is larger than %(size)d MB.")
                                        % {"size": MAX_CONFIGURATION_BYTES // 1024 // 1024})
        return upload


EXPORT_PERMISSION = "api.export_configuration"


def _may_import(request: HttpRequest, *, replace: bool) -> bool:
    # The import writes every kind of row, so it needs the rights to add and change all of
    # them (and to delete, when replacing), not only the register's.
    actions = ("add", "change", "delete") if replace else ("add", "change")
    perms = [f"{model._meta.app_label}.{action}_{model._meta.model_name}"
             for model in KINDS.values() for action in actions]
    return request.user.has_perms(perms)


class CorrespondenceForm(forms.ModelForm):
    class Meta:
        model = Correspondence
        fields = ["account", "directory", "keycrm_id", "bas_entity_set", "bas_ref",
                  "bas_characteristic_ref", "bas_presentation", "origin", "note"]
        widgets = {"bas_ref": BasPickerInput(own_name="bas_ref", set_field="bas_entity_set",
                                             account_field="account",
                                             name_field="bas_presentation")}


class StatusCorrespondenceForm(forms.ModelForm):
    """The KeyCRM status is picked from the account's mirrored statuses (when synced), the BAS
    state from the base itself."""

    class Meta:
        model = StatusCorrespondence
        fields = ["account", "keycrm_status_id", "keycrm_status_name", "bas_entity_set",
                  "bas_value", "bas_presentation"]
        widgets = {"bas_value": BasPickerInput(own_name="bas_value",
                                               set_field="bas_entity_set",
                                               account_field="account",
                                               name_field="bas_presentation")}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.fields:
            return  # the read-only page of someone who may only look: no field to prepare
        statuses = DirectoryEntry.objects.filter(directory=KeyCrmDirectory.ORDER_STATUS,
                                                 is_active=True).select_related("account")
        if statuses:
            self.fields["keycrm_status_id"] = forms.TypedChoiceField(
                label=_("KeyCRM status"), coerce=int,
                choices=[("", "—")] + [(s.keycrm_id, f"{s.account}: {s.name} (#{s.keycrm_id})")
                                       for s in statuses],
                help_text=_("From the last sync of the account's KeyCRM directories."))
            self.fields["keycrm_status_name"].required = False
        self.fields["bas_entity_set"].initial = "Catalog_СостоянияЗаказовПокупателей"

    def clean(self):
        data = super().clean()
        if data.get("account") and data.get("keycrm_status_id") and \
                not data.get("keycrm_status_name"):
            data["keycrm_status_name"] = DirectoryEntry.objects.filter(
                account=data["account"], directory=KeyCrmDirectory.ORDER_STATUS,
                keycrm_id=data["keycrm_status_id"]).values_list("name", flat=True).first() or ""
        return data


@admin.register(Correspondence)
class CorrespondenceAdmin(ImportExportModelAdmin):
    form = CorrespondenceForm
    resource_classes = [CorrespondenceResource]
    import_export_change_list_template = "admin/mappings/correspondence_change_list.html"
    list_display = ["account", "directory", "keycrm_id", "bas_presentation", "bas_entity_set",
                    "bas_ref", "origin", "updated_at"]
    list_display_links = ["directory", "keycrm_id"]
    list_filter = ["account", "directory", "origin"]
    list_select_related = ["account"]
    search_fields = ["keycrm_id__exact", "bas_presentation", "bas_entity_set", "bas_ref", "note"]
    readonly_fields = ["created_at", "updated_at"]

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        return [
            path("configuration/export/",
                 self.admin_site.admin_view(self.export_configuration_view),
                 name="{}_{}_configuration_export".format(*info)),
            path("configuration/import/",
                 self.admin_site.admin_view(self.import_configuration_view),
                 name="{}_{}_configuration_import".format(*info)),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra_context = {**(extra_context or {}),
                         "may_export_configuration": request.user.has_perm(EXPORT_PERMISSION),
                         "may_import_configuration": self.has_change_permission(request)}
        return super().changelist_view(request, extra_context)

    def export_configuration_view(self, request: HttpRequest) -> HttpResponse:
        # Reading the configuration is the operator's right too, as in the API
        # (GET /api/v1/configuration/); the export holds no secret.
        if not request.user.has_perm(EXPORT_PERMISSION):
            raise PermissionDenied
        text = configuration_dumps(configuration_export())
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
        response = HttpResponse(text, content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="keycrm-bas-configuration-{stamp}.json"')
        return response

    def import_configuration_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        form = ConfigurationImportForm(request.POST or None, request.FILES or None)
        result = None
        if request.method == "POST" and form.is_valid():
            replace = form.cleaned_data["replace"]
            dry_run = form.cleaned_data["dry_run"]
            if not _may_import(request, replace=replace):
                self.message_user(request, _(
                    "You may not import a configuration: it needs the rights to add and "
                    "change accounts, connections, profiles and mappings (and to delete them, "
                    "to replace)."), messages.ERROR)
            else:
                try:
                    data = configuration_loads(form.cleaned_data["file"].read())
                    result = configuration_import(data=data, replace=replace, dry_run=dry_run)
                except ConfigurationFileError as exc:
                    self.message_user(
                        request, _("The configuration was not imported. %(reason)s")
                        % {"reason": exc}, messages.ERROR)
                else:
                    self.message_user(request, result.summary(),
                                      messages.INFO if dry_run else messages.SUCCESS)
                    if not dry_run:
                        return HttpResponseRedirect(
                            reverse("admin:mappings_correspondence_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Import configuration"),
            "form": form,
            "result": result,
        }
        return TemplateResponse(request, "admin/mappings/configuration_import.html", context)


@admin.register(StatusCorrespondence)
class StatusCorrespondenceAdmin(ImportExportModelAdmin):
    form = StatusCorrespondenceForm
    resource_classes = [StatusCorrespondenceResource]
    list_display = ["account", "keycrm_status_id", "keycrm_status_name", "bas_presentation",
                    "bas_value", "bas_entity_set"]
    list_display_links = ["keycrm_status_id", "keycrm_status_name"]
    list_filter = ["account"]
    list_select_related = ["account"]
    search_fields = ["keycrm_status_id__exact", "keycrm_status_name", "bas_presentation",
                     "bas_value"]
