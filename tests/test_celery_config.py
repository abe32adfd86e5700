"""The Celery set-up the scheduler and workers load: every task's limits are coherent and
every scheduled entry names a real task (a mistake here only shows when beat fires)."""

from __future__ import annotations

import pytest
from django.conf import settings

from config import celery_app

OUR_TASKS = ("staging.", "mappings.", "integration.", "stock.", "documents.", "catalogue.",
             "runs.", "dashboard.")


@pytest.fixture(scope="module")
def tasks():
    celery_app.loader.import_default_modules()  # autodiscovery, as a worker does at start
    return {name: task for name, task in celery_app.tasks.items() if name.startswith(OUR_TASKS)}


def test_every_task_has_a_soft_limit_below_its_hard_limit(tasks):
    assert tasks, "no task was discovered"
    conf = celery_app.conf
    for name, task in tasks.items():
        soft = task.soft_time_limit or conf.task_soft_time_limit
        hard = task.time_limit or conf.task_time_limit
        assert soft < hard, f"{name}: soft limit {soft} s is not below the hard limit {hard} s"
        assert task.acks_late, f"{name} must be acknowledged late (tasks are idempotent)"


def test_every_scheduled_entry_names_a_task(tasks):
    for entry, spec in settings.CELERY_BEAT_SCHEDULE.items():
        assert spec["task"] in tasks, f"beat entry {entry} names unknown task {spec['task']}"
