"""The admin's "Check BAS payments now" starts a run of the chosen accounts and shows its page;
the run ends visibly whatever stops it; the log is read-only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import KeyCrmAccount
from documents.models import FollowupSettings
from documents.payment_check import bas_payments_check_run, bas_payments_run_start
from documents.tasks import check_bas_payments
from runs.models import Run
from runs.services import run_url
from tests.conftest import KEYCRM_TEST_KEY

pytestmark = pytest.mark.django_db


def test_check_now_queues_a_run_and_opens_its_page(admin_client, keycrm_account):
    settings = FollowupSettings.objects.create(account=keycrm_account, payments_from_bas=True)
    response = admin_client.post(reverse("admin:documents_followupsettings_changelist"), {
        "action": "check_bas_payments_now", "_selected_action": [settings.pk]})
    [run] = Run.objects.all()
    assert response.status_code == 302
    assert response["Location"] == run_url(run)
    assert (run.kind, run.state, run.account_id) == ("payments.from_bas", "queued",
                                                    keycrm_account.pk)
    assert admin_client.get(reverse("admin:documents_documentaction_changelist")
                            ).status_code == 200


def _checking_account(name: str, connection, keycrm) -> KeyCrmAccount:
    account = KeyCrmAccount(name=name, api_base_url=f"{keycrm.url}/v1",
                            bas_connection=connection)
    account.set_api_key(KEYCRM_TEST_KEY)
    account.save()
    FollowupSettings.objects.create(account=account, payments_from_bas=True)
    return account


def test_check_now_with_several_rows_checks_only_those_accounts(
        admin_client, keycrm, bas, bas_connection, django_capture_on_commit_callbacks):
    first, second, _third = (_checking_account(name, bas_connection, keycrm)
                             for name in ("Перший", "Другий", "Третій"))
    chosen = FollowupSettings.objects.filter(account__in=[first, second])
    with django_capture_on_commit_callbacks() as queued:
        admin_client.post(reverse("admin:documents_followupsettings_changelist"), {
            "action": "check_bas_payments_now",
            "_selected_action": [s.pk for s in chosen]})
    [run] = Run.objects.all()
    assert run.title == "BAS payments → KeyCRM: Другий, Перший"
    [send] = queued
    # What the worker runs: the task with the arguments queued for it.
    check_bas_payments(*send.args, **send.keywords)
    run.refresh_from_db()
    assert (run.state, run.total, run.done) == ("done", 2, 2)


def test_an_unexpected_error_ends_the_run_failed_with_the_reason(settings, keycrm_account,
                                                                 bas_connection):
    keycrm_account.bas_connection = bas_connection
    keycrm_account.save()
    FollowupSettings.objects.create(account=keycrm_account, payments_from_bas=True)
    settings.DOCUMENTS_BAS_PAYMENTS_DAYS = 10**8  # a window reaching before year 1
    run = bas_payments_run_start(accounts=[keycrm_account])
    with pytest.raises(OverflowError):
        bas_payments_check_run(run=run)
    run.refresh_from_db()
    assert run.state == "failed"
    assert run.message.startswith("stopped by an unexpected error: OverflowError")
