"""The operator's start page: each loop's last success with a warning after three silent
intervals, records by state, failures of the real pipeline grouped by cause with their list and
"Re-process these", and the language switch in the header."""

from __future__ import annotations

import datetime as dt
import html
import json

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django.utils import timezone

from dashboard.services import (
    LoopState,
    accounts_health,
    cause_text,
    failure_causes,
    records_by_state,
    records_of_cause,
)
from integration.models import BasChangesSettings
from mappings.models import StatusCorrespondence
from staging.models import (
    InboundRecord,
    OutboxMessage,
    PollCursor,
    RecordSource,
    RecordState,
)
from staging.services.process import record_process
from staging.services.queue import records_due
from stock.models import StockSettings

pytestmark = pytest.mark.django_db

INDEX = reverse("admin:index")
RECORDS = reverse("admin:staging_inboundrecord_changelist")
NOW = dt.datetime(2025, 3, 14, 12, 0, tzinfo=dt.UTC)


def _webhook(client, account, keycrm, order_id: int):
    order = keycrm.store.orders[order_id]
    return client.post(reverse("keycrm_webhook", args=[account.webhook_token]),
                       data=json.dumps({"event": "order.change_order_status", "context": {
                           "id": order_id, "status_id": order["status_id"],
                           "status_changed_at": str(order["status_changed_at"]),
                           "updated_at": str(order["updated_at"])}}),
                       content_type="application/json")


def _work() -> list[InboundRecord]:
    return [record for record_id in records_due()
            if (record := record_process(record_id=record_id, worker="test"))]


def _loops(account_id: int, *, now: dt.datetime) -> dict[str, tuple[str, str]]:
    [health] = [h for h in accounts_health(now=now) if h.account_id == account_id]
    return {loop.key: (loop.state, loop.note) for loop in health.loops}


# --- causes -----------------------------------------------------------------------------------
def test_a_cause_keeps_what_names_it_and_drops_what_varies_between_orders():
    assert cause_text("Запасы[2].Номенклатура_Key: no single element of "
                      "Catalog_Номенклатура matches (Артикул = AB-17: none found)") == (
        "Запасы[…].Номенклатура_Key: no single element of Catalog_Номенклатура matches "
        "(Артикул = AB-17: none found)")
    assert cause_text("СостояниеЗаказа_Key: status «Відправлено» (#17) has no BAS state") == (
        "СостояниеЗаказа_Key: status «Відправлено» (#N) has no BAS state")
    assert cause_text("KeyCRM refused: GET /order/1234 at 2025-03-01 10:00:05") == (
        "KeyCRM refused: GET /order/N at N N")
    assert cause_text("BAS refused: Document_ЗаказПокупателя(guid'0c5a1b2e-1111-2222-3333-"
                      "444455556666') is locked") == (
        "BAS refused: Document_ЗаказПокупателя(guid'…') is locked")


def test_pipeline_failures_are_grouped_by_cause_listed_and_reprocessed(client, admin_client,
                                                                     shop, keycrm):
    StatusCorrespondence.objects.filter(account=shop.account,
                                        keycrm_status_name="Відправлено").delete()
    shipped = [shop.order(keycrm, status="Відправлено") for _ in range(2)]
    unknown_sku = shop.order(keycrm, skus=("AB-17",))
    fine = shop.order(keycrm)
    for order_id in (*shipped, unknown_sku, fine):
        _webhook(client, shop.account, keycrm, order_id)
    states = {r.keycrm_order_id: r.state for r in _work()}
    assert states == {shipped[0]: "waiting", shipped[1]: "waiting", unknown_sku: "waiting",
                      fine: "done"}

    status_cause, sku_cause = failure_causes()
    assert (status_cause.count, status_cause.kind, status_cause.account_name) == (
        2, "configuration", "Магазин")
    assert "has no BAS state in the status correspondence" in status_cause.text
    assert sku_cause.count == 1
    assert "AB-17: none found" in sku_cause.text

    page = html.unescape(admin_client.get(INDEX).content.decode())
    assert status_cause.text in page
    assert f"{RECORDS}?cause={status_cause.key}" in page
    listed = admin_client.get(RECORDS, {"cause": status_cause.key}).context["cl"].result_list
    assert sorted(r.keycrm_order_id for r in listed) == sorted(shipped)

    # The mapping fixed, "Re-process these" queues exactly the cause's records, and they go.
    StatusCorrespondence.objects.create(
        account=shop.account, keycrm_status_id=shop.statuses["Відправлено"],
        keycrm_status_name="Відправлено", bas_value=shop.states["Відправлено"],
        bas_entity_set="Catalog_СостоянияЗаказовПокупателей", bas_presentation="Відправлено")
    response = admin_client.post(reverse("dashboard_cause_reprocess",
                                         args=[status_cause.key]), follow=True)
    assert [str(m) for m in response.context["messages"]] == [
        "2 re-queued, 0 skipped (in processing, duplicates or ignored)"]
    assert dict(InboundRecord.objects.values_list("keycrm_order_id", "state")) == {
        shipped[0]: "queued", shipped[1]: "queued", unknown_sku: "waiting", fine: "done"}
    assert {r.keycrm_order_id: r.state for r in _work()} == {shipped[0]: "done",
                                                            shipped[1]: "done"}
    assert [c.text for c in failure_causes()] == [sku_cause.text]
    assert not records_of_cause(key=status_cause.key).exists()


