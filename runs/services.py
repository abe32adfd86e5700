"""Recording the progress of long work: start, progress (cheap to call per item: writes at most
once a second), finish. The page of a run reads what these store."""

from __future__ import annotations

import time
from typing import Any

from django.urls import reverse
from django.utils import timezone

from accounts.models import KeyCrmAccount
from runs.models import Run, RunState

PROGRESS_WRITE_SECONDS = 1.0  # a run's row is written at most this often while it runs

_last_write: dict[int, float] = {}


def run_start(*, kind: str, title: str, account: KeyCrmAccount | None = None,
              total: int | None = None, dry_run: bool = False, queued: bool = False) -> Run:
    """A new run, RUNNING now — or QUEUED when a worker will start it (``run_begin``)."""
    now = timezone.now()
    return Run.objects.create(
        kind=kind, title=title[:255], account=account, total=total, dry_run=dry_run,
        state=RunState.QUEUED if queued else RunState.RUNNING,
        started_at=None if queued else now)


def run_begin(run: Run, *, total: int | None = None) -> Run:
    """A queued run is picked up by a worker."""
    run.state, run.started_at = RunState.RUNNING, timezone.now()
    fields = ["state", "started_at", "updated_at"]
    if total is not None:
        run.total = total
        fields.append("total")
    run.save(update_fields=fields)
    return run


def run_progress(run: Run, *, done: int | None = None, add: int = 0, total: int | None = None,
                 message: str | None = None, force: bool = False) -> None:
    """Move the run forward. Kept in memory on every call, written at most once a second."""
    if done is not None:
        run.done = done
    run.done += add
    if total is not None:
        run.total = total
    if message is not None:
        run.message = message
    now = time.monotonic()
    if not force and now - _last_write.get(run.pk, 0.0) < PROGRESS_WRITE_SECONDS:
        return
    _last_write[run.pk] = now
    Run.objects.filter(pk=run.pk).update(done=run.done, total=run.total, message=run.message,
                                         updated_at=timezone.now())


def run_finish(run: Run, *, state: str = RunState.DONE, message: str = "",
               result: Any = None) -> Run:
    _last_write.pop(run.pk, None)
    run.state, run.finished_at = state, timezone.now()
    if message:
        run.message = message
    if result is not None:
        run.result = result
    if run.started_at is None:
        run.started_at = run.finished_at
    if state == RunState.DONE and run.total is not None and run.done < run.total:
        run.total = run.done  # the work turned out smaller than announced
    run.save()
    return run


def run_url(run: Run) -> str:
    """The admin page that shows the run's progress live."""
    return reverse("admin:runs_run_change", args=[run.pk])


def run_status(run: Run) -> dict[str, Any]:
    """What the progress page polls."""
    rate = run.rate()
    left = run.seconds_left()
    return {
        "id": run.pk, "state": run.state, "state_label": str(run.get_state_display()),
        "done": run.done, "total": run.total, "percent": run.percent(),
        "rate": round(rate, 2) if rate else None,
        "seconds_left": round(left) if left is not None else None,
        "elapsed": round(run.elapsed_seconds()), "message": run.message,
        "finished": run.finished,
    }
