"""The admin's "Check BAS payments now" starts a run and shows its page; the log is read-only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from documents.models import FollowupSettings
from runs.models import Run
from runs.services import run_url

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
