"""The dashboard's one action: "Re-process these" for a cause. The page itself is the admin's
index (``templates/admin/index.html`` with the ``dashboard_panel`` tag)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from dashboard.services import records_of_cause
from runs.services import run_url
from staging.tasks import (
    REPROCESS_IN_REQUEST_MAX,
    records_reprocess_now,
    records_reprocess_start,
    reprocess_message,
)

REPROCESS_PERMISSION = "staging.change_inboundrecord"


@require_POST
def cause_reprocess(request: HttpRequest, key: str) -> HttpResponseRedirect:
    """Queue again every waiting or failed record of the cause; many of them in a task with a
    progress page. Wrapped by ``admin_view`` (staff login, CSRF) in ``dashboard.urls``."""
    if not request.user.has_perm(REPROCESS_PERMISSION):
        raise PermissionDenied
    ids = list(records_of_cause(key=key).order_by("id").values_list("id", flat=True))
    who = request.user.get_username()
    if not ids:
        messages.warning(request, gettext("No waiting or failed records have this cause any "
                                          "more."))
    elif len(ids) > REPROCESS_IN_REQUEST_MAX:
        run = records_reprocess_start(record_ids=ids, who=who)
        messages.success(request, gettext("%(count)d records are being re-queued in the "
                                          "background; this page shows how far it got.")
                         % {"count": len(ids)})
        return HttpResponseRedirect(run_url(run))
    else:
        requeued, skipped = records_reprocess_now(record_ids=ids, who=who)
        messages.success(request, reprocess_message(requeued, skipped))
    return HttpResponseRedirect(reverse("admin:index"))
