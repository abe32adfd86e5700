"""The BAS → KeyCRM payments check as a run: one account or every account that switched it
on, with progress on the run's page. (A module of its own: it calls the pipeline, which itself
uses ``documents.services``.)"""

from __future__ import annotations

import logging

from django.utils.translation import gettext as _

from accounts.crypto import SecretUnreadable
from accounts.models import KeyCrmAccount
from documents.models import FollowupSettings
from integration.bas.client import BasClient, BasError
from integration.pipelines.payments_to_keycrm import CheckResult, bas_payments_check
from runs.models import Run, RunState
from runs.services import run_begin, run_finish, run_progress, run_start
from staging.services.exchanges import exchange_store

logger = logging.getLogger(__name__)

RUN_KIND = "payments.from_bas"


def accounts_checking_bas_payments() -> list[KeyCrmAccount]:
    return [s.account for s in FollowupSettings.objects.filter(
        payments_from_bas=True, account__enabled=True,
        account__bas_connection__isnull=False).select_related("account__bas_connection")]


def bas_payments_run_start(*, accounts: list[KeyCrmAccount]) -> Run:
    """A queued run for the admin's "check now" (the chosen accounts; all when none)."""
    who = ", ".join(str(a) for a in accounts) or _("all accounts")
    return run_start(kind=RUN_KIND, title=_("BAS payments → KeyCRM: %(who)s") % {"who": who},
                     account=accounts[0] if len(accounts) == 1 else None, queued=True)


def bas_payments_check_run(*, run: Run | None = None,
                           account_ids: list[int] | None = None) -> list[CheckResult]:
    """Check the chosen accounts (None: every account that switched the check on); record the
    progress in ``run`` when given. A BAS failure of one account does not stop the others;
    anything unexpected (a time limit, a bug) ends the run FAILED with the reason and is
    raised again, so the run never stays "running"."""
    try:
        return _check_accounts(run, account_ids)
    except Exception as exc:  # the run's boundary: it must end visibly, whatever happened
        logger.exception("BAS payments check failed")
        if run is not None and not run.finished:
            run_finish(run, state=RunState.FAILED,
                       message=(_("stopped by an unexpected error: %(error)s") % {
                           "error": f"{type(exc).__name__}: {exc}"})[:2000])
        raise


def _check_accounts(run: Run | None, account_ids: list[int] | None) -> list[CheckResult]:
    accounts = accounts_checking_bas_payments()
    if account_ids is not None:
        accounts = [a for a in accounts if a.pk in set(account_ids)]
    if run is not None:
        run_begin(run, total=len(accounts))
    results, failures = [], []
    for account in accounts:
        try:
            bas = BasClient.for_connection(account.bas_connection, observer=exchange_store)
        except SecretUnreadable as exc:
            failures.append(f"{account}: {exc}")
            continue
        try:
            result = bas_payments_check(account=account, bas=bas)
            results.append(result)
            logger.info("BAS payments of %s: %s", account, result.summary())
        except BasError as exc:
            failures.append(f"{account}: BAS: {exc.message}")
        finally:
            bas.close()
        if run is not None:
            run_progress(run, add=1, message=f"{account}")
    if run is not None:
        summary = "; ".join([*(r.summary() for r in results), *failures]) or \
            _("no account checks BAS payments")
        run_finish(run, state=RunState.FAILED if failures and not results else RunState.DONE,
                   message=summary[:2000])
    return results
