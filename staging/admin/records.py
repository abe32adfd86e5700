"""Admin pages for received records, attempts and the exchange log.

Everything here is read-only: a record is what KeyCRM sent plus what the system made of it,
an exchange is what went over the wire. The one thing an operator does is "Re-process", which
queues records again through the queue's service (the received data is never edited)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, unquote

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import Q, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from dashboard.services import failure_causes, records_of_cause
from runs.services import run_url
from staging.models import Attempt, Exchange, InboundRecord, RecordState
from staging.tasks import (
    REPROCESS_IN_REQUEST_MAX,
    records_reprocess_now,
    records_reprocess_start,
    reprocess_message,
)

EXCHANGES_ON_RECORD = 50

STATE_COLOURS = {
    RecordState.QUEUED: "#6c757d",
    RecordState.PROCESSING: "#0d6efd",
    RecordState.RETRY: "darkorange",
    RecordState.DONE: "green",
    RecordState.WAITING: "#b35900",
    RecordState.FAILED: "red",
    RecordState.DUPLICATE: "#999",
    RecordState.IGNORED: "#999",
}

# What each state means for the person reading the page, and what they can do about it.
STATE_WORDS = {
    RecordState.QUEUED: _("a worker will pick it up shortly."),
    RecordState.PROCESSING: _("a worker is processing it right now."),
    RecordState.RETRY: _("the last attempt failed for a reason that may pass (the network, "
                         "a busy server); it will be tried again by itself."),
    RecordState.DONE: _("the order is in BAS."),
    RecordState.WAITING: _("fix the cause below, then select the record in the list and "
                           "choose “Re-process”."),
    RecordState.FAILED: _("every retry failed; fix the cause below, then select the record "
                          "in the list and choose “Re-process”."),
    RecordState.DUPLICATE: _("a repeat of a record received earlier; there is nothing to do."),
    RecordState.IGNORED: _("not something the portal handles; there is nothing to do."),
}


def state_badge(state: str, label: str) -> str:
    return format_html('<strong style="color:{}">{}</strong>',
                       STATE_COLOURS.get(state, "inherit"), label)


def what_happened_box(*, badge: str, words: Any, not_before: Any, retrying: bool,
                      message: str, extra: str = "") -> str:
    """The box at the top of a record's or an outgoing message's page: its state, what that
    means for the reader, when it is tried again, and what happened last."""
    if retrying and not_before:
        words = format_html("{} {}", words, gettext("Next attempt after %(time)s.") % {
            "time": f"{timezone.localtime(not_before):%Y-%m-%d %H:%M:%S}"})
    if extra:
        words = format_html("{} ({})", words, extra)
    last = format_html('<p style="margin:.5em 0 0">{}</p>', message) if message else ""
    return format_html('<div id="what-happened">{}: {}{}</div>', badge, words, last)


def pre(text: str) -> str:
    return format_html('<pre style="white-space:pre-wrap;max-height:40em;overflow:auto">{}</pre>',
                       text)


def pretty_json(text: str) -> str:
    """A body as indented JSON when it is JSON; verbatim when not (a truncated one is not)."""
    try:
        return json.dumps(json.loads(text), ensure_ascii=False, indent=2)
    except ValueError:
        return text


def readable_url(url: str) -> str:
    """The URL as a person reads it: BAS set names and filters in Cyrillic, not %D0%9D…."""
    return unquote(url)


def exchange_link(exchange: Exchange) -> str:
    url = reverse("admin:staging_exchange_change", args=[exchange.pk])
    return format_html('<a href="{}">{}</a>', url, _("request and response"))


class DeferringChangeList(ChangeList):
    """A list page that leaves the model's big text columns in the database (a list of 100
    records would otherwise read up to 100 webhook bodies and payloads to show none)."""

    deferred: tuple[str, ...] = ()

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet:
        return super().get_queryset(request, exclude_parameters).defer(*self.deferred)


class RecordChangeList(DeferringChangeList):
    deferred = ("body", "payload", "headers")


class ExchangeChangeList(DeferringChangeList):
    deferred = ("request_body", "response_body", "record__body", "record__payload",
                "record__headers")


class CauseFilter(admin.SimpleListFilter):
    """Waiting and failed records by cause, as the dashboard groups them (``?cause=<key>``)."""

    title = _("cause of failure")
    parameter_name = "cause"
    CHOICES_SHOWN = 15

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        causes = failure_causes(limit=self.CHOICES_SHOWN, scopes=("record",))
        choices = [(c.key, f"{c.account_name}: {Truncator(c.text).chars(70)} ({c.count})")
                   for c in causes]
        if self.value() and self.value() not in {key for key, _label in choices}:
            # A cause from a link that is no longer among the most frequent (or is resolved).
            choices.append((self.value(), gettext("the cause in the link")))
        return choices

    def queryset(self, request: HttpRequest,
                 queryset: QuerySet[InboundRecord]) -> QuerySet | None:
        if not self.value():
            return None
        return queryset.filter(pk__in=records_of_cause(key=self.value()).values("pk"))


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class AttemptInline(ReadOnlyInline):
    model = Attempt
    fields = ["started_at", "finished_at", "worker", "outcome_badge", "message"]
    readonly_fields = fields

    @admin.display(description=_("outcome"))
    def outcome_badge(self, obj: Attempt) -> str:
        return state_badge(obj.outcome, obj.get_outcome_display()) if obj.outcome else "—"


class LatestExchangesFormSet(BaseInlineFormSet):
    """Only the newest exchanges: a record retried for a day can have hundreds."""

    def get_queryset(self) -> QuerySet[Exchange]:
        if not hasattr(self, "_latest"):
            self._latest = super().get_queryset().order_by("-created_at", "-id")[
                :EXCHANGES_ON_RECORD]
        return self._latest


class ExchangeInline(ReadOnlyInline):
    model = Exchange
    formset = LatestExchangesFormSet
    verbose_name_plural = _("exchanges with KeyCRM and BAS (the newest 50)")
    fields = ["created_at", "system", "method", "url_readable", "status", "duration_ms",
              "error", "details"]
    readonly_fields = fields

    @admin.display(description=_("URL"))
    def url_readable(self, obj: Exchange) -> str:
        return readable_url(obj.url)

    @admin.display(description=_("details"))
    def details(self, obj: Exchange) -> str:
        return exchange_link(obj)


@admin.register(InboundRecord)
class InboundRecordAdmin(admin.ModelAdmin):
    list_display = ["id", "received_at", "account", "source", "event", "keycrm_order_id",
                    "state_colored", "attempts", "bas_document_number", "short_message"]
    list_display_links = ["id", "received_at"]
    list_filter = ["state", "source", "account", CauseFilter]
    list_select_related = ["account"]
    date_hierarchy = "received_at"
    search_fields = ["keycrm_order_id__exact", "message", "bas_document_number"]
    list_per_page = 100
    show_full_result_count = False
    actions = ["reprocess"]
    inlines = [AttemptInline, ExchangeInline]
    fieldsets = [
        (None, {"fields": ["what_happened", "problem_kind", "attempts", "not_before",
                           "processed_at", "claimed_by"]}),
        (_("Received"), {"fields": ["account", "source", "event", "keycrm_order_id",
                                    "received_at", "order_updated_at", "dedupe_key",
                                    "duplicate_link", "exchanges_link"]}),
        (_("BAS document"), {"fields": ["bas_document_set", "bas_document_number",
                                        "bas_document_ref", "odata_link"]}),
        (_("Payload"), {"fields": ["payload_pretty"]}),
        (_("As received"), {"classes": ["collapse"],
                            "fields": ["body_verbatim", "headers_pretty"]}),
    ]
    readonly_fields = [field for _name, options in fieldsets for field in options["fields"]]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return RecordChangeList

    # What was received is never edited; what the system wrote changes only through the
    # queue. "Re-process" is the operator's one lever.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_reprocess_permission(self, request: HttpRequest) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    @admin.action(description=_("Re-process"), permissions=["reprocess"])
    def reprocess(self, request: HttpRequest,
                  queryset: QuerySet[InboundRecord]) -> HttpResponse | None:
        ids = list(queryset.order_by("id").values_list("id", flat=True))
        who = request.user.get_username()
        if len(ids) > REPROCESS_IN_REQUEST_MAX:
            run = records_reprocess_start(record_ids=ids, who=who)
            self.message_user(request, gettext("%(count)d records are being re-queued in the "
                                               "background; this page shows how far it got.")
                              % {"count": len(ids)}, messages.SUCCESS)
            return HttpResponseRedirect(run_url(run))
        requeued, skipped = records_reprocess_now(record_ids=ids, who=who)
        self.message_user(request, reprocess_message(requeued, skipped),
                          messages.SUCCESS if requeued else messages.WARNING)
        return None

    @admin.display(description=_("state"), ordering="state")
    def state_colored(self, obj: InboundRecord) -> str:
        return state_badge(obj.state, obj.get_state_display())

    @admin.display(description=_("what happened"))
    def short_message(self, obj: InboundRecord) -> str:
        if not obj.message:
            return "—"
        return format_html('<span title="{}">{}</span>', obj.message,
                           Truncator(obj.message).chars(80))

    @admin.display(description=_("what happened"))
    def what_happened(self, obj: InboundRecord) -> str:
        return what_happened_box(
            badge=state_badge(obj.state, obj.get_state_display()),
            words=STATE_WORDS.get(obj.state, ""), not_before=obj.not_before,
            retrying=obj.state == RecordState.RETRY, message=obj.message,
            extra=obj.claimed_by if obj.state == RecordState.PROCESSING else "")

    @admin.display(description=_("a repeat of"))
    def duplicate_link(self, obj: InboundRecord) -> str:
        if obj.duplicate_of_id is None:
            return "—"
        url = reverse("admin:staging_inboundrecord_change", args=[obj.duplicate_of_id])
        return format_html('<a href="{}" id="duplicate-of">{}</a>', url, obj.duplicate_of)

    @admin.display(description=_("exchange log"))
    def exchanges_link(self, obj: InboundRecord) -> str:
        url = reverse("admin:staging_exchange_changelist") + f"?record__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("every exchange of this record"))

    @admin.display(description=_("open in BAS (OData)"))
    def odata_link(self, obj: InboundRecord) -> str:
        if not (obj.bas_document_set and obj.bas_document_ref):
            return "—"
        connection = obj.account.bas_connection
        if connection is None:
            return gettext("The account has no BAS connection now.")
        url = (f"{connection.odata_root}/{obj.bas_document_set}"
               f"(guid'{obj.bas_document_ref}')?$format=json")
        return format_html(
            '<a href="{}" id="odata-link" rel="noreferrer" target="_blank">{}</a><br>'
            "<small>{}</small>", url, url,
            _("Built from the account's current BAS connection; BAS asks for its own login."))

    @admin.display(description=_("payload"))
    def payload_pretty(self, obj: InboundRecord) -> str:
        if obj.payload is None:
            return "—"
        return pre(json.dumps(obj.payload, ensure_ascii=False, indent=2))

    @admin.display(description=_("body as received"))
    def body_verbatim(self, obj: InboundRecord) -> str:
        return pre(obj.body) if obj.body else "—"

    @admin.display(description=_("headers"))
    def headers_pretty(self, obj: InboundRecord) -> str:
        return pre(json.dumps(obj.headers, ensure_ascii=False, indent=2)) if obj.headers else "—"


class ExchangeOutcomeFilter(admin.SimpleListFilter):
    title = _("outcome")
    parameter_name = "outcome"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [("failed", _("failed")), ("succeeded", _("succeeded"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Exchange]) -> QuerySet | None:
        # No status at all means no answer came (the error says why).
        failed = Q(status__gte=400) | Q(status__isnull=True) | ~Q(error="")
        if self.value() == "failed":
            return queryset.filter(failed)
        if self.value() == "succeeded":
            return queryset.exclude(failed)
        return None


@admin.register(Exchange)
class ExchangeAdmin(admin.ModelAdmin):
    list_display = ["created_at", "system", "method", "short_url", "status", "duration_ms",
                    "error", "record_link", "outbox_link"]
    list_filter = ["system", ExchangeOutcomeFilter]
    list_select_related = ["record"]
    date_hierarchy = "created_at"
    search_fields = ["url"]
    list_per_page = 100
    show_full_result_count = False
    fields = ["created_at", "system", "method", "url_readable", "url_as_sent", "status",
              "duration_ms", "error", "record_link", "outbox_link", "request_pretty",
              "response_pretty"]
    readonly_fields = fields

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return ExchangeChangeList

    # The log is written by the clients. Pruning is automatic (prune_exchange_log); a
    # superuser may still delete rows by hand.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.is_superuser

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Exchange],
                           search_term: str) -> tuple[QuerySet[Exchange], bool]:
        # URLs are stored as sent, percent-encoded: "Catalog_Контрагенты" is found as well.
        results, may_have_duplicates = super().get_search_results(request, queryset,
                                                                  search_term)
        encoded = quote(search_term.strip(), safe="!#$%&'()*+,/:;=?@[]~")
        if encoded != search_term.strip():
            results |= queryset.filter(url__icontains=encoded)
        return results, may_have_duplicates

    @admin.display(description=_("URL"), ordering="url")
    def short_url(self, obj: Exchange) -> str:
        url = readable_url(obj.url)
        return format_html('<span title="{}">{}</span>', url, Truncator(url).chars(90))

    @admin.display(description=_("URL"))
    def url_readable(self, obj: Exchange) -> str:
        return readable_url(obj.url)

    @admin.display(description=_("URL as sent"))
    def url_as_sent(self, obj: Exchange) -> str:
        return format_html("<code>{}</code>", obj.url)

    @admin.display(description=_("record"), ordering="record_id")
    def record_link(self, obj: Exchange) -> str:
        if obj.record_id is None:
            return "—"
        url = reverse("admin:staging_inboundrecord_change", args=[obj.record_id])
        return format_html('<a href="{}">{}</a>', url, obj.record)

    @admin.display(description=_("outgoing message"), ordering="outbox_message_id")
    def outbox_link(self, obj: Exchange) -> str:
        if obj.outbox_message_id is None:
            return "—"
        url = reverse("admin:staging_outboxmessage_change", args=[obj.outbox_message_id])
        return format_html('<a href="{}">#{}</a>', url, obj.outbox_message_id)

    @admin.display(description=_("request"))
    def request_pretty(self, obj: Exchange) -> str:
        return pre(pretty_json(obj.request_body)) if obj.request_body else "—"

    @admin.display(description=_("response"))
    def response_pretty(self, obj: Exchange) -> str:
        return pre(pretty_json(obj.response_body)) if obj.response_body else "—"
