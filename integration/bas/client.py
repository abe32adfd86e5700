"""The client for 1C's standard OData interface (``bas-odata.md``), as BAS publishes it.

The traps this module exists to avoid:
* ``+`` is not a space to 1C: query strings are built by hand with ``%20``; Cyrillic paths are
  UTF-8 percent-encoded while OData punctuation (``( ) ' , = /``) stays literal;
* Basic credentials are UTF-8 (Cyrillic logins), which ``requests`` cannot do by itself;
* an HTML page can come back with status 200 (a login page, a wrong URL): we check the type;
* 500 with code −1 is BAS refusing the data (a business error), never retried;
* **a POST is never retried blindly**: when a create or a posting was sent and no answer came,
  the error says ``outcome_unknown``; ``create(..., verify_filter=…)`` then searches for the
  object before it writes again;
* URLs stay under IIS's 2048-byte query limit: key lookups are chunked.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import random
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext

from integration.bas import literals
from integration.bas.metadata import Metadata, MetadataError, parse_metadata
from integration.http import ExchangeObserver, HttpTransport, RawResponse, TransportError

# Punctuation that must reach 1C literally in a resource path.
_PATH_SAFE = "/()',=:$*"
# …and in a query value (everything else, spaces and '+' included, is percent-encoded).
_QUERY_SAFE = "$'(),:/*"
# IIS's default maxQueryString is 2048; keep well under it (bas-odata.md §8.3).
MAX_QUERY_BYTES = 1500
_TITLE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")


class BasErrorKind:
    NETWORK = "network"  # no answer
    AUTH = "auth"  # 401: user refused or lacks rights
    NOT_PUBLISHED = "not_published"  # 404 code 8
    NOT_FOUND = "not_found"  # 404 code 9, or no publication (HTML 404)
    BUSINESS = "business"  # 500 code -1: BAS refused the data
    CONFLICT = "conflict"  # 412: changed since read
    BAD_REQUEST = "bad_request"  # 4xx: our request is wrong
    SERVER = "server"  # 5xx that is not a business error
    NOT_ODATA = "not_odata"  # an HTML (or other) page where OData was expected


class BasError(Exception):
    """A BAS call that did not succeed. ``retryable``: the same call later may succeed.
    ``outcome_unknown``: a write was sent and no answer came back."""

    def __init__(self, message: str, *, kind: str, status: int | None = None,
                 code: str | None = None, retryable: bool = False,
                 outcome_unknown: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.status = status
        self.code = code
        self.retryable = retryable
        self.outcome_unknown = outcome_unknown

    @property
    def business(self) -> bool:
        return self.kind == BasErrorKind.BUSINESS

    def __str__(self) -> str:
        return self.message


@dataclasses.dataclass
class _CachedMetadata:
    fetched_at: float
    metadata: Metadata


# Parsed metadata per (OData root, user) for this process; the raw XML is also kept in the
# Django cache so that a new worker does not fetch megabytes again.
_metadata_cache: dict[tuple[str, str], _CachedMetadata] = {}
_metadata_lock = threading.Lock()


class BasClient:
    def __init__(
        self,
        *,
        publication_url: str,
        username: str,
        password: str,
        timezone: str | ZoneInfo = "Europe/Kyiv",
        timeout: float | None = None,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        observer: ExchangeObserver | None = None,
    ) -> None:
        self.root = publication_url.rstrip("/") + "/odata/standard.odata"
        self.username = username
        self.tz = timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone)
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._auth = f"Basic {token}"
        self.transport = HttpTransport(
            system="bas",
            connect_timeout=settings.HTTP_CONNECT_TIMEOUT_SECONDS,
            read_timeout=timeout or settings.BAS_TIMEOUT_SECONDS,
            observer=observer,
            secrets=(password, token) if password else (),
        )
        self.calls = 0

    @classmethod
    def for_connection(cls, connection: Any, **kwargs: Any) -> BasClient:
        return cls(
            publication_url=connection.publication_url,
            username=connection.username,
            password=connection.get_password(),
            timezone=connection.server_timezone,
            **kwargs,
        )

    def close(self) -> None:
        self.transport.close()

    # --- URLs -------------------------------------------------------------------------------
    def url(self, resource: str, params: Mapping[str, Any] | None = None) -> str:
        """The full URL: path punctuation literal, Cyrillic UTF-8 encoded, spaces as %20."""
        query = {"$format": "json", **(params or {})}
        return f"{self.root}/{quote(resource, safe=_PATH_SAFE)}" + _query(query)

    @staticmethod
    def entity_path(entity_set: str, ref_key: str) -> str:
        return f"{entity_set}({literals.guid(ref_key)})"

    # --- the core ---------------------------------------------------------------------------
    def _call(self, method: str, resource: str, *, params: Mapping[str, Any] | None = None,
              body: Any = None, headers: Mapping[str, str] | None = None,
              expect_json: bool = True) -> Any:
        url = self.url(resource, params)
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        all_headers = {"Authorization": self._auth, "Accept": "application/json",
                       **(headers or {})}
        if data is not None:
            all_headers["Content-Type"] = "application/json;charset=utf-8"
        # POST (create, Post, Unpost) is repeated only if it certainly never left us.
        repeatable = method != "POST"
        attempt = 0
        while True:
            self.calls += 1
            try:
                response = self.transport.send(method, url, headers=all_headers, body=data)
            except TransportError as exc:
                error = BasError(
                    gettext("BAS did not answer %(method)s %(resource)s: %(error)s") % {
                        "method": method, "resource": resource, "error": exc},
                    kind=BasErrorKind.NETWORK, retryable=True,
                    outcome_unknown=exc.sent and method == "POST",
                )
                if (exc.sent and not repeatable) or attempt >= self.max_retries:
                    raise error from exc
            else:
                if response.status < 300 and (
                    not response.content.strip() or "json" in response.content_type
                    or not expect_json
                ):
                    return _decode(response, expect_json)
                error = _error_from_response(method, resource, response, self.username)
                if not (error.retryable and repeatable) or attempt >= self.max_retries:
                    raise error
            time.sleep(self.backoff_base * (2**attempt) * (0.5 + random.random() / 2))  # noqa: S311
            attempt += 1

    # --- discovery ----------------------------------------------------------------------------
    def service_document(self) -> list[str]:
        """Names of every published entity set."""
        body = self._call("GET", "")
        return [item.get("name") or item.get("url") for item in body.get("value", [])]

    def metadata(self, *, refresh: bool = False) -> Metadata:
        """Parsed ``$metadata``, cached per connection for ``BAS_METADATA_CACHE_SECONDS``."""
        key = (self.root, self.username)
        ttl = settings.BAS_METADATA_CACHE_SECONDS
        with _metadata_lock:
            cached = _metadata_cache.get(key)
            if cached and not refresh and time.monotonic() - cached.fetched_at < ttl:
                return cached.metadata
        cache_key = self._metadata_cache_key()
        xml = None if refresh else cache.get(cache_key)
        if xml is None:
            xml = self._call("GET", "$metadata", params={"$format": None},
                             headers={"Accept": "application/xml"}, expect_json=False)
            if not xml.lstrip().startswith(b"<?xml") and b"<edmx:Edmx" not in xml[:500]:
                raise BasError(gettext("BAS answered $metadata with something that is not "
                                       "EDMX"),
                               kind=BasErrorKind.NOT_ODATA)
            cache.set(cache_key, xml, ttl)
        try:
            parsed = parse_metadata(xml)
        except MetadataError as exc:
            raise BasError(str(exc), kind=BasErrorKind.NOT_ODATA) from exc
        with _metadata_lock:
            _metadata_cache[key] = _CachedMetadata(time.monotonic(), parsed)
        return parsed

    def forget_metadata(self) -> None:
        """Drop the cached $metadata (after objects were published or the base updated)."""
        with _metadata_lock:
            _metadata_cache.pop((self.root, self.username), None)
        cache.delete(self._metadata_cache_key())

    def _metadata_cache_key(self) -> str:
        return "bas-metadata:" + hashlib.sha256(f"{self.root}|{self.username}".encode()).hexdigest()

    # --- reading ------------------------------------------------------------------------------
    def list(self, entity_set: str, *, filter: str | None = None,
             select: Sequence[str] | None = None, orderby: str | None = None,
             top: int | None = None, skip: int | None = None,
             expand: Sequence[str] | None = None) -> list[dict[str, Any]]:
        params = {
            "$filter": filter,
            "$select": ",".join(select) if select else None,
            "$orderby": orderby,
            "$top": top,
            "$skip": skip or None,
            "$expand": ",".join(expand) if expand else None,
        }
        return self._call("GET", entity_set, params=params).get("value", [])

    def iterate(self, entity_set: str, *, filter: str | None = None,
                select: Sequence[str] | None = None, orderby: str = "Ref_Key",
                page_size: int = 500) -> Iterator[dict[str, Any]]:
        """Every matching object, one page at a time. ``$skip`` needs a stable ``$orderby``
        or rows get lost between pages."""
        skip = 0
        while True:
            page = self.list(entity_set, filter=filter, select=select, orderby=orderby,
                             top=page_size, skip=skip)
            yield from page
            if len(page) < page_size:
                return
            skip += page_size

    def count(self, entity_set: str, *, filter: str | None = None) -> int:
        text = self._call("GET", f"{entity_set}/$count",
                          params={"$filter": filter, "$format": None},
                          headers={"Accept": "text/plain"}, expect_json=False)
        return int(text.decode("utf-8-sig").strip())

    def get(self, entity_set: str, ref_key: str, *,
            select: Sequence[str] | None = None) -> dict[str, Any]:
        params = {"$select": ",".join(select)} if select else None
        return self._call("GET", self.entity_path(entity_set, ref_key), params=params)

    def get_by_keys(self, entity_set: str, keys: Sequence[str], *,
                    select: Sequence[str] | None = None,
                    key_field: str = "Ref_Key") -> list[dict[str, Any]]:
        """Objects whose ``key_field`` is one of ``keys``, in as few calls as the URL limit
        allows (1C has no ``in``: an ``or`` chain, cut to stay under IIS's limit)."""
        found: list[dict[str, Any]] = []
        for chunk in self._key_chunks(entity_set, list(dict.fromkeys(keys)), select, key_field):
            found.extend(self.list(entity_set, filter=literals.any_of(key_field, chunk),
                                   select=select))
        return found

    def _key_chunks(self, entity_set: str, keys: list[str], select: Sequence[str] | None,
                    key_field: str) -> Iterator[list[str]]:
        chunk: list[str] = []
        for key in keys:
            candidate = [*chunk, literals.guid(key)]
            url = self.url(entity_set, {"$filter": literals.any_of(key_field, candidate),
                                        "$select": ",".join(select) if select else None})
            if chunk and len(url.partition("?")[2]) > MAX_QUERY_BYTES:
                yield chunk
                candidate = [literals.guid(key)]
            chunk = candidate
        if chunk:
            yield chunk

    # --- writing ------------------------------------------------------------------------------
    def create(self, entity_set: str, body: Mapping[str, Any], *,
               verify_filter: str | None = None) -> dict[str, Any]:
        """Create an object; returns it with its new ``Ref_Key``.

        Never repeated blindly. If the POST went out and no answer came, and ``verify_filter``
        names the object uniquely (e.g. the KeyCRM id kept in the document), BAS is searched
        first: one match is the object we created; none means the POST never landed and it is
        sent once more; more than one is an error. Without ``verify_filter`` the error is
        raised with ``outcome_unknown`` for the caller to resolve.
        """
        try:
            return self._call("POST", entity_set, body=dict(body))
        except BasError as exc:
            if not (exc.outcome_unknown and verify_filter):
                raise
            found = self.list(entity_set, filter=verify_filter, top=2)
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise BasError(gettext(
                    "After a lost answer, %(count)d objects in %(set)s match %(filter)s; "
                    "refusing to guess which one is ours") % {
                    "count": len(found), "set": entity_set, "filter": verify_filter},
                    kind=BasErrorKind.CONFLICT) from exc
            return self._call("POST", entity_set, body=dict(body))

    def patch(self, entity_set: str, ref_key: str, body: Mapping[str, Any], *,
              if_match: str | None = None) -> dict[str, Any]:
        """Change the given fields; a tabular section present in ``body`` replaces the whole
        section (send every row). ``if_match``: the DataVersion read before (412 if changed)."""
        headers = {"If-Match": if_match} if if_match else None
        return self._call("PATCH", self.entity_path(entity_set, ref_key), body=dict(body),
                          headers=headers) or {}

    def delete(self, entity_set: str, ref_key: str) -> None:
        """Physical deletion (1C's DELETE does not mark, it erases); prefer ``mark_deleted``."""
        self._call("DELETE", self.entity_path(entity_set, ref_key))

    def mark_deleted(self, entity_set: str, ref_key: str) -> dict[str, Any]:
        return self.patch(entity_set, ref_key, {"DeletionMark": True})

    def post_document(self, entity_set: str, ref_key: str) -> None:
        """Post (non-operational: BAS refuses operational posting of orders and invoices)."""
        self._call("POST", f"{self.entity_path(entity_set, ref_key)}/Post",
                   params={"PostingModeOperational": "false"})

    def unpost_document(self, entity_set: str, ref_key: str) -> None:
        self._call("POST", f"{self.entity_path(entity_set, ref_key)}/Unpost")

    # --- virtual tables -------------------------------------------------------------------------
    def balance(self, register: str, *, period: Any = None, condition: str | None = None,
                dimensions: Sequence[str] | None = None,
                select: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Rows of ``<register>/Balance``: dimensions as ``X_Key``, resources as ``XBalance``."""
        args = self._virtual_args(period=period, condition=condition)
        if dimensions:
            args.append(f"Dimensions={literals.string(','.join(dimensions))}")
        return self._virtual(register, "Balance", args, select)

    def slice_last(self, register: str, *, period: Any = None, condition: str | None = None,
                   select: Sequence[str] | None = None,
                   binding: str | None = None) -> list[dict[str, Any]]:
        """Latest records of a periodic information register. The function is bound to the
        register or, for recorder-subordinate ones, to ``<register>_RecordType``; unless
        ``binding`` says which, ``$metadata`` decides."""
        if binding is None:
            binding = self.metadata().function_binding(register, "SliceLast")
            if binding is None:
                raise BasError(gettext("%(register)s has no SliceLast in this base's "
                                       "$metadata: is the register published?")
                               % {"register": register}, kind=BasErrorKind.NOT_PUBLISHED)
        args = self._virtual_args(period=period, condition=condition)
        return self._virtual(binding, "SliceLast", args, select)

    def _virtual_args(self, *, period: Any, condition: str | None) -> list[str]:
        args = []
        if period is not None:
            args.append(f"Period={literals.datetime(period, self.tz)}")
        if condition:
            # The condition is itself a string literal, so its quotes are doubled.
            args.append(f"Condition={literals.string(condition)}")
        return args

    def _virtual(self, bound_set: str, function: str, args: list[str],
                 select: Sequence[str] | None) -> list[dict[str, Any]]:
        resource = f"{bound_set}/{function}({','.join(args)})"
        params = {"$select": ",".join(select)} if select else None
        return self._call("GET", resource, params=params).get("value", [])

    # --- conversions -----------------------------------------------------------------------------
    def to_bas_datetime(self, value: Any) -> str:
        return literals.to_bas_datetime(value, self.tz)

    def from_bas_datetime(self, value: str | None) -> Any:
        return literals.from_bas_datetime(value, self.tz)


def _query(params: Mapping[str, Any]) -> str:
    parts = [
        f"{quote(str(name), safe='$')}={quote(str(value), safe=_QUERY_SAFE)}"
        for name, value in params.items() if value is not None
    ]
    return "?" + "&".join(parts) if parts else ""


def _decode(response: RawResponse, expect_json: bool) -> Any:
    if not expect_json:
        return response.content
    if not response.content.strip():
        return None
    try:
        return json.loads(response.content)
    except ValueError as exc:
        raise BasError(gettext("BAS answered with invalid JSON"), kind=BasErrorKind.SERVER,
                       status=response.status, retryable=True) from exc


def _error_from_response(method: str, resource: str, response: RawResponse,
                         username: str) -> BasError:
    status = response.status
    what = f"{method} {resource or gettext('service document')}"
    code, text = _odata_error(response)
    if code is None:  # not an OData error body: a web server page or something else
        page = _page_summary(response)
        if status < 300:
            return BasError(gettext(
                "%(request)s: BAS answered with a web page instead of OData (%(page)s). "
                "Usually a login page or a wrong publication URL.") % {
                "request": what, "page": page},
                kind=BasErrorKind.NOT_ODATA, status=status)
        if status == 401:
            return BasError(gettext("%(request)s: the web server refused user “%(user)s” "
                                    "(%(page)s)") % {"request": what, "user": username,
                                                     "page": page},
                            kind=BasErrorKind.AUTH, status=status)
        if status == 404:
            return BasError(gettext(
                "%(request)s: no OData here (HTTP 404, %(page)s). Check the publication URL "
                "and that the standard OData interface is enabled in the publication; a very "
                "long URL is refused the same way by IIS.") % {"request": what, "page": page},
                kind=BasErrorKind.NOT_FOUND,
                status=status)
        return BasError(f"{what}: HTTP {status} ({page})",
                        kind=BasErrorKind.SERVER if status >= 500 else BasErrorKind.BAD_REQUEST,
                        status=status, retryable=status >= 500 or status == 429)
    detail = f"{what}: {text}" if text else what
    if status == 500 and code == "-1":
        return BasError(gettext("BAS refused %(request)s") % {"request": detail},
                        kind=BasErrorKind.BUSINESS, status=status,
                        code=code)
    if status == 401 or code == "20":
        return BasError(gettext("%(request)s — user “%(user)s” is not accepted or lacks the "
                                "rights") % {"request": detail, "user": username},
                        kind=BasErrorKind.AUTH, status=status, code=code)
    if status == 404 and code == "8":
        return BasError(gettext("%(request)s — the object is not published in the standard "
                                "OData interface") % {"request": detail},
                        kind=BasErrorKind.NOT_PUBLISHED, status=status, code=code)
    if status == 404:
        return BasError(detail, kind=BasErrorKind.NOT_FOUND, status=status, code=code)
    if status == 412:
        return BasError(gettext("%(request)s — changed in BAS since it was read")
                        % {"request": detail},
                        kind=BasErrorKind.CONFLICT, status=status, code=code)
    if status >= 500:
        return BasError(detail, kind=BasErrorKind.SERVER, status=status, code=code,
                        retryable=True)
    return BasError(detail, kind=BasErrorKind.BAD_REQUEST, status=status, code=code)


def _odata_error(response: RawResponse) -> tuple[str | None, str]:
    if "json" not in response.content_type:
        return None, ""
    try:
        body = json.loads(response.content)
        error = body["odata.error"]
    except (ValueError, KeyError, TypeError):
        return None, ""
    message = error.get("message")
    text = message.get("value", "") if isinstance(message, dict) else str(message or "")
    return str(error.get("code", "")), text


def _page_summary(response: RawResponse) -> str:
    text = response.text(2000)
    title = _TITLE.search(text)
    summary = title.group(1) if title else _TAGS.sub(" ", text)
    summary = " ".join(summary.split())[:150]
    return summary or (response.content_type or gettext("empty answer"))
