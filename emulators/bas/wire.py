"""How answers look on the wire: JSON (minimal / no / full metadata), a minimal Atom feed for
clients that do not ask for JSON, ``odata.error`` bodies, and the web server's own HTML pages
(404, 404.15 for a too-long query string, 5xx when the cluster is down)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from emulators.common import Response

from .errors import ODataError
from .schema import NAMESPACE

JSON_TYPE = "application/json;odata=minimalmetadata;charset=utf-8"
ATOM_TYPE = "application/atom+xml;type=feed;charset=utf-8"
XML_TYPE = "application/xml;charset=utf-8"
_D = "http://schemas.microsoft.com/ado/2007/08/dataservices"
_M = "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"


@dataclasses.dataclass(frozen=True)
class Format:
    json: bool
    metadata: str = "minimal"  # "minimal", "none", "full"


def negotiate(query: Mapping[str, str], headers: Mapping[str, str]) -> Format:
    """JSON when ``$format`` or ``Accept`` asks for it; Atom otherwise (1C's default)."""
    requested = query.get("$format")
    if requested is not None:
        value = requested.strip().lower()
        if value == "json" or value.startswith("application/json"):
            return Format(True, _verbosity(value))
        if value in ("atom", "xml") or value.startswith(("application/atom+xml",
                                                          "application/xml")):
            return Format(False)
        raise ODataError(406, "3", f"Формат представлення {requested!r} не підтримується")
    accept = headers.get("accept", "").lower()
    if "application/json" in accept:
        return Format(True, _verbosity(accept))
    return Format(False)


def _verbosity(value: str) -> str:
    if "odata=nometadata" in value:
        return "none"
    if "odata=fullmetadata" in value:
        return "full"
    return "minimal"


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return Response(status, body, {"Content-Type": JSON_TYPE, **(headers or {})})


def error_response(error: ODataError, fmt: Format | None,
                   headers: dict[str, str] | None = None) -> Response:
    if fmt is None or fmt.json:
        payload = {"odata.error": {"code": error.code,
                                   "message": {"lang": "uk", "value": error.message}}}
        return json_response(error.status, payload, headers)
    body = (f'<?xml version="1.0" encoding="utf-8"?>\n<m:error xmlns:m="{_M}">'
            f"<m:code>{escape(error.code)}</m:code>"
            f'<m:message xml:lang="uk">{escape(error.message)}</m:message></m:error>')
    return Response(error.status, body.encode("utf-8"), {"Content-Type": XML_TYPE,
                                                           **(headers or {})})


# --- Atom -------------------------------------------------------------------------------------


def _atom_value(name: str, value: Any) -> str:
    tag = f"d:{name}"
    if value is None:
        return f'<{tag} m:null="true"/>'
    if isinstance(value, bool):
        return f'<{tag} m:type="Edm.Boolean">{"true" if value else "false"}</{tag}>'
    if isinstance(value, int | float):
        return f'<{tag} m:type="Edm.Double">{value}</{tag}>'
    if isinstance(value, list):
        items = "".join(f"<d:element>{''.join(_atom_value(k, v) for k, v in row.items())}"
                        "</d:element>" for row in value if isinstance(row, dict))
        return f"<{tag}>{items}</{tag}>"
    return f"<{tag}>{escape(str(value))}</{tag}>"


def _atom_entry(root: str, set_name: str, row: Mapping[str, Any], updated: str) -> str:
    key = row.get("Ref_Key")
    entry_id = f"{root}/{set_name}(guid'{key}')" if key else f"{root}/{set_name}"
    props = "".join(_atom_value(k, v) for k, v in row.items() if not k.startswith("odata."))
    return (f"<entry><id>{escape(entry_id)}</id>"
            f'<category term={quoteattr(f"{NAMESPACE}.{set_name}")} '
            'scheme="http://schemas.microsoft.com/ado/2007/08/dataservices/scheme"/>'
            f"<title/><updated>{updated}</updated><author/>"
            f'<content type="application/xml"><m:properties>{props}</m:properties></content>'
            "</entry>")


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def atom_feed(root: str, set_name: str, rows: Iterable[Mapping[str, Any]],
              count: int | None = None) -> Response:
    updated = _now()
    entries = "".join(_atom_entry(root, set_name, row, updated) for row in rows)
    counted = f"<m:count>{count}</m:count>" if count is not None else ""
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
            f'xmlns:d="{_D}" xmlns:m="{_M}" xml:base={quoteattr(root + "/")}>'
            f"<id>{escape(root)}/{escape(set_name)}</id><title type=\"text\">{escape(set_name)}"
            f"</title><updated>{updated}</updated>{counted}{entries}</feed>")
    return Response(200, body.encode("utf-8"), {"Content-Type": ATOM_TYPE})


def atom_entry(root: str, set_name: str, row: Mapping[str, Any], status: int = 200,
               headers: dict[str, str] | None = None) -> Response:
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            + _atom_entry(root, set_name, row, _now()).replace(
                "<entry>", f'<entry xmlns="http://www.w3.org/2005/Atom" xmlns:d="{_D}" '
                           f'xmlns:m="{_M}" xml:base={quoteattr(root + "/")}>', 1))
    return Response(status, body.encode("utf-8"),
                    {"Content-Type": "application/atom+xml;type=entry;charset=utf-8",
                     **(headers or {})})


def atom_service(root: str, names: Iterable[str]) -> Response:
    collections = "".join(f"<collection href={quoteattr(n)}><atom:title>{escape(n)}"
                          "</atom:title></collection>" for n in names)
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<service xmlns="http://www.w3.org/2007/app" '
            f'xmlns:atom="http://www.w3.org/2005/Atom" xml:base={quoteattr(root + "/")}>'
            f"<workspace><atom:title>Default</atom:title>{collections}</workspace></service>")
    return Response(200, body.encode("utf-8"), {"Content-Type": "application/atomsvc+xml;"
                                                                "charset=utf-8"})


# --- the web server's own pages ---------------------------------------------------------------


def not_found_page() -> Response:
    return Response.html(404, (
        "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>"
        "<title>404 Not Found</title></head><body><h1>Not Found</h1>"
        "<p>The requested URL was not found on this server.</p></body></html>"))


def query_too_long_page() -> Response:
    """IIS request filtering: ``maxQueryString`` (2048 bytes by default) → 404.15."""
    return Response.html(404, (
        "<!DOCTYPE html><html><head><title>IIS 10.0 Detailed Error - 404.15 - Not Found</title>"
        "</head><body><div id=\"content\"><h3>HTTP Error 404.15 - Not Found</h3>"
        "<h4>The request filtering module is configured to deny a request where the query "
        "string is too long.</h4><p>Verify the configuration/system.webServer/security/"
        "requestFiltering/requestLimits@maxQueryString setting.</p></div></body></html>"))


_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
            504: "Gateway Timeout", 429: "Too Many Requests"}


def server_error_page(status: int) -> Response:
    """What a web server in front of a stopped 1C cluster answers: HTML, not odata.error."""
    reason = _REASONS.get(status, "Error")
    return Response.html(status, (
        f"<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head><title>{status} "
        f"{reason}</title></head><body><h1>{reason}</h1><p>The server is temporarily unable "
        "to service your request. Сервер 1С:Підприємства недоступний.</p></body></html>"))
