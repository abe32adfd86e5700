"""What both emulators share: a threaded HTTP/1.1 server, a request log, fault injection and a
control API under ``/__emulator__/``.

An emulator is a real HTTP server on loopback. Its protocol handler is a plain function
``handle(request) -> Response``; this module wraps it with the things a test needs from the
outside: faults (latency, a rate of 5xx, 429 storms, a connection dropped after the write was
committed, an HTML page with status 200), a log of every request, and a control API so that
tests running in other processes (Celery workers, benchmarks) can seed, inspect and break it.

Control API (JSON):
    GET    /__emulator__/requests          the request log
    DELETE /__emulator__/requests          clear it
    GET    /__emulator__/faults            the fault plan in force
    PUT    /__emulator__/faults            replace it (fields of ``FaultPlan``)
    GET    /__emulator__/state             the emulator's whole state
    POST   /__emulator__/reset             empty state, no faults, empty log
    POST   /__emulator__/<verb>            anything else is passed to ``control(verb, body)``
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import json
import logging
import random
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

logger = logging.getLogger(__name__)

CONTROL_PREFIX = "/__emulator__/"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclasses.dataclass
class Request:
    method: str
    raw_path: str  # as sent, still percent-encoded
    path: str  # decoded (UTF-8), without the query string
    raw_query: str  # as sent, still percent-encoded
    headers: dict[str, str]  # lower-cased names
    body: bytes

    @property
    def query(self) -> dict[str, str]:
        """Query parameters decoded the RFC 3986 way: ``+`` stays a plus sign.

        1C does not treat ``+`` as a space, and neither do we, so a client that form-encodes
        its ``$filter`` fails here exactly as it fails against a real base.
        """
        pairs = {}
        for part in self.raw_query.split("&"):
            if not part:
                continue
            name, _, value = part.partition("=")
            pairs[unquote(name)] = unquote(value)
        return pairs

    @property
    def form_query(self) -> list[tuple[str, str]]:
        """Query parameters decoded the HTML-form way (``+`` is a space), as a web framework
        such as KeyCRM's would."""
        return parse_qsl(self.raw_query, keep_blank_values=True)

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None


@dataclasses.dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        content_type = {"Content-Type": "application/json;charset=utf-8"}
        return cls(status, body, {**content_type, **(headers or {})})

    @classmethod
    def html(cls, status: int, text: str) -> Response:
        return cls(status, text.encode("utf-8"), {"Content-Type": "text/html; charset=utf-8"})

    @classmethod
    def text(cls, status: int, text: str, content_type: str = "text/plain") -> Response:
        return cls(status, text.encode("utf-8"), {"Content-Type": f"{content_type}; charset=utf-8"})


@dataclasses.dataclass
class FaultPlan:
    """What goes wrong, and how often. Rates are probabilities per request (0..1); counts are
    consumed one per affected request. Control requests are never affected."""

    latency_ms: int = 0  # added to every request
    error_rate: float = 0.0  # answer with ``error_status`` before doing anything
    error_status: int = 500
    error_count: int = 0  # the next N requests fail like error_rate
    storm_429_count: int = 0  # the next N requests get 429 whatever the rate budget says
    drop_after_commit_rate: float = 0.0  # writes: commit, then close the socket, no answer
    drop_after_commit_count: int = 0
    html_200_count: int = 0  # the next N requests get an HTML page with status 200
    only_methods: list[str] = dataclasses.field(default_factory=list)  # empty = all methods
    path_contains: str = ""  # restrict faults to paths containing this text

    def applies_to(self, request: Request) -> bool:
        if self.only_methods and request.method not in self.only_methods:
            return False
        return not self.path_contains or self.path_contains in request.path


class DropConnection(Exception):
    """Raised by the fault layer: the write happened, the answer must never arrive."""


