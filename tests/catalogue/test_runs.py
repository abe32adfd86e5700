"""Catalogue flows as runs: scheduling, on demand with progress, dry runs, the command."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from catalogue.models import CatalogueFlow
from catalogue.services import catalogue_flows_due, catalogue_run_now
from runs.models import Run, RunState
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
