"""Catalogue flows as runs: scheduling, on demand with progress, dry runs, the command."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone, translation

from accounts.crypto import SecretUnreadable
from catalogue.admin import CatalogueSettingsAdmin
from catalogue.models import CatalogueFlow
from catalogue.services import (
    CatalogueRunBusy,
    catalogue_flows_due,
    catalogue_run,
    catalogue_run_now,
    catalogue_run_start,
)
from runs.models import Run, RunState
from runs.services import run_url
from tests.catalogue.conftest import bas_writes, seed_keycrm_tree


@pytest.mark.django_db
def test_only_enabled_flows_past_their_interval_are_due(sb_settings) -> None:
    now = timezone.now()
    sb_settings.prices_enabled = True
    sb_settings.prices_interval = 30
    sb_settings.prices_last_run = now - dt.timedelta(minutes=31)
    sb_settings.cost_enabled = True
    sb_settings.cost_interval = 120
    sb_settings.cost_last_run = now - dt.timedelta(minutes=5)
    sb_settings.to_bas_enabled = True  # never ran: due at once
    sb_settings.save()

    due = catalogue_flows_due(now=now)

    assert sorted(flow for _, flow in due) == sorted([CatalogueFlow.PRICES, CatalogueFlow.TO_BAS])


@pytest.mark.django_db
def test_a_run_records_progress_and_result(keycrm, bas, sb_settings) -> None:
    seed_keycrm_tree(keycrm, products=3)

    run = catalogue_run_now(account=sb_settings.account, flow=CatalogueFlow.TO_BAS)

    assert run.state == RunState.DONE, run.message
    assert (run.done, run.total) == (3 + 9, 3 + 9)
    assert run.result["created"] == 20 + 3 + 9
    sb_settings.refresh_from_db()
    assert sb_settings.to_bas_last_run is not None


@pytest.mark.django_db
def test_dry_run_command_lists_changes_and_writes_nothing(keycrm, bas, sb_settings,
                                                          capsys) -> None:
    seed_keycrm_tree(keycrm, products=2)

    call_command("catalogue_sync", account=sb_settings.account.pk, flow="to_bas", dry_run=True)

    out = capsys.readouterr().out
    assert "group «Розділ 0»" in out
    assert "would be written" in out
    assert bas_writes(bas, "sb") == 0
    assert Run.objects.get().dry_run is True


@pytest.mark.django_db
def test_a_configuration_gap_fails_the_run_with_the_reason(keycrm, bas, sb_settings) -> None:
    sb_settings.price_type_ref = None
    sb_settings.save()

    run = catalogue_run_now(account=sb_settings.account, flow=CatalogueFlow.PRICES)

    assert run.state == RunState.FAILED
    assert "price type" in run.message


@pytest.mark.django_db
def test_flows_of_a_disabled_account_are_not_due(sb_settings) -> None:
    sb_settings.to_bas_enabled = sb_settings.prices_enabled = True
    sb_settings.save()
    account = sb_settings.account
    assert len(catalogue_flows_due()) == 2
    account.enabled = False
    account.save()

    assert catalogue_flows_due() == []


@pytest.mark.django_db
def test_a_second_real_run_of_a_flow_is_refused_while_one_is_queued_or_running(
        sb_settings) -> None:
    account = sb_settings.account
    sb_settings.to_bas_enabled = sb_settings.prices_enabled = True
    sb_settings.to_bas_interval = 1
    sb_settings.save()
    first = catalogue_run_start(account=account, flow=CatalogueFlow.TO_BAS)

    with pytest.raises(CatalogueRunBusy) as refused:
        catalogue_run_start(account=account, flow=CatalogueFlow.TO_BAS)
    assert refused.value.run == first
    Run.objects.filter(pk=first.pk).update(state=RunState.RUNNING)
    with pytest.raises(CatalogueRunBusy):
        catalogue_run_start(account=account, flow=CatalogueFlow.TO_BAS)
    later = timezone.now() + dt.timedelta(minutes=5)
    assert [flow for _, flow in catalogue_flows_due(now=later)] == [CatalogueFlow.PRICES]
    # a dry run writes nothing, and another flow is another run
    assert catalogue_run_start(account=account, flow=CatalogueFlow.TO_BAS, dry_run=True).dry_run
    catalogue_run_start(account=account, flow=CatalogueFlow.PRICES)

    Run.objects.filter(pk=first.pk).update(state=RunState.DONE)
    assert catalogue_run_start(account=account, flow=CatalogueFlow.TO_BAS).pk != first.pk


@pytest.mark.django_db
def test_a_run_no_worker_touched_for_longer_than_the_time_limit_holds_nothing_back(
        sb_settings) -> None:
    account = sb_settings.account
    stuck = catalogue_run_start(account=account, flow=CatalogueFlow.TO_BAS)
    Run.objects.filter(pk=stuck.pk).update(state=RunState.RUNNING,
                                           updated_at=timezone.now() - dt.timedelta(hours=1))

    assert catalogue_run_start(account=account, flow=CatalogueFlow.TO_BAS).pk != stuck.pk


@pytest.mark.django_db
def test_run_now_on_a_busy_flow_opens_the_run_in_progress(
        sb_settings, admin_client, django_capture_on_commit_callbacks) -> None:
    running = catalogue_run_start(account=sb_settings.account, flow=CatalogueFlow.TO_BAS)

    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(reverse("admin:catalogue_cataloguesettings_changelist"), {
            "action": "run_to_bas", "_selected_action": [sb_settings.pk]})

    assert response["Location"] == run_url(running)
    assert Run.objects.count() == 1
    assert callbacks == []  # the run in progress is not handed to a second worker
    with pytest.raises(CommandError):
        call_command("catalogue_sync", account=sb_settings.account.pk, flow="to_bas")


@pytest.mark.django_db
def test_an_unexpected_error_fails_the_run_and_reaches_the_worker(sb_settings, settings) -> None:
    run = catalogue_run_start(account=sb_settings.account, flow=CatalogueFlow.TO_BAS)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # the BAS password is lost

    with pytest.raises(SecretUnreadable):
        catalogue_run(run_id=run.pk)

    run.refresh_from_db()
    assert run.state == RunState.FAILED
    assert "FIELD_ENCRYPTION_KEYS" in run.message
    assert run.finished_at is not None


@pytest.mark.parametrize(("language", "label"), [
    ("en", "Run now: Products KeyCRM → BAS"), ("uk", "Запустити зараз: Товари KeyCRM → BAS")])
def test_action_labels_follow_the_language_of_the_request(language, label) -> None:
    action = next(a for a in CatalogueSettingsAdmin.actions if a.__name__ == "run_to_bas")

    with translation.override(language):
        assert str(action.short_description) == label
