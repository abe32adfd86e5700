"""The one error type of the emulator's protocol layer: it becomes an ``odata.error`` body."""

from __future__ import annotations


class ODataError(Exception):
    """An answer 1C gives as ``{"odata.error": {"code": …, "message": …}}`` (bas-odata.md §7).

    ``code`` is 1C's internal code as a string: "8" entity type not found, "9" instance not
    found, "10" property not found, "13" tabular rows cannot be created directly, "14" query
    option parse error, "19" method not allowed, "-1" an application (BSL) exception, …"""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def business_error(message: str) -> ODataError:
    """What a failed posting or a refused write looks like: 500 with code -1 and the user
    message the configuration's code produced."""
    return ODataError(500, "-1", message)


def not_found(message: str = "Entity instance not found") -> ODataError:
    return ODataError(404, "9", message)
