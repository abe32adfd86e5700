"""Admin for document profiles and field mappings: choose the document from what the base
publishes, read its attributes, start from a preset, map fields, and preview an order."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from accounts.models import KeyCrmAccount
from mappings.admin.widgets import BasPickerInput
from mappings.models import DocumentProfile, FieldMapping, ProfileAttribute, PropertyMapping
from mappings.presets import PRESETS, preset_for_configuration
from mappings.sandbox import FUNCTIONS
from mappings.services.profiles import (
    ProfileError,
    account_metadata,
    document_choices,
    order_fetch,
    profile_apply_preset,
    profile_fill_attributes,
    profile_preview,
    section_choices,
)
from mappings.services.validation import mapping_errors


class FieldMappingForm(forms.ModelForm):
    search_steps = forms.JSONField(
        required=False, label=_("search fields"),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=FieldMapping._meta.get_field("search_steps").help_text)

    class Meta:
        model = FieldMapping
        fields = ["attribute", "kind", "source_path", "directory", "bas_entity_set",
                  "search_steps", "create_if_missing", "expression", "value",
                  "default_value", "position"]
        widgets = {"expression": forms.Textarea(attrs={"rows": 2, "cols": 60})}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for field, message in mapping_errors(
            attribute=data.get("attribute"), kind=data.get("kind", ""),
            source_path=data.get("source_path", ""), directory=data.get("directory", ""),
            bas_entity_set=data.get("bas_entity_set", ""),
            search_steps=data.get("search_steps") or [], expression=data.get("expression", ""),
            value=data.get("value", ""),
        ):
            self.add_error(field if field in self.fields else None, message)
        if data.get("search_steps") is None:
            data["search_steps"] = []
        return data


class FieldMappingInline(admin.TabularInline):
    model = FieldMapping
    form = FieldMappingForm
    extra = 0
    show_change_link = True
    fields = ["position", "attribute", "kind", "source_path", "directory", "bas_entity_set",
              "value", "default_value"]
    ordering = ["position", "id"]

    def get_formset(self, request, obj=None, **kwargs):
        if obj is not None:  # "Pick from BAS…" for fixed references, in the profile's base
            kwargs["widgets"] = {"value": BasPickerInput(
                own_name="value", set_field="bas_entity_set", account=obj.account_id,
                attrs={"size": 24})}
        return super().get_formset(request, obj, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "attribute":
            object_id = request.resolver_match.kwargs.get("object_id")
            kwargs["queryset"] = ProfileAttribute.objects.filter(profile_id=object_id)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class PropertyMappingInline(admin.TabularInline):
    model = PropertyMapping
    extra = 0
    fields = ["position", "section", "property_ref", "property_name", "kind", "source_path",
              "directory", "expression"]
    verbose_name_plural = _("additional deal characteristics (additional properties section)")


class ProfileAttributeInline(admin.TabularInline):
    model = ProfileAttribute
    extra = 0
    can_delete = False
    classes = ["collapse"]
    fields = ["section", "name", "edm_type", "kind"]
    readonly_fields = fields
    verbose_name_plural = _("attributes read from $metadata")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class DocumentProfileForm(forms.ModelForm):
    """The document is chosen from what the account's base publishes; the add page knows the
    account when opened from it (``?account=<id>``)."""

    class Meta:
        model = DocumentProfile
        fields = ["account", "document_set", "lines_section", "post_documents",
                  "order_id_attribute", "order_id_template", "document_script"]
        widgets = {"document_script": forms.Textarea(attrs={"rows": 6, "cols": 80,
                                                            "class": "vLargeTextField"})}

    def clean_order_id_attribute(self) -> str:
        value = self.cleaned_data["order_id_attribute"].strip()
        if not value:
            raise forms.ValidationError(_(
                "Name a text attribute of the document for the KeyCRM order number: without "
                "it, an answer lost on the way back from BAS could make a second document."))
        return value

    def clean_order_id_template(self) -> str:
        value = self.cleaned_data["order_id_template"]
        if "{id}" not in value:
            raise forms.ValidationError(_("The format must contain {id}, e.g. KC-{id}."))
        return value

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        account = self._account()
        if account is None:
            self.fields["document_set"].help_text = _(
                "Choose the account and save: the documents its BAS base publishes are then "
                "offered here.")
            return
        try:
            metadata = account_metadata(account)
        except ProfileError as exc:
            self.fields["document_set"].help_text = _(
                "BAS cannot be asked right now (%(error)s): type the document's name.") % {
                    "error": exc}
            return
        documents = document_choices(metadata)
        self.fields["document_set"] = forms.ChoiceField(
            label=_("BAS document"), choices=[(d, d) for d in documents],
            help_text=_("Documents this base publishes over OData."))
        chosen = self.data.get("document_set") or self.instance.document_set
        sections = section_choices(metadata, chosen) if chosen else []
        self.fields["lines_section"] = forms.ChoiceField(
            label=_("tabular section for order lines"), required=False,
            choices=[("", "—")] + [(s, s) for s in sections],
            help_text=_("Tabular sections of the chosen document (save after choosing the "
                        "document to see them)."))

    def _account(self) -> KeyCrmAccount | None:
        if self.instance.pk:
            return self.instance.account
        raw = self.data.get("account") or self.initial.get("account")
        return KeyCrmAccount.objects.filter(pk=raw).first() if raw else None


@admin.register(DocumentProfile)
class DocumentProfileAdmin(admin.ModelAdmin):
    form = DocumentProfileForm
    inlines = [FieldMappingInline, PropertyMappingInline, ProfileAttributeInline]
    list_display = ["account", "document_set", "lines_section", "post_documents",
                    "attributes_filled_at"]
    list_select_related = ["account"]
    search_fields = ["account__name", "document_set"]
    readonly_fields = ["attributes_filled_at", "expression_help"]
    change_form_template = "admin/mappings/documentprofile/change_form.html"

    def get_readonly_fields(self, request, obj=None):
        # The account is chosen once; a profile belongs to it for good.
        return [*self.readonly_fields, "account"] if obj else self.readonly_fields

    @admin.display(description=_("expressions"))
    def expression_help(self, obj: DocumentProfile) -> str:
        return _("Expressions read order (e.g. order.buyer.full_name), line (the current "
                 "order line), doc (header values so far) and row (this line so far). "
                 "Functions: %(functions)s.") % {"functions": ", ".join(sorted(FUNCTIONS))}

    def get_urls(self):
        def wrap(view):
            return self.admin_site.admin_view(view)

        return [
            path("<int:object_id>/fill/", wrap(self.fill_view),
                 name="mappings_documentprofile_fill"),
            path("<int:object_id>/preset/", wrap(self.preset_view),
                 name="mappings_documentprofile_preset"),
            path("<int:object_id>/preview/", wrap(self.preview_view),
                 name="mappings_documentprofile_preview"),
            *super().get_urls(),
        ]

    def _profile(self, request: HttpRequest, object_id: int) -> DocumentProfile | None:
        profile = get_object_or_404(DocumentProfile, pk=object_id)
        return profile if self.has_change_permission(request, profile) else None

    def _back(self, profile: DocumentProfile) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            reverse("admin:mappings_documentprofile_change", args=[profile.pk]))

    def fill_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        profile = self._profile(request, object_id)
        if profile is None or request.method != "POST":
            return HttpResponseRedirect(reverse("admin:mappings_documentprofile_changelist"))
        try:
            result = profile_fill_attributes(profile=profile)
        except ProfileError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, result.summary(), messages.SUCCESS)
        return self._back(profile)

    def preset_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        profile = self._profile(request, object_id)
        if profile is None or request.method != "POST":
            return HttpResponseRedirect(reverse("admin:mappings_documentprofile_changelist"))
        key = request.POST.get("preset", "")
        try:
            result = profile_apply_preset(account=profile.account, preset_key=key)
        except ProfileError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, result.summary(), messages.SUCCESS)
        return self._back(profile)

    def preview_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        profile = self._profile(request, object_id)
        if profile is None:
            return HttpResponseRedirect(reverse("admin:mappings_documentprofile_changelist"))
        form = PreviewForm(request.POST or None)
        plan, error = None, ""
        if request.method == "POST" and form.is_valid():
            try:
                order = form.cleaned_data["order_json"] or order_fetch(
                    account=profile.account, order_id=form.cleaned_data["order_id"])
                plan = profile_preview(profile=profile, order=order)
            except ProfileError as exc:
                error = str(exc)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta, "original": profile, "title": _("Preview"),
            "form": form, "plan": plan, "error": error,
            "header_rows": sorted(plan.header.items()) if plan else [],
            "line_columns": sorted({c for row in plan.lines for c in row}) if plan else [],
        }
        return TemplateResponse(request, "admin/mappings/documentprofile/preview.html", context)

    def render_change_form(self, request, context, add=False, change=False, form_url="",
                           obj=None):
        context["presets"] = PRESETS.values()
        connection = obj.account.bas_connection if obj else None
        suggested = preset_for_configuration(connection.configuration) if connection else None
        context["suggested_preset"] = suggested.key if suggested else ""
        return super().render_change_form(request, context, add, change, form_url, obj)


class PreviewForm(forms.Form):
    order_id = forms.IntegerField(label=_("KeyCRM order id"), required=False, min_value=1,
                                  help_text=_("Fetched from KeyCRM with everything accounting "
                                              "needs."))
    order_json = forms.CharField(
        label=_("…or the order as JSON"), required=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
        help_text=_("As GET /order/{id}?include=… returns it."))

    def clean_order_json(self) -> dict[str, Any] | None:
        text = self.cleaned_data["order_json"].strip()
        if not text:
            return None
        try:
            order = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(_("This is not valid JSON: %(error)s") % {
                "error": exc}) from exc
        if not isinstance(order, dict):
            raise forms.ValidationError(_("The pasted order must be a JSON object."))
        return order

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("order_id") and not data.get("order_json") and not self.errors:
            raise forms.ValidationError(_("Give an order id or paste an order."))
        return data


@admin.register(FieldMapping)
class FieldMappingAdmin(admin.ModelAdmin):
    form = FieldMappingForm
    list_display = ["attribute", "kind", "source_path", "profile", "position"]
    list_filter = ["kind", "profile"]
    list_select_related = ["attribute", "profile__account"]
    search_fields = ["attribute__name", "source_path", "expression"]

    def get_model_perms(self, request):
        return {}  # edited from its profile; reachable through the profile's inline links

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "attribute":
            object_id = request.resolver_match.kwargs.get("object_id")
            mapping = FieldMapping.objects.filter(pk=object_id).first() if object_id else None
            if mapping:
                kwargs["queryset"] = ProfileAttribute.objects.filter(profile=mapping.profile)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

