"""``manage.py reprocess`` re-queues the records its selectors match (and only with a selector);
``manage.py prune_exchanges`` deletes old successful exchanges and keeps the failures."""

from __future__ import annotations

import datetime as dt
import io
import re
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import KeyCrmAccount
from staging import tasks
from staging.models import Exchange, InboundRecord

pytestmark = pytest.mark.django_db

KYIV = ZoneInfo("Europe/Kyiv")  # the portal's TIME_ZONE: --since/--until are its days
SKIPPED = "skipped (in processing, duplicates or ignored)"


def _at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2025, 3, day, hour, minute, tzinfo=KYIV)


@pytest.fixture
def records(keycrm_account) -> dict[str, InboundRecord]:
    other = KeyCrmAccount.objects.create(name="Другий", api_base_url="https://other.example/v1")
    rows = {  # name: (account, state, received)
        "waiting": (keycrm_account, "waiting", _at(1, 10)),
        "failed": (keycrm_account, "failed", _at(2, 23, 30)),  # late on the 2nd, Kyiv time
        "done": (keycrm_account, "done", _at(3, 0, 10)),  # the 3rd in Kyiv, the 2nd in UTC
        "other_waiting": (other, "waiting", _at(2, 12)),
        "duplicate": (keycrm_account, "duplicate", _at(2, 12)),
        "ignored": (keycrm_account, "ignored", _at(2, 12)),
        "processing": (keycrm_account, "processing", _at(2, 12)),
    }
    made = {}
    for name, (account, state, received) in rows.items():
        record = InboundRecord.objects.create(account=account, source="webhook", state=state,
                                              body=f'{{"name": "{name}"}}', message=name)
        InboundRecord.objects.filter(pk=record.pk).update(received_at=received)
        made[name] = record
    return made


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    """Ids handed to the Celery task (after commit), instead of a broker."""

    class Sent(list):
        def delay(self, record_id: int) -> None:
            self.append(record_id)

    ids = Sent()
    monkeypatch.setattr(tasks, "process_record", ids)
    return ids


def _run(capture, *args: str) -> str:
    out = io.StringIO()
    with capture(execute=True):
        call_command("reprocess", *args, stdout=out)
    return out.getvalue().strip()


def _states(records: dict[str, InboundRecord]) -> dict[str, str]:
    now = dict(InboundRecord.objects.values_list("id", "state"))
    return {name: now[record.pk] for name, record in records.items()}


def _queued(records, *names: str) -> dict[str, str]:
    return {name: "queued" if name in names else name.removeprefix("other_")
            for name in records}


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    return lambda *args: _run(django_capture_on_commit_callbacks, *args)


def test_without_a_selector_it_refuses_and_changes_nothing(run, records, sent):
    with pytest.raises(CommandError, match="Say which records to re-process"):
        run()
    with pytest.raises(CommandError, match="Say which records to re-process"):
        run("--dry-run")
    assert _states(records) == _queued(records)
    assert sent == []


def test_by_state_across_accounts(run, records, sent):
    assert run("--state", "waiting") == f"2 record(s) match: 2 re-queued, 0 {SKIPPED}."
    assert _states(records) == _queued(records, "waiting", "other_waiting")
    assert sent == [records["waiting"].pk, records["other_waiting"].pk]
    requeued = InboundRecord.objects.get(pk=records["waiting"].pk)
    assert requeued.message.startswith("queued again by ")
    assert "(manage.py reprocess)" in requeued.message


def test_by_states_of_one_account(run, records, sent):
    assert run("--state", "waiting", "failed", "--account", "Магазин") == (
        f"2 record(s) match: 2 re-queued, 0 {SKIPPED}.")
    assert _states(records) == _queued(records, "waiting", "failed")
    assert sent == [records["waiting"].pk, records["failed"].pk]


