"""Stock export on a small shop: reserves, the ways offers are matched, what is refused, the
schedule, the command and the admin's actions."""

from __future__ import annotations

import uuid

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.urls import reverse

from accounts.crypto import SecretUnreadable
from integration.pipelines.stock_to_keycrm import (
    STOCK_KIND,
    StockExportError,
    stock_push,
)
from mappings.models import Correspondence, DirectoryEntry, KeyCrmDirectory
from runs.models import Run, RunState
from runs.services import run_url
from staging.models import OutboxMessage, OutboxState
from stock.models import PushedStock, StockSettings
from stock.services import stock_due_accounts, stock_push_start
from stock.tasks import dispatch_due_stock_pushes, push_stock
from tests.stock.conftest import NOMENCLATURE, build_stock_shop, keycrm_quantity, send_all


def queued_items() -> dict[int, float]:
    return {item["id"]: item["quantity"]
            for message in OutboxMessage.objects.filter(kind=STOCK_KIND,
                                                        state=OutboxState.QUEUED)
            for item in message.payload["stocks"]}


def test_reserves_for_customer_orders_are_subtracted(stock_shop, bas, keycrm):
    order = str(uuid.uuid4())
    bas.add_movements("sb", "AccumulationRegister_Запасы", [
        {"RecordType": "Receipt", "Period": "2025-01-01T00:00:00",
         "Номенклатура_Key": stock_shop.items[4], "СтруктурнаяЕдиница_Key":
         stock_shop.warehouse_ref, "ЗаказПокупателя_Key": order, "Количество": 2},
        # Stock without an order is not a reserve.
        {"RecordType": "Receipt", "Period": "2025-01-01T00:00:00",
         "Номенклатура_Key": stock_shop.items[5], "СтруктурнаяЕдиница_Key":
         stock_shop.warehouse_ref, "Количество": 6}])
    stock_push(account=stock_shop.account)
    items = queued_items()
    assert items[stock_shop.offers[4]] == 5 - 2
    assert items[stock_shop.offers[5]] == 6
    send_all()
    assert keycrm_quantity(keycrm, stock_shop.offers[4], stock_shop.warehouse_id) == 3

    StockSettings.objects.filter(pk=stock_shop.settings.pk).update(subtract_reserves=False)
    result = stock_push(account=stock_shop.account)
    assert result.changed == 1
    assert queued_items() == {stock_shop.offers[4]: 5}


def test_offers_matched_by_product_correspondence_and_by_article(db, keycrm, bas,
                                                                 keycrm_account,
                                                                 bas_connection):
    shop = build_stock_shop(keycrm, bas, keycrm_account, bas_connection, size=3, link=False)
    shop.move(bas, {0: 4, 1: 5, 2: 6})
    product_of_first = keycrm.store.offers[shop.offers[0]]["product_id"]
    DirectoryEntry.objects.bulk_create([
        DirectoryEntry(account=keycrm_account, directory=KeyCrmDirectory.OFFER,
                       keycrm_id=offer, parent_keycrm_id=keycrm.store.offers[offer]["product_id"],
                       sku=sku)
        for offer, sku in zip(shop.offers, shop.skus, strict=True)])
    DirectoryEntry.objects.filter(keycrm_id=shop.offers[2]).update(sku="SOMETHING-ELSE")
    Correspondence.objects.create(account=keycrm_account, directory=KeyCrmDirectory.PRODUCT,
                                  keycrm_id=product_of_first, bas_entity_set=NOMENCLATURE,
                                  bas_ref=shop.items[0])
    result = stock_push(account=shop.account)
    # Offer 0 through its product, offer 1 through Артикул = SKU; item 2 matches no offer.
    assert queued_items() == {shop.offers[0]: 4, shop.offers[1]: 5}
    assert result.unlinked_items == 1
    assert "1 BAS item(s) in stock are linked to no offer" in result.summary


def test_an_offer_that_left_the_balances_goes_to_zero_and_nothing_else_is_sent(
        stock_shop, bas, keycrm):
    stock_push(account=stock_shop.account)
    send_all()
    stock_shop.move(bas, {9: 10}, expense=True)  # the last item sold out: 1 of 10 offers
    result = stock_push(account=stock_shop.account)
    assert (result.state, result.dropping_to_zero) == ("queued", 1)
    assert queued_items() == {stock_shop.offers[9]: 0}
    send_all()
    assert keycrm_quantity(keycrm, stock_shop.offers[9], stock_shop.warehouse_id) == 0
    assert stock_push(account=stock_shop.account).state == "unchanged"
    assert PushedStock.objects.get(offer_id=stock_shop.offers[9]).quantity == 0


def test_a_push_while_the_previous_one_is_unsent_queues_nothing(stock_shop, bas, keycrm):
    stock_push(account=stock_shop.account)
    stock_shop.move(bas, {0: 1})
    result = stock_push(account=stock_shop.account)
    assert result.state == "busy"
    assert OutboxMessage.objects.filter(kind=STOCK_KIND).count() == 1
    assert "still being sent" in StockSettings.objects.get().last_summary


