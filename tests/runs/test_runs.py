"""A run's progress as the services store it and as its page and the terminal show it."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from runs.models import Run, RunState
from runs.services import run_begin, run_finish, run_progress, run_start, run_status, run_url
from runs.terminal import ProgressBar

pytestmark = pytest.mark.django_db


def test_progress_is_stored_at_most_once_a_second_but_kept_in_memory():
    run = run_start(kind="test", title="Ten things", total=10)
    run_progress(run, add=1, force=True)
    for _ in range(4):
        run_progress(run, add=1)  # within the second: not written
    assert run.done == 5
    assert Run.objects.get(pk=run.pk).done == 1
    run_progress(run, add=1, force=True)
    assert Run.objects.get(pk=run.pk).done == 6


def test_rate_and_time_left_come_from_what_is_done_so_far():
    run = run_start(kind="test", title="Hundred things", total=100)
    Run.objects.filter(pk=run.pk).update(started_at=timezone.now() - dt.timedelta(seconds=10))
    run.refresh_from_db()
    run_progress(run, done=50, force=True)
    status = run_status(run)
    assert status["done"] == 50
    assert status["total"] == 100
    assert status["percent"] == 50
    assert 4.5 <= status["rate"] <= 5.0
    assert 9 <= status["seconds_left"] <= 11
    assert not status["finished"]


def test_a_queued_run_starts_when_a_worker_takes_it_and_finishing_fixes_the_total():
    run = run_start(kind="test", title="Later", queued=True)
    assert run.state == RunState.QUEUED
    assert run.started_at is None
    run_begin(run, total=20)
    run_progress(run, done=12)
    run = run_finish(run, message="fewer than expected")
    stored = Run.objects.get(pk=run.pk)
    assert stored.state == RunState.DONE
    assert stored.total == 12
    assert stored.done == 12
    assert stored.message == "fewer than expected"
    assert stored.finished_at is not None
    assert run_status(stored)["percent"] == 100


def test_the_run_page_shows_progress_and_its_status_address_answers(admin_client):
    run = run_start(kind="test", title="Синхронізація довідників", total=40)
    run_progress(run, done=10, message="сторінка 3 з 12", force=True)
    page = admin_client.get(run_url(run))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Синхронізація довідників" in text
    assert "run-progress" in text
    assert "сторінка 3 з 12" in text
    status = admin_client.get(reverse("admin:runs_run_status", args=[run.pk]))
    assert status.status_code == 200
    assert status.json()["done"] == 10
    assert status.json()["total"] == 40


def test_the_status_address_is_refused_to_someone_not_logged_in(client):
    run = run_start(kind="test", title="Secret", total=1)
    answer = client.get(f"/admin/runs/run/{run.pk}/status/")
    assert answer.status_code == 302
    assert "/login/" in answer["Location"]


def test_the_terminal_bar_prints_a_line_per_tenth_when_not_a_terminal():
    out = io.StringIO()
    bar = ProgressBar(out, total=100, label="stock")
    for _ in range(100):
        bar.update(add=1)
    bar.finish()
    lines = out.getvalue().splitlines()
    assert len(lines) == 12  # the first item, each tenth reached (10 %…100 %), the closing line
    assert lines[-1].startswith("stock [##############################] 100/100")
