"""The one place that speaks HTTP (and the only module that imports ``requests``).

Both clients send through ``HttpTransport.send``, which fixes what every call to an external
system must have: explicit timeouts, a fixed User-Agent, no redirects, and a clear answer to the
question a retry depends on — did the request reach the server?

* ``TransportError(sent=False)``: the connection was never made; repeating is always safe.
* ``TransportError(sent=True)``: the request went out and no answer came back (timeout, the
  peer closed the socket). For a write the outcome is unknown: the caller must find out whether
  it happened before writing again.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
from django.utils.translation import gettext
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

USER_AGENT = "keycrm-bas-portal/0.1 (+https://github.com/; integration portal)"
MAX_LOGGED_BODY = 4000


class TransportError(Exception):
    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


@dataclasses.dataclass
class Exchange:
    """One request and its answer, as an operator would want to read it later. Secrets are
    already masked; bodies are truncated."""

    system: str
    method: str
    url: str
    request_body: str
    status: int | None
    response_body: str
    duration_ms: float
    error: str = ""


@dataclasses.dataclass
class RawResponse:
    status: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").lower()

    def text(self, limit: int | None = None) -> str:
        text = self.content.decode("utf-8", errors="replace")
        return text if limit is None else text[:limit]


ExchangeObserver = Callable[[Exchange], None]


class HttpTransport:
    def __init__(
        self,
        *,
        system: str,
        connect_timeout: float,
        read_timeout: float,
        observer: ExchangeObserver | None = None,
        secrets: tuple[str, ...] = (),
        pool_size: int = 4,
    ) -> None:
        self.system = system
        self.timeout = (connect_timeout, read_timeout)
        self.observer = observer
        self._secrets = tuple(s for s in secrets if s)
        self.session = requests.Session()
        # No automatic retries below us: whether a retry is safe is decided one level up.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.trust_env = False  # no proxies or .netrc credentials picked up by surprise

    def close(self) -> None:
        self.session.close()

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> RawResponse:
        started = time.monotonic()
        try:
            response = self.session.request(
                method, url, headers=dict(headers or {}), data=body,
                timeout=self.timeout, allow_redirects=False,
            )
        except requests.RequestException as exc:
            sent = _was_sent(exc)
            self._observe(method, url, body, None, b"", started, error=_describe(exc))
            raise TransportError(_describe(exc), sent=sent) from exc
        raw = RawResponse(response.status_code, response.headers, response.content)
        self._observe(method, url, body, raw.status, raw.content, started)
        return raw

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _observe(self, method: str, url: str, body: bytes | None, status: int | None,
                 content: bytes, started: float, error: str = "") -> None:
        if self.observer is None:
            return
        self.observer(
            Exchange(
                system=self.system,
                method=method,
                url=self.mask(url),
                request_body=self.mask(_truncate(body or b"")),
                status=status,
                response_body=self.mask(_truncate(content)),
                duration_ms=round((time.monotonic() - started) * 1000, 1),
                error=error,
            )
        )


def _truncate(data: bytes) -> str:
    text = data[: MAX_LOGGED_BODY * 4].decode("utf-8", errors="replace")
    return text if len(text) <= MAX_LOGGED_BODY else text[:MAX_LOGGED_BODY] + "…"


def _was_sent(exc: requests.RequestException) -> bool:
    """False only when we know the server never got the request."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError):
        reason: Any = exc.args[0] if exc.args else None
        inner = getattr(reason, "reason", reason)
        if isinstance(inner, NewConnectionError) or isinstance(reason, NewConnectionError):
            return False
        return "Failed to resolve" not in str(exc) and "Name or service not known" not in str(exc)
    return True


def _describe(exc: requests.RequestException) -> str:
    text = str(exc)
    if isinstance(exc, requests.ConnectTimeout):
        return gettext("the server did not accept a connection in time")
    if isinstance(exc, requests.ReadTimeout):
        return gettext("the server accepted the request but did not answer in time")
    if "Connection refused" in text:
        return gettext("connection refused: nothing listens at this address and port")
    if "Failed to resolve" in text or "Name or service not known" in text:
        return gettext("the host name cannot be resolved")
    if "RemoteDisconnected" in text or "Connection aborted" in text:
        return gettext("the server closed the connection without answering")
    return text[:300]
