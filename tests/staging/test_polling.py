"""Polling and backfill against the KeyCRM emulator: the window and its cursor, what is stored
and what is not, the number of KeyCRM calls, resuming, the command and the admin."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from urllib.parse import parse_qs

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from integration.keycrm.client import ORDER_FULL_INCLUDE, KeyCrmClient
from staging.models import BackfillJob, InboundRecord, PollCursor
from staging.services.backfill import backfill_run, backfill_since, backfill_start
from staging.services.polling import PollError, account_poll, accounts_due_for_poll
from staging.services.process import record_process
from staging.services.queue import records_due

pytestmark = pytest.mark.django_db

ORDERS = "Document_ЗаказПокупателя"
SECOND = dt.timedelta(seconds=1)
MINUTE = dt.timedelta(minutes=1)


def _now() -> dt.datetime:
    return timezone.now().replace(microsecond=0)


def _text(moment: dt.datetime) -> str:
    return f"{moment.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S}"


def _work() -> list[InboundRecord]:
    done = []
    for record_id in records_due():
        record = record_process(record_id=record_id, worker="test-worker")
        if record:
            done.append(record)
    return done


def _list_queries(keycrm) -> list[dict[str, list[str]]]:
    """The query of every order list call, in order."""
    return [parse_qs(r["query"]) for r in keycrm.requests(path_contains="/v1/order")
            if r["path"] == "/v1/order"]


def _bare_client(keycrm) -> KeyCrmClient:
    return KeyCrmClient(base_url=f"{keycrm.url}/v1", api_key="test-key", budget=None,
                        max_retries=0)


def _seed_orders(keycrm, count: int, **fields) -> list[int]:
    return keycrm.seed({"orders": [dict(fields) for _ in range(count)]})["orders"]


# --- polling -----------------------------------------------------------------------------------
def test_polling_alone_makes_the_posted_document_a_webhook_would(shop, keycrm, bas):
    order_id = shop.order(keycrm, status="Підтверджено")
    now = _now() + SECOND
    result = account_poll(account=shop.account, now=now)

    assert (result.fetched, result.new, result.repeats, result.pages) == (1, 1, 0, 1)
    [query] = _list_queries(keycrm)
    assert query["filter[updated_between]"] == [f"{_text(now - 5 * MINUTE)},{_text(now)}"]
    assert query["include"] == [",".join(ORDER_FULL_INCLUDE)]
    assert query["limit"] == ["50"]
    [record] = _work()
    assert (record.source, record.state) == ("poll", "done"), record.message
    # The same document as test_pipeline's webhook test.
    [document] = bas.objects("sb", ORDERS)
    assert document["Posted"] is True
    assert document["НомерВходящегоДокумента"] == f"KC-{order_id}"
    assert document["СостояниеЗаказа"] == shop.states["Підтверджено"]
    assert [(row["Номенклатура_Key"], row["Количество"], row["Сумма"], row["СуммаНДС"])
            for row in document["Запасы"]] == [
        (shop.items["TSH-BLK"], 1, 100, pytest.approx(16.67)),
        (shop.items["CAP-1"], 2, 400, pytest.approx(66.67))]
    [counterparty] = bas.objects("sb", "Catalog_Контрагенты")
    assert counterparty["Description"] == "Олена Коваль"
    assert document["Контрагент_Key"] == counterparty["Ref_Key"]
    assert record.bas_document_number == document["Number"]


def test_a_repeated_window_stores_nothing_and_a_changed_order_updates_the_document(
        shop, keycrm, bas):
    start = _now() - dt.timedelta(hours=1)
    order_id = shop.order(keycrm, created_at=_text(start))
    account_poll(account=shop.account, now=start + MINUTE)
    [first] = _work()
    assert first.state == "done", first.message

    again = account_poll(account=shop.account, now=start + 2 * MINUTE)
    assert (again.fetched, again.new, again.repeats) == (1, 0, 1)
    assert InboundRecord.objects.count() == 1
    assert _work() == []

    keycrm.set_order_status(order_id, shop.statuses["Відправлено"])
    changed = account_poll(account=shop.account, now=_now() + SECOND)
    assert (changed.fetched, changed.new, changed.repeats) == (1, 1, 0)
    [record] = _work()
    assert record.state == "done", record.message
    [document] = bas.objects("sb", ORDERS)
    assert document["СостояниеЗаказа"] == shop.states["Відправлено"]
    assert InboundRecord.objects.filter(source="poll").count() == 2


def test_the_cursor_lives_in_the_database_and_a_failure_leaves_it_where_it_was(
        keycrm, keycrm_account):
    first = _now()
    account_poll(account=keycrm_account, now=first)
    cursor = PollCursor.objects.get(account=keycrm_account)
    assert (cursor.polled_until, cursor.last_success_at, cursor.last_error) == (
        first, first, "")

    keycrm.set_faults(error_count=20, error_status=500)
    with pytest.raises(PollError):
        account_poll(account=keycrm_account, now=first + 5 * MINUTE,
                     client=_bare_client(keycrm))
    cursor.refresh_from_db()
    assert cursor.polled_until == first
    assert cursor.last_success_at == first
    assert cursor.last_started_at == first + 5 * MINUTE
    assert "500" in cursor.last_error

    keycrm.set_faults()
    keycrm.clear_log()
    [order_id] = _seed_orders(keycrm, 1, updated_at=_text(first + 3 * MINUTE))  # in the gap
    fresh = type(keycrm_account).objects.get(pk=keycrm_account.pk)
    result = account_poll(account=fresh, now=first + 10 * MINUTE)
    [query] = _list_queries(keycrm)
    assert query["filter[updated_between]"] == [
        f"{_text(first - 2 * MINUTE)},{_text(first + 10 * MINUTE)}"]
    assert result.new == 1
    assert InboundRecord.objects.get().keycrm_order_id == order_id
    cursor.refresh_from_db()
    assert (cursor.polled_until, cursor.last_error) == (first + 10 * MINUTE, "")


@pytest.mark.parametrize(("overlap", "caught"), [(120, 1), (0, 0)])
def test_the_overlap_catches_an_order_dated_just_before_the_cursor(
        keycrm, keycrm_account, overlap, caught):
    first = _now()
    account_poll(account=keycrm_account, now=first)
    PollCursor.objects.filter(account=keycrm_account).update(overlap_seconds=overlap)
    # KeyCRM shows an order only now, dated 30 s before the last poll's end.
    _seed_orders(keycrm, 1, updated_at=_text(first - 30 * SECOND))
    result = account_poll(account=keycrm_account, now=first + MINUTE)
    assert (result.fetched, result.new) == (caught, caught)


def test_orders_changing_while_pages_are_read_make_the_window_read_again(
        keycrm, keycrm_account):
    start = _now() - dt.timedelta(hours=1)
    statuses = keycrm.seed({"statuses": [{"name": "Нове"}, {"name": "Відправлено"}]})["statuses"]
    ids = _seed_orders(keycrm, 60, status_id=statuses[0], updated_at=_text(start))
    changed = []

    def change_after_first_page(request, response) -> None:
        if request.path == "/v1/order" and not changed:
            changed.append(ids[0])
            keycrm.set_order_status(ids[0], statuses[1])  # leaves the window: pages shift

    keycrm.observers.append(change_after_first_page)
    result = account_poll(account=keycrm_account, now=start + MINUTE)
    # Read once with a shifted second page (which skipped one order), then again, stable.
    assert result.pages == 4
    assert set(InboundRecord.objects.values_list("keycrm_order_id", flat=True)) == set(ids)
    assert InboundRecord.objects.count() == 60
    # 50 + 9 read the first time (order 51 slipped to page 1), 49 + 9 the second.
    assert (result.fetched, result.new, result.repeats) == (118, 60, 58)


def test_accounts_are_due_when_their_interval_has_passed(keycrm_account):
    now = _now()
    assert accounts_due_for_poll(now=now) == [keycrm_account]  # a cursor is made for it
    cursor = PollCursor.objects.get(account=keycrm_account)
    assert (cursor.enabled, cursor.interval_seconds, cursor.overlap_seconds) == (True, 300, 120)
    PollCursor.objects.filter(pk=cursor.pk).update(last_started_at=now, last_success_at=now,
                                                   polled_until=now)
    assert accounts_due_for_poll(now=now + MINUTE) == []
    assert accounts_due_for_poll(now=now + 5 * MINUTE) == [keycrm_account]
    PollCursor.objects.filter(pk=cursor.pk).update(enabled=False)
    assert accounts_due_for_poll(now=now + 5 * MINUTE) == []


# --- backfill ----------------------------------------------------------------------------------
SINCE = "2024-01-01"


def test_a_backfill_of_130_orders_takes_three_calls(keycrm, keycrm_account):
    ids = _seed_orders(keycrm, 130, ordered_at="2024-03-01 10:00:00")
    _seed_orders(keycrm, 1, ordered_at="2023-12-01 10:00:00")  # before the backfill's start
    job = backfill_start(account=keycrm_account,
                         since=backfill_since(dt.date.fromisoformat(SINCE)))
    seen = []
    job = backfill_run(job=job, progress=lambda done, total: seen.append((done, total)))

    assert len(keycrm.requests(path_contains="/v1/order")) == 3
    assert seen == [(50, 130), (100, 130), (130, 130)]
    assert (job.state, job.stored, job.total, job.last_page, job.next_page) == (
        "done", 130, 130, 3, 4)
    assert sorted(InboundRecord.objects.filter(source="backfill")
                  .values_list("keycrm_order_id", flat=True)) == ids
    assert [q["page"] for q in _list_queries(keycrm)] == [["1"], ["2"], ["3"]]
    assert _list_queries(keycrm)[0]["filter[created_between]"] == [
        f"2023-12-31 22:00:00,{_text(job.until)}"]  # midnight in Kyiv


def test_an_interrupted_backfill_resumes_at_the_next_page(keycrm, keycrm_account):
    ids = _seed_orders(keycrm, 130, ordered_at="2024-03-01 10:00:00")
    job = backfill_start(account=keycrm_account,
                         since=backfill_since(dt.date.fromisoformat(SINCE)))

    def fail_from_page_two(done: int, total: int | None) -> None:
        if done == 50:
            keycrm.set_faults(error_count=5, error_status=500, path_contains="/order")

    job = backfill_run(job=job, client=_bare_client(keycrm), progress=fail_from_page_two)
    assert (job.state, job.next_page, job.stored) == ("failed", 2, 50)
    assert "500" in job.message
    assert "page 2" in job.message

    keycrm.set_faults()
    keycrm.clear_log()
    job = backfill_run(job=job, client=_bare_client(keycrm))
    assert (job.state, job.stored, job.total) == ("done", 130, 130)
    assert [q["page"] for q in _list_queries(keycrm)] == [["2"], ["3"]]
    stored = list(InboundRecord.objects.values_list("keycrm_order_id", flat=True))
    assert sorted(stored) == ids  # each order exactly once


def test_a_backfill_with_a_time_budget_pauses_and_continues(keycrm, keycrm_account):
    _seed_orders(keycrm, 60, ordered_at="2024-03-01 10:00:00")
    job = backfill_start(account=keycrm_account,
                         since=backfill_since(dt.date.fromisoformat(SINCE)))
    job = backfill_run(job=job, time_budget=0)
    assert (job.state, job.next_page, job.stored) == ("running", 2, 50)
    until = job.until
    job = backfill_run(job=job, time_budget=0)
    assert (job.state, job.stored, job.until) == ("done", 60, until)
    assert len(_list_queries(keycrm)) == 2


def test_the_command_shows_progress_and_resumes_an_unfinished_job(keycrm, keycrm_account):
    _seed_orders(keycrm, 60, ordered_at="2024-03-01 10:00:00")
    out = StringIO()
    call_command("keycrm_backfill", "--account", keycrm_account.name, "--since", SINCE,
                 stdout=out)
    lines = out.getvalue().splitlines()
    job = BackfillJob.objects.get()
    assert lines[0].startswith(f"Backfill #{job.pk}: orders of {keycrm_account.name} since "
                               "2024-01-01 00:00")
    assert lines[1].startswith(f"[{'#' * 25}.....] 50/60 orders, ")
    assert "/s, ETA " in lines[1]
    assert lines[2].startswith(f"[{'#' * 30}] 60/60 orders, ")
    assert lines[3].startswith(f"Backfill #{job.pk} done: 60/60 orders stored in ")
    assert InboundRecord.objects.count() == 60

    BackfillJob.objects.filter(pk=job.pk).update(state="failed", next_page=2, stored=50)
    out = StringIO()
    call_command("keycrm_backfill", "--account", keycrm_account.name, "--since", SINCE,
                 stdout=out)
    assert out.getvalue().splitlines()[0] == (
        f"Resuming backfill #{job.pk} of {keycrm_account.name} at page 2 (50/60 stored).")
    assert BackfillJob.objects.get().state == "done"
    assert InboundRecord.objects.count() == 60


# --- admin -------------------------------------------------------------------------------------
def test_the_admin_add_form_queues_a_backfill_once(admin_client, keycrm_account,
                                                   django_capture_on_commit_callbacks):
    url = reverse("admin:staging_backfilljob_add")
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(url, {"account": keycrm_account.pk, "since": SINCE})
    assert response.status_code == 302
    job = BackfillJob.objects.get()
    assert (job.account, job.state) == (keycrm_account, "queued")
    assert job.since == backfill_since(dt.date(2024, 1, 1))
    assert len(callbacks) == 1  # run_backfill, sent after the commit

    again = admin_client.post(url, {"account": keycrm_account.pk, "since": SINCE})
    assert again.status_code == 200  # the unfinished job is named instead
    assert f"#{job.pk}" in again.content.decode()
    assert BackfillJob.objects.count() == 1


def test_the_admin_polls_now_and_resumes_failed_backfills(admin_client, keycrm,
                                                          keycrm_account):
    _seed_orders(keycrm, 2)
    cursor = PollCursor.objects.create(account=keycrm_account)
    response = admin_client.post(reverse("admin:staging_pollcursor_changelist"), {
        "action": "poll_now", "_selected_action": [cursor.pk]}, follow=True)
    [message] = [str(m) for m in response.context["messages"]]
    assert message.startswith(f"{keycrm_account.name}: 2 ")
    assert InboundRecord.objects.filter(source="poll").count() == 2

    job = backfill_start(account=keycrm_account, since=backfill_since(dt.date(2024, 1, 1)))
    BackfillJob.objects.filter(pk=job.pk).update(state="failed", message="KeyCRM 500")
    admin_client.post(reverse("admin:staging_backfilljob_changelist"), {
        "action": "resume", "_selected_action": [job.pk]})
    job.refresh_from_db()
    assert job.state == "queued"
    assert admin_client.get(reverse("admin:staging_backfilljob_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:staging_backfilljob_change",
                                    args=[job.pk])).status_code == 200
