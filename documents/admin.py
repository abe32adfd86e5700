"""Admin pages: payment-method correspondence, payment settings (with "check BAS payments
now"), document rules, and the follow-up log that says why each action ran or did not."""

from __future__ import annotations

import functools

from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.translation import gettext_lazy as _

from documents.models import DocumentAction, DocumentRule, FollowupSettings, PaymentRoute
from documents.payment_check import bas_payments_run_start
from documents.tasks import check_bas_payments
from runs.services import run_url


@admin.register(PaymentRoute)
class PaymentRouteAdmin(admin.ModelAdmin):
    list_display = ("account", "keycrm_payment_method_id", "keycrm_payment_method_name", "kind",
                    "post_documents", "use_for_bas_payments")
    list_filter = ("account", "kind")
    list_select_related = ("account",)
    search_fields = ("keycrm_payment_method_name",)
    autocomplete_fields = ("account",)


@admin.register(FollowupSettings)
class FollowupSettingsAdmin(admin.ModelAdmin):
    list_display = ("account", "payments_to_bas", "payments_from_bas", "fiscal_target")
    list_select_related = ("account",)
    autocomplete_fields = ("account",)
    actions = ("check_bas_payments_now",)
    fieldsets = (
        (None, {"fields": ("account", "payments_to_bas", "payments_from_bas")}),
        (_("Fiscal receipts"), {"fields": ("fiscal_target",)}),
        (_("Fiscal data in the payment document"), {"fields": (
            "fiscal_number_attribute", "fiscal_date_attribute", "fiscal_link_attribute")}),
        (_("Retail receipt (BAS Small Business: Document_ЧекККМ)"), {"fields": (
            "receipt_cash_register_ref", "receipt_store_ref", "receipt_number_attribute",
            "receipt_date_attribute", "receipt_link_attribute", "post_receipts")}),
    )

    @admin.action(description=_("Check BAS payments now"), permissions=["change"])
    def check_bas_payments_now(self, request: HttpRequest,
                               queryset: QuerySet[FollowupSettings]) -> HttpResponse | None:
        accounts = [s.account for s in queryset.select_related("account").order_by("account__name")]
        run = bas_payments_run_start(accounts=accounts)
        transaction.on_commit(functools.partial(
            check_bas_payments.delay, run.pk, account_ids=[a.pk for a in accounts]))
        return HttpResponseRedirect(run_url(run))


@admin.register(DocumentRule)
class DocumentRuleAdmin(admin.ModelAdmin):
    list_display = ("account", "action", "enabled", "keycrm_status_ids", "post_documents")
    list_filter = ("account", "action", "enabled")
    list_select_related = ("account",)
    autocomplete_fields = ("account",)


@admin.register(DocumentAction)
class DocumentActionAdmin(admin.ModelAdmin):
    list_display = ("keycrm_order_id", "action", "trigger", "outcome", "reason",
                    "document_number", "attempts", "updated_at")
    list_filter = ("outcome", "action", "account")
    list_select_related = ("account",)
    search_fields = ("=keycrm_order_id", "reason", "document_number")
    readonly_fields = ("account", "keycrm_order_id", "key", "action", "trigger", "outcome",
                       "reason", "document_set", "document_ref", "document_number", "attempts",
                       "created_at", "updated_at")
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
