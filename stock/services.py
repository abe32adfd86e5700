"""Stock export around the pipeline (``integration/pipelines/stock_to_keycrm.py``): which
accounts are due, runs with progress, and the warehouses an operator can pick."""

from __future__ import annotations

import datetime as dt
import logging

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import KeyCrmAccount
from integration.bas.client import BasClient, BasError
from integration.bas.configurations import objects_for
from integration.pipelines.stock_to_keycrm import StockExportError, stock_push
from runs.models import Run, RunState
from runs.services import run_begin, run_finish, run_start
from stock.models import StockSettings

logger = logging.getLogger(__name__)

RUN_KIND = "stock.push"


def stock_due_accounts(*, now: dt.datetime | None = None) -> list[int]:
    """Accounts whose scheduled push is due, each claimed by moving ``last_run_at`` to now with
    a conditional UPDATE: two dispatchers running at once never both get an account."""
    now = now or timezone.now()
    claimed = []
    candidates = StockSettings.objects.filter(enabled=True, account__enabled=True).values_list(
        "pk", "account_id", "interval_minutes", "last_run_at")
    for pk, account_id, interval, last_run_at in candidates:
        if last_run_at is not None and last_run_at + dt.timedelta(minutes=interval) > now:
            continue
        same = Q(last_run_at__isnull=True) if last_run_at is None else Q(last_run_at=last_run_at)
        if StockSettings.objects.filter(same, pk=pk).update(last_run_at=now):
            claimed.append(account_id)
    return claimed


def stock_push_start(*, account: KeyCrmAccount, dry_run: bool = False) -> Run:
    """A queued run for a worker to pick up (``stock_push_run``)."""
    title = _("Stock dry run: %(account)s") if dry_run else _("Stock push: %(account)s")
    return run_start(kind=RUN_KIND, title=title % {"account": account}, account=account,
                     dry_run=dry_run, queued=True)


def stock_push_run(*, run_id: int, worker: str = "stock") -> Run:
    """Do the push a run stands for and finish the run with the pipeline's counts (a dry
    run's preview is its result). A run that already finished is left alone. An unexpected
    error (an unreadable secret, the time limit…) fails the run and is raised again."""
    run = Run.objects.select_related("account").get(pk=run_id)
    if run.finished or run.account is None:
        return run
    run_begin(run)
    try:
        result = stock_push(account=run.account, dry_run=run.dry_run, run=run, worker=worker)
    except (StockExportError, BasError, StockSettings.DoesNotExist) as exc:
        message = (_("The account has no stock export settings.")
                   if isinstance(exc, StockSettings.DoesNotExist) else str(exc))
        return run_finish(run, state=RunState.FAILED, message=message)
    except Exception as exc:
        # The queue boundary of the push: the run must not stay "running" for ever.
        logger.exception("Stock push run %s stopped by an unexpected error", run.pk)
        run_finish(run, state=RunState.FAILED, message=_(
            "Stopped by an unexpected error: %(error)s") % {
            "error": str(exc) or type(exc).__name__})
        raise
    state = RunState.FAILED if result.state == "refused" else RunState.DONE
    return run_finish(run, state=state, message=result.summary, result=result.as_dict())


def stock_warehouse_choices(*, account: KeyCrmAccount) -> list[tuple[str, str]]:
    """(Ref_Key, name) of the warehouses in the account's BAS base. Raises ``BasError``."""
    connection = account.bas_connection
    if connection is None:
        return []
    objects = objects_for(connection.configuration)
    client = BasClient.for_connection(connection)
    try:
        rows = client.iterate(objects.warehouses, select=["Ref_Key", "Description"],
                              filter="DeletionMark eq false")
        return sorted(((str(row["Ref_Key"]), str(row.get("Description") or row["Ref_Key"]))
                       for row in rows), key=lambda choice: choice[1])
    finally:
        client.close()