def test_a_push_supersedes_a_batch_that_waits_for_a_person(stock_shop, bas, keycrm):
    stock_push(account=stock_shop.account)
    keycrm.set_keys(["another-key"])  # 401: the message waits for a person
    send_all()
    waiting = OutboxMessage.objects.get(kind=STOCK_KIND)
    assert waiting.state == OutboxState.WAITING
    keycrm.set_keys(["test-key"])
    assert stock_push(account=stock_shop.account).changed == 10  # KeyCRM confirmed nothing
    waiting.refresh_from_db()
    assert waiting.state == OutboxState.SUPERSEDED
    assert send_all() == 1
    assert keycrm_quantity(keycrm, stock_shop.offers[0], stock_shop.warehouse_id) == 1


def test_accounting_has_no_stock_register_and_says_so(stock_shop, bas_connection, admin_client,
                                                      keycrm):
    bas_connection.configuration = "accounting"
    bas_connection.save(update_fields=["configuration"])
    with pytest.raises(StockExportError, match="not available for BAS Accounting"):
        stock_push(account=stock_shop.account)
    assert "not available for BAS Accounting" in StockSettings.objects.get().last_error
    assert not OutboxMessage.objects.exists()
    page = admin_client.get(reverse("admin:stock_stocksettings_change",
                                    args=[stock_shop.settings.pk]))
    assert "not available for BAS Accounting" in page.content.decode()


def test_the_schedule_claims_each_due_account_once_and_the_task_pushes(
        stock_shop, django_capture_on_commit_callbacks):
    StockSettings.objects.update(enabled=True, interval_minutes=10)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert dispatch_due_stock_pushes() == 1
    assert len(callbacks) == 1
    assert stock_due_accounts() == []  # claimed: not due again for 10 minutes
    run = Run.objects.get(kind="stock.push")
    assert run.state == RunState.QUEUED
    assert push_stock(run.pk) == RunState.DONE
    run.refresh_from_db()
    assert run.result["changed"] == 10
    assert run.done == 10
    assert "10 of 10 offers queued in 1 call(s)" in run.message
    assert OutboxMessage.objects.filter(kind=STOCK_KIND).count() == 1
    assert push_stock(run.pk) == RunState.DONE  # a finished run is not pushed twice
    assert OutboxMessage.objects.filter(kind=STOCK_KIND).count() == 1


def test_command_dry_run_then_push(stock_shop, keycrm, capsys):
    call_command("stock_push", "--account", str(stock_shop.account.pk), "--dry-run")
    out = capsys.readouterr().out
    assert "Dry run: 10 of 10 offers would be sent in 1 call(s)" in out
    assert not OutboxMessage.objects.exists()
    call_command("stock_push")
    assert "10 of 10 offers queued" in capsys.readouterr().out
    assert send_all() == 1
    assert keycrm_quantity(keycrm, stock_shop.offers[2], stock_shop.warehouse_id) == 3


def test_admin_actions_start_runs_and_go_to_the_run_page(stock_shop, admin_client,
                                                         django_capture_on_commit_callbacks):
    url = reverse("admin:stock_stocksettings_changelist")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(url, {"action": "dry_run",
                                           "_selected_action": [stock_shop.settings.pk]})
    run = Run.objects.get()
    assert run.dry_run
    assert response.status_code == 302
    assert response["Location"] == run_url(run)
    assert len(callbacks) == 1
    push_stock(run.pk)
    run.refresh_from_db()
    assert run.result["state"] == "dry_run"
    assert run.result["preview"][0] == {"id": stock_shop.offers[0], "quantity": 1}
    assert not OutboxMessage.objects.exists()
    admin_client.post(url, {"action": "push_now", "_selected_action": [stock_shop.settings.pk]})
    push_stock(Run.objects.exclude(pk=run.pk).get().pk)
    assert OutboxMessage.objects.filter(kind=STOCK_KIND).count() == 1


def test_admin_form_offers_the_bas_warehouses_and_saves_the_choice(stock_shop, admin_client,
                                                                   bas):
    url = reverse("admin:stock_stocksettings_change", args=[stock_shop.settings.pk])
    page = admin_client.get(url).content.decode()
    assert f'value="{stock_shop.warehouse_ref}"' in page
    typed = str(uuid.uuid4())
    response = admin_client.post(url, {
        "enabled": "on", "interval_minutes": 5, "bas_warehouses": [stock_shop.warehouse_ref],
        "typed_warehouses": typed, "keycrm_warehouse_id": stock_shop.warehouse_id,
        "subtract_reserves": "on", "zero_drop_percent": 40})
    assert response.status_code == 302, response.content.decode()[-2000:]
    row = StockSettings.objects.get()
    assert row.bas_warehouses == [stock_shop.warehouse_ref, typed]
    assert (row.enabled, row.interval_minutes, row.zero_drop_percent) == (True, 5, 40)


def test_an_unexpected_error_fails_the_run_and_reaches_the_worker(stock_shop, settings):
    run = stock_push_start(account=stock_shop.account)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # the BAS password is lost

    with pytest.raises(SecretUnreadable):
        push_stock(run.pk)

    run.refresh_from_db()
    assert run.state == RunState.FAILED
    assert "FIELD_ENCRYPTION_KEYS" in run.message
    assert not OutboxMessage.objects.exists()
