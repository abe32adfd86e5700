"""An operator in a browser: the dashboard shows an order stuck for a real reason, the record
says why, the status correspondence is added in the admin, "Re-process these" sends it again
and it is done; a backfill's progress page follows the work; the header switches the language.
Screenshots of the dashboard and of a record page are kept in var/artifacts/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from mappings.models import StatusCorrespondence
from mappings.services.directories import directories_sync
from runs.models import Run
from staging import tasks
from staging.models import BackfillJob, InboundRecord
from staging.services.process import record_process
from staging.services.queue import records_due

pytestmark = pytest.mark.django_db(transaction=True)

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "artifacts"
STATES = "Catalog_СостоянияЗаказовПокупателей"


def _log_in(page, live_server) -> str:
    User.objects.create_superuser("operator", "", "operator-pw")
    admin = f"{live_server.url}/admin"
    page.goto(f"{admin}/login/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", "operator-pw")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    return admin


def _screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")  # the artefact for whoever runs the suite
    return path


def _work() -> list[InboundRecord]:
    return [record for record_id in records_due()
            if (record := record_process(record_id=record_id, worker="test"))]


def test_an_operator_reads_why_an_order_is_stuck_fixes_the_mapping_and_sees_it_done(
        page, live_server, client, shop, keycrm, bas):
    # "Відправлено" has no BAS state: the real pipeline stops the order for a person.
    StatusCorrespondence.objects.filter(account=shop.account,
                                        keycrm_status_name="Відправлено").delete()
    directories_sync(account=shop.account, directories=["order_status"])
    order_id = shop.order(keycrm, status="Відправлено")
    order = keycrm.store.orders[order_id]
    client.post(reverse("keycrm_webhook", args=[shop.account.webhook_token]),
                data=json.dumps({"event": "order.change_order_status", "context": {
                    "id": order_id, "status_id": order["status_id"],
                    "status_changed_at": str(order["status_changed_at"]),
                    "updated_at": str(order["updated_at"])}}),
                content_type="application/json")
    [record] = _work()
    assert record.state == "waiting"
    admin = _log_in(page, live_server)

    # The dashboard names the cause and counts it.
    page.goto(f"{admin}/")
    cause = page.locator("#dashboard-causes tr.cause-record")
    assert cause.count() == 1
    assert "status «Відправлено» (#N) has no BAS state in the status correspondence" in (
        cause.locator(".cause-text").inner_text())
    assert cause.locator(".count").inner_text() == "1"
    assert page.locator("#dashboard-loops tr.loop-webhooks td").nth(1).inner_text() != "never"
    _screenshot(page, "dashboard.png")

    # Its list holds the record; the record's page says what to do.
    cause.locator("a.cause-list").click()
    page.click(f"#result_list a[href*='/staging/inboundrecord/{record.pk}/change/']")
    what = page.inner_text("#what-happened")
    assert (f"status «Відправлено» (#{shop.statuses['Відправлено']}) has no BAS state in the "
            "status correspondence") in what
    _screenshot(page, "record.png")

    # The fix: the status correspondence, the BAS state picked from the live list.
    page.goto(f"{admin}/mappings/statuscorrespondence/add/")
    page.select_option("#id_account", str(shop.account.pk))
    page.select_option("#id_keycrm_status_id", str(shop.statuses["Відправлено"]))
    page.fill("#id_bas_entity_set", STATES)
    page.fill("#id_bas_value", "Відправлено")
    page.click(".bas-pick")
    page.wait_for_selector(".bas-pick-list option")
    page.select_option(".bas-pick-list", index=0)
    page.click("input[name=_save]")
    page.wait_for_selector("#result_list")
    fixed = StatusCorrespondence.objects.get(account=shop.account,
                                             keycrm_status_id=shop.statuses["Відправлено"])
    assert fixed.bas_value == shop.states["Відправлено"]

    # Re-process from the dashboard; a worker (here: the test) takes it; it is done.
    page.goto(f"{admin}/")
    page.click("#dashboard-causes button.cause-reprocess")
    page.wait_for_selector(".messagelist")
    assert "1 re-queued, 0 skipped" in page.inner_text(".messagelist")
    assert [r.state for r in _work()] == ["done"]
    page.goto(f"{admin}/staging/inboundrecord/{record.pk}/change/")
    record.refresh_from_db()
    assert record.bas_document_number
    assert record.bas_document_number in page.inner_text("body")
    assert "the order is in BAS" in page.inner_text("#what-happened")
    page.goto(f"{admin}/")
    assert page.locator("#no-failures").count() == 1


def test_a_backfill_shows_its_progress_while_it_runs(page, live_server, keycrm, keycrm_account,
                                                     monkeypatch):
    keycrm.seed({"orders": [{"ordered_at": "2024-03-01 10:00:00"} for _ in range(120)]})
    admin = _log_in(page, live_server)
    page.goto(f"{admin}/staging/backfilljob/add/")
    page.click("#id_account + .select2 .select2-selection")  # the account autocomplete
    page.fill(".select2-search__field", keycrm_account.name)
    page.click(f".select2-results__option:has-text('{keycrm_account.name}')")
    page.fill("#id_since", "2024-01-01")
    page.click("input[name=_save]")
    page.wait_for_selector("#run-progress")
    job, run = BackfillJob.objects.get(), Run.objects.get(kind="backfill")
    assert page.url.endswith(f"/admin/runs/run/{run.pk}/change/")
    assert page.inner_text("#run-total") == "?"

    # One page per task, as a long history goes; the open page follows without a reload.
    monkeypatch.setattr(tasks, "BACKFILL_SLICE_SECONDS", 0)
    for done in ("50", "100", "120"):
        tasks.run_backfill.run(job.pk, run.pk)
        page.wait_for_function(
            f"document.getElementById('run-done').textContent === '{done}'")
        assert page.inner_text("#run-total") == "120"
    page.wait_for_function("document.getElementById('run-bar').value === 100")
    assert "120 order(s) stored from 3 page(s)." in page.inner_text("#run-message")
    assert InboundRecord.objects.filter(source="backfill").count() == 120


@pytest.fixture
def ukrainian_page(browser):
    """A browser asking for Ukrainian, as a person in Ukraine does."""
    context = browser.new_context(locale="uk-UA", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def test_the_header_switches_between_ukrainian_and_english(ukrainian_page, live_server):
    page = ukrainian_page
    admin = _log_in(page, live_server)
    page.goto(f"{admin}/")
    logout = page.locator("#logout-form button")
    assert logout.text_content().strip() == "Вийти"  # the language the browser asks for
    page.click("#language-en")
    page.wait_for_selector("#language-en[disabled]")
    assert logout.text_content().strip() == "Log out"
    assert page.url == f"{admin}/"
    page.click("#language-uk")
    page.wait_for_selector("#language-uk[disabled]")
    assert logout.text_content().strip() == "Вийти"
