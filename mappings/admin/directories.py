"""The KeyCRM directory mirrors: read-only (the sync writes them), with the BAS element each
one is linked to, and the "Sync KeyCRM directories" action for the KeyCRM account admin."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.db.models import CharField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Coalesce, NullIf
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.crypto import SecretUnreadable
from accounts.models import KeyCrmAccount
from mappings.admin.widgets import BasPickerInput
from mappings.models import Correspondence, DirectoryEntry, KeyCrmDirectory
from mappings.services.correspondence import NOMENCLATURE, directory_entry_link_item
from mappings.services.directories import directories_sync

ITEM_DIRECTORIES = (KeyCrmDirectory.PRODUCT, KeyCrmDirectory.OFFER)


class ItemForm(forms.ModelForm):
    """Products and offers carry their BAS "Item": the nomenclature (and, for an offer with
    properties, its characteristic), kept in the correspondence register."""

    item_ref = forms.UUIDField(label=_("BAS item (nomenclature)"), required=False)
    characteristic_ref = forms.UUIDField(label=_("BAS characteristic"), required=False)
    item_name = forms.CharField(label=_("BAS item name"), required=False, max_length=255)

    class Meta:
        model = DirectoryEntry
        fields: list[str] = []


@admin.register(DirectoryEntry)
class DirectoryEntryAdmin(admin.ModelAdmin):
    form = ItemForm
    list_display = ["account", "directory", "keycrm_id", "name", "sku", "bas_item", "is_active",
                    "synced_at"]
    list_display_links = ["keycrm_id", "name"]
    list_filter = ["account", "directory", "is_active"]
    list_select_related = ["account"]
    search_fields = ["name", "sku", "keycrm_id__exact"]
    list_per_page = 100
    show_full_result_count = False  # no second COUNT(*) over 50,000 offers on every search
    fields = ["account", "directory", "keycrm_id", "name", "parent_keycrm_id", "sku",
              "bas_item", "is_active", "synced_at", "raw_data"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[DirectoryEntry]:
        # The linked BAS element, as one subquery of the page's query (no query per row).
        linked = Correspondence.objects.filter(
            account=OuterRef("account"), directory=OuterRef("directory"),
            keycrm_id=OuterRef("keycrm_id"),
        ).annotate(
            shown=Coalesce(NullIf("bas_presentation", Value("")),
                           Cast("bas_ref", output_field=CharField())),
        ).values("shown")[:1]
        return super().get_queryset(request).annotate(bas_item_name=Subquery(linked))

    # A mirror of KeyCRM: nobody adds, edits or deletes its rows by hand.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Only the Item of products and offers is edited here; everything else is read-only.
        if obj is None:
            return super().has_change_permission(request)
        return obj.directory in ITEM_DIRECTORIES and super().has_change_permission(request, obj)

    def get_fields(self, request: HttpRequest, obj: DirectoryEntry | None = None):
        if obj is not None and obj.directory in ITEM_DIRECTORIES:
            return [*self.fields[:6], "item_ref", "characteristic_ref", "item_name",
                    *self.fields[6:]]
        return self.fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None and obj.directory in ITEM_DIRECTORIES:
            link = Correspondence.objects.filter(account=obj.account, directory=obj.directory,
                                                 keycrm_id=obj.keycrm_id).first()
            form.base_fields["item_ref"].initial = link.bas_ref if link else None
            form.base_fields["characteristic_ref"].initial = (
                link.bas_characteristic_ref if link else None)
            form.base_fields["item_name"].initial = link.bas_presentation if link else ""
            form.base_fields["item_ref"].widget = BasPickerInput(
                own_name="item_ref", account=obj.account_id, name_field="item_name",
                attrs={"data-set": NOMENCLATURE})
            form.base_fields["characteristic_ref"].widget = BasPickerInput(
                own_name="characteristic_ref", account=obj.account_id,
                attrs={"data-set": "Catalog_ХарактеристикиНоменклатуры"})
        return form

    def save_model(self, request, obj, form, change) -> None:
        directory_entry_link_item(entry=obj, nomenclature_ref=form.cleaned_data["item_ref"],
                                  characteristic_ref=form.cleaned_data["characteristic_ref"],
                                  presentation=form.cleaned_data["item_name"])

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description=_("linked BAS element"), ordering="bas_item_name")
    def bas_item(self, obj: DirectoryEntry) -> str:
        return getattr(obj, "bas_item_name", None) or "—"

    @admin.display(description=_("as KeyCRM sent it"))
    def raw_data(self, obj: DirectoryEntry) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.data, ensure_ascii=False, indent=2))


@admin.action(description=_("Sync KeyCRM directories"))
def sync_directories_action(modeladmin: admin.ModelAdmin, request: HttpRequest,
                            queryset: QuerySet[KeyCrmAccount]) -> None:
    """For ``KeyCrmAccountAdmin.actions``: refresh the selected accounts' directory mirrors now
    and report per account."""
    for account in queryset:
        try:
            result = directories_sync(account=account)
        except SecretUnreadable as exc:
            modeladmin.message_user(request, f"{account}: {exc}", messages.ERROR)
            continue
        if result.succeeded:
            modeladmin.message_user(
                request, f"{account}: {result.summary(with_failures=False)}",
                messages.SUCCESS if result.ok else messages.WARNING)
        for counts in result.failed:
            modeladmin.message_user(request, f"{account}: {counts.describe()}", messages.ERROR)
