"""Where a worker's processor time goes while it processes orders: one ``staging_worker`` run
with ``--profile`` (cProfile on CPU time, so waiting for BAS, KeyCRM or the database costs
nothing), its functions' own time summed by the layer they belong to. Profiling slows Python
code more than C code, so the shares are indicative; they are reported next to the measured
CPU per order, not instead of it."""

from __future__ import annotations

import pstats
from pathlib import Path

# (layer, markers in a function's file path), first match wins.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Django ORM: building SQL, making model objects", ("/django/db/",)),
    ("PostgreSQL driver (psycopg)", ("/psycopg/", "/psycopg_binary/", "/psycopg_pool/")),
    ("HTTP client (requests, urllib3, http.client, ssl)",
     ("/requests/", "/urllib3/", "/http/client.py", "/ssl.py", "/socket.py")),
    ("JSON encoding and decoding", ("/json/",)),
    ("Django, other (settings, translation, signals)", ("/django/",)),
    ("mapping engine and sandbox (mappings/)", ("/mappings/",)),
    ("pipelines and clients (integration/)", ("/integration/",)),
    ("staging queue, outbox, exchange log (staging/)", ("/staging/",)),
    ("catalogue, documents, accounts, runs", ("/catalogue/", "/documents/", "/accounts/",
                                              "/runs/")),
)
OTHER = "Python itself and the rest of the standard library"


def cpu_layers(profile_file: Path) -> list[tuple[str, float]]:
    """(layer, share of the profiled CPU time), largest first."""
    stats = pstats.Stats(str(profile_file))
    totals: dict[str, float] = {}
    for (filename, _line, _name), (_cc, _nc, own, _cum, _callers) in stats.stats.items():
        layer = next((name for name, markers in LAYERS
                      if any(marker in filename for marker in markers)), OTHER)
        totals[layer] = totals.get(layer, 0.0) + own
    whole = sum(totals.values()) or 1.0
    return sorted(((layer, own / whole) for layer, own in totals.items()),
                  key=lambda item: -item[1])


def sql_statements(profile_file: Path) -> int:
    """How many statements the worker sent to PostgreSQL (calls of psycopg's execute)."""
    stats = pstats.Stats(str(profile_file))
    return sum(calls for (filename, _line, name), (_cc, calls, *_rest) in stats.stats.items()
               if name in ("execute", "executemany") and "/psycopg/" in filename
               and filename.endswith("cursor.py"))
