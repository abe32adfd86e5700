"""The webhook token never reaches a log line: Django's request log (refused webhooks) and
gunicorn's access and error logs (which do not pass through Django's logging)."""

from __future__ import annotations

import io
import logging

from gunicorn.config import Config

from config.logfilters import GunicornLogger, mask_webhook_tokens

TOKEN = "s3cr3t-T0ken_value"


def test_the_mask_keeps_the_path_and_hides_only_the_token():
    assert mask_webhook_tokens(f"POST /hooks/keycrm/{TOKEN}/ HTTP/1.1") == \
        "POST /hooks/keycrm/***/ HTTP/1.1"
    assert mask_webhook_tokens("/admin/staging/") == "/admin/staging/"


def test_gunicorn_s_error_log_masks_the_token():
    logger = GunicornLogger(Config())
    stream = io.StringIO()
    logger.error_log.addHandler(logging.StreamHandler(stream))
    logger.error("Error handling request %s", f"/hooks/keycrm/{TOKEN}/")
    logger.exception("Error handling request /hooks/keycrm/%s/", TOKEN)
    assert TOKEN not in stream.getvalue()
    assert "/hooks/keycrm/***/" in stream.getvalue()
