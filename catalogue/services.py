"""Running the catalogue flows: on demand (admin, command) or when their interval is due, each
as a ``Run`` with progress and, in a dry run, the list of what would change."""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import KeyCrmAccount
from catalogue.models import CatalogueFlow, CatalogueSettings
from catalogue.report import SyncReport
from integration.bas.client import BasClient, BasError
from integration.keycrm.client import KeyCrmClient, KeyCrmError
from integration.pipelines.catalog_to_bas import CatalogueConfigError, catalog_to_bas
from integration.pipelines.catalog_to_keycrm import catalog_to_keycrm
from integration.pipelines.prices_to_keycrm import COST, PRICE, prices_to_keycrm
from runs.models import Run, RunState
from runs.services import run_begin, run_finish, run_progress, run_start
from staging.services.exchanges import exchange_store

logger = logging.getLogger(__name__)

RUN_KIND = "catalogue."  # + the flow, e.g. "catalogue.prices"
# A queued or running run untouched for longer than the run task's hard time limit (1800 s in
# catalogue/tasks.py) has no worker any more: it no longer holds its flow back.
RUN_ALIVE = dt.timedelta(seconds=1800)
# Per flow: its switch, interval and clock on CatalogueSettings.
SCHEDULE = {
    CatalogueFlow.TO_BAS: ("to_bas_enabled", "to_bas_interval", "to_bas_last_run"),
    CatalogueFlow.TO_KEYCRM: ("to_keycrm_enabled", "to_keycrm_interval", "to_keycrm_last_run"),
    CatalogueFlow.PRICES: ("prices_enabled", "prices_interval", "prices_last_run"),
    CatalogueFlow.COST: ("cost_enabled", "cost_interval", "cost_last_run"),
}


class CatalogueRunBusy(Exception):
    """A real run of the same flow and account is queued or running; ``run`` is that run."""

    def __init__(self, run: Run) -> None:
        super().__init__(gettext("%(flow)s is already queued or running for %(account)s.") % {
            "flow": CatalogueFlow(run.kind.removeprefix(RUN_KIND)).label,
            "account": run.account})
        self.run = run


def _active_runs(*, now: dt.datetime) -> QuerySet[Run]:
    """Real catalogue runs that a worker holds or is about to pick up (dry runs write nothing,
    so they never hold a flow back)."""
    return Run.objects.filter(kind__startswith=RUN_KIND, dry_run=False,
                              state__in=(RunState.QUEUED, RunState.RUNNING),
                              updated_at__gte=now - RUN_ALIVE)


def catalogue_run_start(*, account: KeyCrmAccount, flow: str, dry_run: bool = False) -> Run:
    """A queued run of one flow; its clock starts now, so beat does not start it twice.
    Raises ``CatalogueRunBusy`` for a real run while another real run of the flow is queued or
    running: two would write the same elements at once."""
    flow = CatalogueFlow(flow)
    settings, _ = CatalogueSettings.objects.get_or_create(account=account)
    title = (gettext("Dry run: %(flow)s — %(account)s") if dry_run
             else gettext("%(flow)s — %(account)s")) % {"flow": flow.label, "account": account}
    with transaction.atomic():
        if not dry_run:
            # The settings row is the flow's lock (PostgreSQL): a second start waits for the
            # first one's commit and then sees its run.
            CatalogueSettings.objects.select_for_update().filter(pk=settings.pk).first()
            now = timezone.now()
            busy = _active_runs(now=now).filter(account=account, kind=RUN_KIND + flow).first()
            if busy is not None:
                raise CatalogueRunBusy(busy)
            CatalogueSettings.objects.filter(pk=settings.pk).update(**{SCHEDULE[flow][2]: now})
        return run_start(kind=RUN_KIND + flow, title=title, account=account, dry_run=dry_run,
                         queued=True)


def catalogue_flows_due(*, now: dt.datetime | None = None) -> list[tuple[KeyCrmAccount, str]]:
    """(account, flow) pairs of enabled accounts whose interval has passed since they last
    started and that have no real run queued or running."""
    now = now or timezone.now()
    busy = set(_active_runs(now=now).values_list("account_id", "kind"))
    due = []
    for settings in CatalogueSettings.objects.filter(account__enabled=True).select_related(
            "account"):
        for flow, (enabled, interval, last) in SCHEDULE.items():
            started = getattr(settings, last)
            if (settings.account_id, RUN_KIND + flow) in busy:
                continue
            if getattr(settings, enabled) and (
                    started is None
                    or started + dt.timedelta(minutes=getattr(settings, interval)) <= now):
                due.append((settings.account, flow))
    return due


def catalogue_run(*, run_id: int) -> Run:
    """Do a queued run. Idempotent: a run that already finished is returned as it is. Every
    ending is a state of the run with the reason in words; an unexpected error (an unreadable
    secret, the time limit…) fails the run too and is raised again for the worker's log."""
    run = Run.objects.select_related("account").get(pk=run_id)
    if run.state in (RunState.DONE, RunState.FAILED):
        return run
    run_begin(run)
    flow = run.kind.removeprefix(RUN_KIND)
    account = run.account
    try:
        report = _flow(run, account, flow)
    except (CatalogueConfigError, BasError, KeyCrmError) as exc:
        return run_finish(run, state=RunState.FAILED, message=str(exc))
    except Exception as exc:
        # The queue boundary of the flow: the run must not stay "running" for ever.
        logger.exception("Catalogue run %s stopped by an unexpected error", run.pk)
        run_finish(run, state=RunState.FAILED, message=gettext(
            "Stopped by an unexpected error: %(error)s") % {
            "error": str(exc) or type(exc).__name__})
        raise
    run_progress(run, force=True)
    return run_finish(run, message=report.summary(), result=report.as_result())


def _flow(run: Run, account: KeyCrmAccount, flow: str) -> SyncReport:
    settings, _ = CatalogueSettings.objects.get_or_create(account=account)
    if account.bas_connection is None:
        raise CatalogueConfigError(gettext("The account has no BAS connection."))

    def progress(**kwargs: int) -> None:
        run_progress(run, **kwargs)

    bas = BasClient.for_connection(account.bas_connection, observer=exchange_store)
    try:
        if flow == CatalogueFlow.TO_BAS:
            keycrm = KeyCrmClient.for_account(account, observer=exchange_store)
            try:
                return catalog_to_bas(account=account, settings=settings, keycrm=keycrm,
                                      bas=bas, dry_run=run.dry_run, progress=progress)
            finally:
                keycrm.close()
        if flow == CatalogueFlow.TO_KEYCRM:
            return catalog_to_keycrm(account=account, settings=settings, bas=bas,
                                     dry_run=run.dry_run, progress=progress)
        field = PRICE if flow == CatalogueFlow.PRICES else COST
        return prices_to_keycrm(account=account, settings=settings, bas=bas, field=field,
                                dry_run=run.dry_run, progress=progress)
    finally:
        bas.close()


def catalogue_run_now(*, account: KeyCrmAccount, flow: str, dry_run: bool = False) -> Run:
    """Start and do a run in this process (the management command)."""
    with transaction.atomic():
        run = catalogue_run_start(account=account, flow=flow, dry_run=dry_run)
    return catalogue_run(run_id=run.pk)