class Emulator(abc.ABC):
    """Base for a protocol emulator. Subclasses implement ``handle`` (the protocol), ``state``,
    ``reset`` and may implement ``control`` (extra control verbs such as ``seed``) and
    ``error_response`` (how this system's injected 5xx looks)."""

    name = "emulator"

    def __init__(self, *, seed: int = 0) -> None:
        self.lock = threading.RLock()
        self.faults = FaultPlan()
        self.request_log: list[dict[str, Any]] = []
        self.random = random.Random(seed)
        # Called with (request, response) for every protocol exchange that got an answer;
        # the contract tests validate both halves against the vendor's OpenAPI document.
        self.observers: list[Callable[[Request, Response], None]] = []

    # --- to implement -------------------------------------------------------------------
    @abc.abstractmethod
    def handle(self, request: Request) -> Response:
        """Answer one protocol request (never a control request)."""

    def state(self) -> dict[str, Any]:
        return {}

    def reset(self) -> None:  # noqa: B027 - an emulator without state has nothing to reset
        pass

    def control(self, verb: str, body: Any) -> Response:
        return Response.json(404, {"error": f"unknown control verb {verb!r}"})

    def error_response(self, status: int) -> Response:
        return Response.json(status, {"message": "Injected server error"})

    # --- machinery ----------------------------------------------------------------------
    def set_faults(self, **fields: Any) -> None:
        with self.lock:
            self.faults = FaultPlan(**fields)

    def clear_log(self) -> None:
        with self.lock:
            self.request_log.clear()

    def requests(self, *, method: str | None = None, path_contains: str = "") -> list[dict]:
        with self.lock:
            return [
                r
                for r in self.request_log
                if (method is None or r["method"] == method) and path_contains in r["path"]
            ]

    def dispatch(self, request: Request) -> Response:
        if request.path.startswith(CONTROL_PREFIX):
            return self._control(request)
        started = time.monotonic()
        entry: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "raw_path": request.raw_path,
            "query": request.raw_query,
            "at": time.time(),
            "authorization": request.headers.get("authorization", ""),
        }
        try:
            response = self._with_faults(request)
        except DropConnection:
            entry.update(status=None, dropped=True, duration_ms=_ms(started))
            self._log(entry)
            raise
        entry.update(status=response.status, duration_ms=_ms(started))
        self._log(entry)
        for observer in list(self.observers):
            observer(request, response)
        return response

    def _log(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.request_log.append(entry)

    def _with_faults(self, request: Request) -> Response:
        plan = self.faults
        applies = plan.applies_to(request)
        if plan.latency_ms and applies:
            time.sleep(plan.latency_ms / 1000)
        if applies:
            with self.lock:
                if plan.storm_429_count > 0:
                    plan.storm_429_count -= 1
                    return self.too_many_requests()
                if plan.html_200_count > 0:
                    plan.html_200_count -= 1
                    return Response.html(200, _LOGIN_PAGE)
                failing = plan.error_count > 0 or (
                    plan.error_rate and self.random.random() < plan.error_rate
                )
                if plan.error_count > 0:
                    plan.error_count -= 1
            if failing:
                return self.error_response(plan.error_status)
        response = self.handle(request)
        if applies and request.method in WRITE_METHODS and response.status < 400:
            with self.lock:
                drop = plan.drop_after_commit_count > 0 or (
                    plan.drop_after_commit_rate
                    and self.random.random() < plan.drop_after_commit_rate
                )
                if plan.drop_after_commit_count > 0:
                    plan.drop_after_commit_count -= 1
            if drop:
                raise DropConnection
        return response

    def too_many_requests(self) -> Response:
        return Response.json(429, {"message": "Too Many Attempts."}, {"Retry-After": "1"})

    def _control(self, request: Request) -> Response:
        verb = request.path[len(CONTROL_PREFIX) :].strip("/")
        body = request.json() if request.body else None
        if verb == "requests":
            if request.method == "DELETE":
                self.clear_log()
                return Response.json(200, {"cleared": True})
            return Response.json(200, self.requests())
        if verb == "faults":
            if request.method == "PUT":
                self.set_faults(**(body or {}))
            return Response.json(200, dataclasses.asdict(self.faults))
        if verb == "state":
            with self.lock:
                return Response.json(200, self.state())
        if verb == "reset":
            with self.lock:
                self.reset()
                self.faults = FaultPlan()
                self.request_log.clear()
            return Response.json(200, {"reset": True})
        with self.lock:
            return self.control(verb, body)


_LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Вхід</title></head>"
    "<body><form><input name='user'><input name='pwd' type='password'></form></body></html>"
)


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 3)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as both real services speak
    # Headers and body go out as separate writes; with Nagle's algorithm on, a keep-alive client
    # waits for the delayed ACK (~40 ms) on every request. TCP_NODELAY removes that stall.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.server.emulator.name, format % args)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        request = Request(
            method=self.command,
            raw_path=split.path,
            path=unquote(split.path, encoding="utf-8", errors="strict"),
            raw_query=split.query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        try:
            response = self.server.emulator.dispatch(request)
        except DropConnection:
            self.close_connection = True
            with contextlib.suppress(OSError):  # the peer may be gone already
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        except Exception:
            logger.exception("emulator %s crashed on %s %s", self.server.emulator.name,
                             self.command, self.path)
            response = Response.text(500, "emulator crashed; see its log")
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)


class EmulatorServer:
    """Runs an emulator on loopback in a background thread (for pytest fixtures) or in the
    foreground (``python -m emulators.keycrm``)."""

    def __init__(self, emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator
        self._server = _Server((host, port), emulator)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"{self.emulator.name}-emulator", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_main(emulator_factory: Callable[[], Emulator], *, default_port: int, argv=None) -> None:
    """Command-line entry point shared by ``python -m emulators.keycrm`` and ``…bas``."""
    import argparse

    parser = argparse.ArgumentParser(description=f"Run the {emulator_factory.__name__} emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--seed-demo", action="store_true", help="load realistic demo data")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    emulator = emulator_factory()
    if args.seed_demo and hasattr(emulator, "seed_demo"):
        emulator.seed_demo()
    server = EmulatorServer(emulator, args.host, args.port)
    print(f"{emulator.name} emulator listening on http://{args.host}:{server.port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
