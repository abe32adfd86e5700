"""The outbox in the admin: every write to KeyCRM, why it was made, how it ended, the calls it
took; "Send again" for the ones a person has fixed the cause of."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from staging.admin.records import (
    DeferringChangeList,
    ExchangeInline,
    pre,
    state_badge,
    what_happened_box,
)
from staging.models import Exchange, OutboxMessage, OutboxState
from staging.services.outbox import outbox_requeue
from staging.tasks import enqueue_outbox_message

OUTBOX_WORDS = {
    OutboxState.QUEUED: _("a worker will send it shortly."),
    OutboxState.SENDING: _("a worker is sending it right now."),
    OutboxState.RETRY: _("the last attempt failed for a reason that may pass; it will be sent "
                         "again by itself."),
    OutboxState.SENT: _("KeyCRM accepted it."),
    OutboxState.WAITING: _("KeyCRM refused it or it cannot be sent as it is; fix the cause "
                           "below, then choose “Send again”."),
    OutboxState.FAILED: _("every retry failed; fix the cause below, then choose “Send again”."),
    OutboxState.SUPERSEDED: _("a newer message about the same thing replaced it; there is "
                              "nothing to do."),
}


class OutboxChangeList(DeferringChangeList):
    deferred = ("payload", "result")


class OutboxExchangeInline(ExchangeInline):
    fk_name = "outbox_message"
    model = Exchange


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ["id", "created_at", "account", "kind", "key", "state_colored", "attempts",
                    "sent_at", "short_message"]
    list_display_links = ["id", "created_at"]
    list_filter = ["state", "kind", "account"]
    list_select_related = ["account"]
    date_hierarchy = "created_at"
    search_fields = ["key", "message", "cause"]
    list_per_page = 100
    show_full_result_count = False
    actions = ["send_again"]
    inlines = [OutboxExchangeInline]
    fields = ["what_happened", "account", "kind", "key", "cause", "attempts", "not_before",
              "created_at", "sent_at", "claimed_by", "payload_pretty", "result_pretty"]
    readonly_fields = fields

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return OutboxChangeList

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_send_again_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("staging.change_outboxmessage")

    @admin.action(description=_("Send again"), permissions=["send_again"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        ids = list(queryset.values_list("id", flat=True))
        queued, skipped = outbox_requeue(messages=queryset.only("id", "account_id", "key"),
                                         who=request.user.get_username())
        for message_id in OutboxMessage.objects.filter(
                pk__in=ids, state=OutboxState.QUEUED).values_list("id", flat=True):
            enqueue_outbox_message(message_id)
        self.message_user(
            request,
            gettext("%(queued)d queued to be sent again, %(skipped)d skipped (being sent, "
                    "already waiting, or replaced by a newer message)")
            % {"queued": queued, "skipped": skipped},
            messages.SUCCESS if queued else messages.WARNING)

    @admin.display(description=_("state"), ordering="state")
    def state_colored(self, obj: OutboxMessage) -> str:
        return state_badge(_OUTBOX_AS_RECORD.get(obj.state, obj.state), obj.get_state_display())

    @admin.display(description=_("what happened"))
    def short_message(self, obj: OutboxMessage) -> str:
        text = obj.message or obj.cause
        if not text:
            return "—"
        return format_html('<span title="{}">{}</span>', text, Truncator(text).chars(80))

    @admin.display(description=_("what happened"))
    def what_happened(self, obj: OutboxMessage) -> str:
        return what_happened_box(
            badge=state_badge(_OUTBOX_AS_RECORD.get(obj.state, obj.state),
                              obj.get_state_display()),
            words=OUTBOX_WORDS.get(obj.state, ""), not_before=obj.not_before,
            retrying=obj.state == OutboxState.RETRY, message=obj.message)

    @admin.display(description=_("what to send"))
    def payload_pretty(self, obj: OutboxMessage) -> str:
        return pre(json.dumps(obj.payload, ensure_ascii=False, indent=2))

    @admin.display(description=_("answer kept"))
    def result_pretty(self, obj: OutboxMessage) -> str:
        if obj.result is None:
            return "—"
        return pre(json.dumps(obj.result, ensure_ascii=False, indent=2))


# The outbox's states take the colours of the record states they correspond to.
_OUTBOX_AS_RECORD = {
    OutboxState.SENDING: "processing", OutboxState.SENT: "done",
    OutboxState.SUPERSEDED: "duplicate",
}
