"""The KeyCRM webhook endpoint: authenticate by the token in the URL, store, answer at once."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from staging.services.receive import (
    MAX_WEBHOOK_BYTES,
    WebhookRefused,
    webhook_account,
    webhook_receive,
)
from staging.tasks import enqueue_record

logger = logging.getLogger(__name__)

# Where config/urls.py mounts the view; staging.middleware.WebhookShortcut looks for it.
WEBHOOK_PREFIX = "/hooks/keycrm/"


@csrf_exempt  # KeyCRM cannot send a CSRF token; the URL's token authenticates the caller
@require_POST
def keycrm_webhook(request: HttpRequest, token: str) -> HttpResponse:
    account = webhook_account(token)
    if account is None:
        # The same answer as for any unknown URL: a wrong token reveals nothing.
        return HttpResponse(status=404)
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        logger.warning("webhook for account %s refused: Content-Length %r", account.pk,
                       request.headers.get("Content-Length"))
        return JsonResponse({"error": "Content-Length is not a number"}, status=400)
    if length > MAX_WEBHOOK_BYTES:
        logger.warning("webhook for account %s refused: %s bytes", account.pk, length)
        return JsonResponse({"error": "body too large"}, status=413)
    try:
        stored = webhook_receive(account=account, body=request.body, headers=request.headers)
    except WebhookRefused as exc:
        logger.warning("webhook for account %s refused: %s", account.pk, exc.reason)
        return JsonResponse({"error": exc.reason}, status=exc.status)
    if stored.needs_processing:
        enqueue_record(stored.record.pk)
    return JsonResponse({"record": stored.record.pk, "state": stored.record.state})