def test_reprocess_these_is_a_post_for_people_allowed_to_change_records(client, keycrm_account):
    record = InboundRecord.objects.create(account=keycrm_account, source=RecordSource.POLL,
                                          state=RecordState.WAITING, problem_kind="data",
                                          message="The order 17 has no lines")
    [cause] = failure_causes()
    url = reverse("dashboard_cause_reprocess", args=[cause.key])
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_inboundrecord"))
    client.force_login(viewer)

    page = client.get(INDEX).content.decode()
    assert "The order N has no lines" in page
    assert "cause-reprocess" not in page  # no button for a person who may not use it
    assert client.post(url).status_code == 403
    viewer.user_permissions.add(Permission.objects.get(codename="change_inboundrecord"))
    viewer = User.objects.get(pk=viewer.pk)
    client.force_login(viewer)
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 302
    record.refresh_from_db()
    assert record.state == "queued"


def test_outbox_failures_are_causes_too_linking_to_the_outbox_list(admin_client,
                                                                   keycrm_account):
    for order_id in (5, 6, 7):
        OutboxMessage.objects.create(account=keycrm_account, kind="order.status",
                                     key=f"order:{order_id}:status", state="waiting",
                                     message=f"KeyCRM 422: order {order_id}: status unknown")
    [cause] = failure_causes()
    assert (cause.scope, cause.kind, cause.count, cause.text) == (
        "outbox", "order.status", 3, "KeyCRM N: order N: status unknown")
    page = html.unescape(admin_client.get(INDEX).content.decode())
    link = (f"{reverse('admin:staging_outboxmessage_changelist')}?account__id__exact="
            f"{keycrm_account.pk}&kind__exact=order.status&state__in=waiting%2Cfailed")
    assert link in page
    assert len(admin_client.get(link).context["cl"].result_list) == 3


# --- loops ------------------------------------------------------------------------------------
def test_scheduled_loops_warn_after_three_silent_intervals(keycrm_account):
    cursor = PollCursor.objects.create(account=keycrm_account, interval_seconds=60,
                                       last_success_at=NOW - dt.timedelta(seconds=170))
    BasChangesSettings.objects.create(account=keycrm_account, interval_seconds=300,
                                      last_success_at=NOW - dt.timedelta(minutes=16),
                                      last_error="BAS 503: unavailable")
    StockSettings.objects.create(account=keycrm_account, enabled=True, interval_minutes=15,
                                 keycrm_warehouse_id=1,
                                 last_success_at=NOW - dt.timedelta(minutes=44))
    loops = _loops(keycrm_account.pk, now=NOW)
    assert loops["polling"] == ("ok", "")
    assert loops["status_sync"] == ("silent", "BAS 503: unavailable")
    assert loops["stock"] == ("ok", "")

    later = _loops(keycrm_account.pk, now=NOW + dt.timedelta(seconds=11))
    assert later["polling"][0] == LoopState.SILENT

    cursor.enabled = False
    cursor.save()
    off = _loops(keycrm_account.pk, now=NOW)
    assert off["polling"] == ("off", "Turned off.")
    # With polling off, webhooks are the only way in: a day without one is flagged.
    assert off["webhooks"][0] == LoopState.SILENT


