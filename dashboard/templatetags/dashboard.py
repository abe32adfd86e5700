"""``{% dashboard_panel %}``: the dashboard above the admin's app list."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import template
from django.urls import reverse

from dashboard.services import (
    QUEUE_INTERVAL_SECONDS,
    SILENT_AFTER_INTERVALS,
    Cause,
    accounts_health,
    failure_causes,
    records_by_state,
)
from dashboard.views import REPROCESS_PERMISSION

register = template.Library()


def cause_links(cause: Cause) -> dict[str, Any]:
    if cause.scope == "record":
        return {"cause": cause,
                "list_url": reverse("admin:staging_inboundrecord_changelist")
                + "?" + urlencode({"cause": cause.key}),
                "reprocess_url": reverse("dashboard_cause_reprocess", args=[cause.key])}
    query = {"account__id__exact": cause.account_id, "kind__exact": cause.kind,
             "state__in": "waiting,failed"}
    return {"cause": cause, "reprocess_url": "",
            "list_url": reverse("admin:staging_outboxmessage_changelist")
            + "?" + urlencode(query)}


@register.inclusion_tag("dashboard/panel.html", takes_context=True)
def dashboard_panel(context: template.Context) -> dict[str, Any]:
    request = context["request"]
    user = request.user
    if not user.has_perm("staging.view_inboundrecord"):
        return {"shown": False}
    return {
        "shown": True,
        "accounts": accounts_health(),
        "chart": records_by_state(),
        "causes": [cause_links(cause) for cause in failure_causes()],
        "can_reprocess": user.has_perm(REPROCESS_PERMISSION),
        "silent_after": SILENT_AFTER_INTERVALS,
        "queue_interval": QUEUE_INTERVAL_SECONDS,
        "csrf_token": context.get("csrf_token"),
    }
