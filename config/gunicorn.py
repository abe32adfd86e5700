"""gunicorn's configuration, one file for every way the portal's web server starts
(``gunicorn --config python:config.gunicorn config.wsgi:application``: docker-compose.yml, the
Dockerfile, ``manage.py runportal``, the bench). Override a value per deployment with
``WEB_CONCURRENCY`` (the number of worker processes) or ``GUNICORN_CMD_ARGS``
(e.g. ``"--threads 8"``), or a flag on the command line.

Why threads: a webhook spends a third of its time or more waiting for PostgreSQL and Redis.
Sync workers leave the core idle during that wait and close the connection after each answer
(the sender reconnects for every webhook); threaded workers keep connections alive and overlap
the waits inside one process. Measured on 2 cores (docs/benchmarks.md), threaded workers (2×4 and
3×4 alike) used the least CPU per webhook of the layouts tried (also sync 3 and 5); more
processes only added contention for the same cores. The default of 2 workers is one per core
of that machine: set ``WEB_CONCURRENCY`` to the cores a deployment has.
"""

from __future__ import annotations

import os

worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = 4

# Every request's line, with the webhook token masked (config/logfilters.py).
accesslog = "-"
logger_class = "config.logfilters.GunicornLogger"
