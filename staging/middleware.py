"""A short way in for KeyCRM's webhooks, past the middleware that only people need."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.utils import translation

from staging.views import WEBHOOK_PREFIX, keycrm_webhook


class WebhookShortcut:
    """Hands a request for the webhook view straight to it.

    Placed right after ``SecurityMiddleware`` (whose redirect to HTTPS and response headers
    still apply), it skips what the webhook has no use for and what costs most of a request's
    time: static files, the session, CSRF (the view is exempt anyway), the user, messages and
    the frame header; the language is chosen as LocaleMiddleware would, without its redirects.
    Everything else, including a path that only looks like the webhook's and does not resolve
    to it, goes down the whole stack as before. Exceptions are answered by Django's handler
    exactly as for any view (a 500, logged with the token masked).
    The view takes care of its own transaction, so ``ATOMIC_REQUESTS`` does not apply here.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(WEBHOOK_PREFIX):
            return self.get_response(request)
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return self.get_response(request)
        if match.func is not keycrm_webhook:
            return self.get_response(request)
        request.resolver_match = match
        # The language LocaleMiddleware would choose (the stored reason of an ignored event is
        # translated), not whatever an earlier request left active in this worker thread.
        translation.activate(translation.get_language_from_request(request))
        request.LANGUAGE_CODE = translation.get_language()
        response = match.func(request, *match.args, **match.kwargs)
        # What CommonMiddleware would add: a length lets the server keep the connection open.
        if not response.streaming and not response.has_header("Content-Length"):
            response.headers["Content-Length"] = str(len(response.content))
        return response