def test_by_ids_skips_duplicates_ignored_and_those_in_processing(run, records, sent):
    ids = [str(records[name].pk) for name in ("done", "duplicate", "ignored")]
    assert run("--id", *ids, "--id", str(records["processing"].pk)) == (
        f"4 record(s) match: 1 re-queued, 3 {SKIPPED}.")
    assert _states(records) == _queued(records, "done")
    assert sent == [records["done"].pk]


def test_by_received_days_in_the_portal_time_zone(run, records, sent):
    # The 2nd in Kyiv: "failed" at 23:30 is in; "done" at 00:10 on the 3rd is not (though it
    # is still the 2nd in UTC); "waiting" on the 1st is not.
    assert run("--account", "Магазин", "--since", "2025-03-02", "--until", "2025-03-02") == (
        f"4 record(s) match: 1 re-queued, 3 {SKIPPED}.")
    assert _states(records) == _queued(records, "failed")
    assert run("--state", "done", "waiting", "--since", "2025-03-03") == (
        f"1 record(s) match: 1 re-queued, 0 {SKIPPED}.")
    assert run("--state", "waiting", "--until", "2025-03-01") == (
        f"1 record(s) match: 1 re-queued, 0 {SKIPPED}.")
    assert _states(records) == _queued(records, "failed", "done", "waiting")
    assert sent == [records[name].pk for name in ("failed", "done", "waiting")]


def test_dry_run_predicts_the_counts_and_changes_nothing(run, records, sent):
    before = {r.pk: r.message for r in InboundRecord.objects.all()}
    assert run("--account", "Магазин", "--dry-run") == (
        f"6 record(s) match: 3 would be re-queued, 3 {SKIPPED}. Dry run: nothing changed.")
    assert _states(records) == _queued(records)
    assert {r.pk: r.message for r in InboundRecord.objects.all()} == before
    assert sent == []
    assert run("--account", "Магазин") == f"6 record(s) match: 3 re-queued, 3 {SKIPPED}."


@pytest.mark.parametrize(("args", "error"), [
    (["--account", "Немає"], "no KeyCRM account is named “Немає” (accounts: Другий, Магазин)"),
    (["--since", "2025-03-05", "--until", "2025-03-01"], "--since 2025-03-05 is after"),
    (["--since", "2025-02-30"], "“2025-02-30” is not a date like 2025-03-01"),
    (["--state", "duplicate"], "invalid choice: 'duplicate'"),
])
def test_mistakes_are_refused_in_words(run, records, sent, args, error):
    with pytest.raises(CommandError, match=re.escape(error)):
        run(*args)
    assert _states(records) == _queued(records)
    assert sent == []


def test_prune_deletes_old_successes_and_keeps_failures(keycrm_account, settings):
    settings.EXCHANGE_LOG_KEEP_DAYS = 14

    def exchange(days_ago: int, status: int | None, error: str = "") -> Exchange:
        row = Exchange.objects.create(system="bas", method="GET", url="http://bas/x",
                                      status=status, error=error)
        Exchange.objects.filter(pk=row.pk).update(
            created_at=timezone.now() - dt.timedelta(days=days_ago))
        return row

    old_ok, old_redirect = exchange(30, 200), exchange(15, 304)
    kept = [exchange(30, 500), exchange(30, 404), exchange(30, None, "connection refused"),
            exchange(3, 200)]

    def prune(*args: str) -> str:
        out = io.StringIO()
        call_command("prune_exchanges", *args, stdout=out)
        return out.getvalue().strip()

    assert prune("--days", "40") == (
        "0 exchange(s) deleted: successful ones older than 40 day(s); failed ones are kept.")
    assert prune() == (
        "2 exchange(s) deleted: successful ones older than 14 day(s); failed ones are kept.")
    assert not Exchange.objects.filter(pk__in=[old_ok.pk, old_redirect.pk]).exists()
    assert sorted(Exchange.objects.values_list("pk", flat=True)) == [e.pk for e in kept]
    with pytest.raises(CommandError, match="--days must be 0 or more"):
        prune("--days", "-1")
