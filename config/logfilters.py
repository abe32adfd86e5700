"""Logging filters: nothing a log line carries may reveal a secret."""

from __future__ import annotations

import logging
import re

# The webhook address carries the account's token: Django's request logger writes the path of
# every 4xx answer ("Bad Request: /hooks/keycrm/<token>/").
_WEBHOOK_TOKEN = re.compile(r"(/hooks/keycrm/)[^/\s?\"']+")


def mask_webhook_tokens(text: str) -> str:
    return _WEBHOOK_TOKEN.sub(r"\1***", text)


class MaskWebhookTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_webhook_tokens(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(mask_webhook_tokens(a) if isinstance(a, str) else a
                                for a in record.args)
        request = getattr(record, "request", None)
        if request is not None and hasattr(request, "path"):
            record.request = _MaskedRequest(request)
        return True


class _MaskedRequest:
    """The request as a log handler sees it, with the token masked in its path."""

    def __init__(self, request: object) -> None:
        self._request = request

    def __getattr__(self, name: str) -> object:
        value = getattr(self._request, name)
        if name in ("path", "path_info", "get_full_path") and isinstance(value, str):
            return mask_webhook_tokens(value)
        return value

    def __str__(self) -> str:
        return mask_webhook_tokens(str(self._request))


def _gunicorn_logger_class() -> type:
    from gunicorn.glogging import Logger

    class MaskedAccessLogger(Logger):
        """Gunicorn's logs with the webhook token masked: the access log's request line, and
        the error log ("Error handling request /hooks/keycrm/<token>/" on a crash or a
        worker timeout), which does not pass through Django's logging."""

        def setup(self, cfg):
            super().setup(cfg)
            self.error_log.addFilter(MaskWebhookTokens())
            self.access_log.addFilter(MaskWebhookTokens())

        def atoms(self, resp, req, environ, request_time):
            atoms = super().atoms(resp, req, environ, request_time)
            for key in ("r", "U", "q"):
                if isinstance(atoms.get(key), str):
                    atoms[key] = mask_webhook_tokens(atoms[key])
            return atoms

    return MaskedAccessLogger


# ``gunicorn --logger-class config.logfilters.GunicornLogger``
GunicornLogger = _gunicorn_logger_class()