def test_queues_are_judged_only_while_work_is_due(keycrm_account):
    assert _loops(keycrm_account.pk, now=NOW)["processing"][0] == LoopState.IDLE
    done = InboundRecord.objects.create(account=keycrm_account, source=RecordSource.WEBHOOK,
                                        state=RecordState.DONE,
                                        processed_at=NOW - dt.timedelta(minutes=30))
    pending = InboundRecord.objects.create(account=keycrm_account, source=RecordSource.POLL)
    InboundRecord.objects.filter(pk=pending.pk).update(
        received_at=NOW - dt.timedelta(minutes=4))
    InboundRecord.objects.filter(pk=done.pk).update(received_at=NOW - dt.timedelta(hours=1))

    loops = _loops(keycrm_account.pk, now=NOW)
    assert loops["processing"][0] == LoopState.SILENT
    assert loops["processing"][1].startswith("1 due, the oldest since ")
    # Webhooks have no interval: with polling on their age is only shown.
    PollCursor.objects.create(account=keycrm_account)
    [health] = accounts_health(now=NOW)
    webhooks = health.loops[0]
    assert (webhooks.state, webhooks.last_success_at) == (LoopState.OK,
                                                          NOW - dt.timedelta(hours=1))
    # Work due for less than three intervals is not a warning yet.
    InboundRecord.objects.filter(pk=pending.pk).update(
        received_at=NOW - dt.timedelta(minutes=2))
    assert _loops(keycrm_account.pk, now=NOW)["processing"][0] == LoopState.OK


def test_the_page_costs_the_same_queries_for_many_accounts_and_records(
        admin_client, keycrm_account, django_assert_max_num_queries):
    def grow(n: int) -> None:
        for i in range(n):
            account = type(keycrm_account)(name=f"Магазин {n}-{i}",
                                           api_base_url=keycrm_account.api_base_url)
            account.set_api_key("k")
            account.save()
            PollCursor.objects.create(account=account)
            InboundRecord.objects.bulk_create([InboundRecord(
                account=account, source=RecordSource.POLL, state=RecordState.WAITING,
                problem_kind="data", message=f"order {j} has no lines") for j in range(20)])

    grow(1)
    with django_assert_max_num_queries(30) as small:
        assert admin_client.get(INDEX).status_code == 200
    grow(5)
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert admin_client.get(INDEX).status_code == 200


def test_records_by_state_today_and_over_seven_days(keycrm_account):
    today = timezone.localtime(NOW)

    def received(state: str, days_ago: int, count: int = 1) -> None:
        for _ in range(count):
            record = InboundRecord.objects.create(account=keycrm_account,
                                                  source=RecordSource.POLL, state=state)
            InboundRecord.objects.filter(pk=record.pk).update(
                received_at=today - dt.timedelta(days=days_ago))

    received("done", 0, 3)
    received("waiting", 0)
    received("done", 2, 2)
    received("failed", 6)
    received("done", 7)  # eight days ago: outside the chart

    chart = records_by_state(now=NOW)
    assert [(bar.state, bar.count, bar.percent) for bar in chart.today] == [
        ("done", 3, 100.0), ("waiting", 1, 33.3)]
    assert [day.total for day in chart.days] == [1, 0, 0, 0, 2, 0, 4]
    assert chart.days[-1].day == today.date()
    assert [(bar.state, bar.percent) for bar in chart.days[4].bars] == [("done", 50.0)]


# --- the language switch ----------------------------------------------------------------------
def test_the_header_switches_the_language(admin_client, settings):
    settings.LANGUAGE_CODE = "uk"  # the product's default (the suite runs in English)
    page = admin_client.get(INDEX).content.decode()
    assert 'id="language-switch"' in page
    assert "Вийти" in page  # Ukrainian by default (Django's own catalogue)
    response = admin_client.post(reverse("set_language"), {"language": "en", "next": INDEX},
                                 follow=True)
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == INDEX
    assert "Log out" in page
    assert "Вийти" not in page
