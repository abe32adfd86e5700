"""The issue's stock test: 5,000 offers — the first push in the fewest calls the batch limit
allows, a second push with exactly the 50 changed balances, a push where 60 % of the offers
would drop to zero refused with a visible reason, and a dry run that sends nothing."""

from __future__ import annotations

import math
import time

import pytest
from django.urls import reverse

from integration.pipelines.stock_to_keycrm import STOCK_KIND, stock_push
from staging.models import OutboxMessage, OutboxState
from stock.models import PushedStock, StockSettings
from tests.stock.conftest import build_stock_shop, keycrm_quantity, send_all

SIZE = 5000


def stock_puts(keycrm) -> list[dict]:
    return keycrm.requests(method="PUT", path_contains="/offers/stocks")


@pytest.mark.parametrize("batch_size", [10_000, 2000])
def test_five_thousand_offers(keycrm, bas, keycrm_account, bas_connection, admin_client,
                              settings, batch_size):
    settings.STOCK_BATCH_SIZE = batch_size
    started = time.monotonic()
    shop = build_stock_shop(keycrm, bas, keycrm_account, bas_connection, size=SIZE)
    shop.move(bas, {i: 1 + i % 7 for i in range(SIZE)})
    keycrm.clear_log()
    setup_s = time.monotonic() - started

    # The dry run reports the counts and sends nothing.
    preview = stock_push(account=shop.account, dry_run=True)
    assert (preview.state, preview.changed, preview.offers) == ("dry_run", SIZE, SIZE)
    assert preview.messages == math.ceil(SIZE / batch_size)
    assert preview.preview[0] == {"id": shop.offers[0], "quantity": 1}
    assert not OutboxMessage.objects.exists()
    assert stock_puts(keycrm) == []

    # First push: everything, in ⌈5000 / batch⌉ calls.
    started = time.monotonic()
    first = stock_push(account=shop.account)
    assert (first.state, first.changed) == ("queued", SIZE)
    assert send_all() == math.ceil(SIZE / batch_size)
    first_s = time.monotonic() - started
    assert len(stock_puts(keycrm)) == math.ceil(SIZE / batch_size)
    assert all(r["status"] == 202 for r in stock_puts(keycrm))
    assert [keycrm_quantity(keycrm, offer, shop.warehouse_id) for offer in shop.offers] == [
        1 + i % 7 for i in range(SIZE)]
    assert PushedStock.objects.filter(account=shop.account).count() == SIZE

    # Second push: 50 balances changed → one call carrying exactly those 50.
    changed = {i: 3 for i in range(0, SIZE, SIZE // 50)}
    shop.move(bas, changed)
    keycrm.clear_log()
    second = stock_push(account=shop.account)
    assert (second.state, second.changed) == ("queued", 50)
    message = OutboxMessage.objects.filter(kind=STOCK_KIND, state=OutboxState.QUEUED).get()
    assert sorted(item["id"] for item in message.payload["stocks"]) == sorted(
        shop.offers[i] for i in changed)
    assert send_all() == 1
    assert len(stock_puts(keycrm)) == 1
    assert all(keycrm_quantity(keycrm, shop.offers[i], shop.warehouse_id) == 1 + i % 7 + 3
               for i in changed)

    # 60 % of the offers would drop to zero: refused, nothing queued or sent, reason shown.
    shop.move(bas, {i: 1 + i % 7 + changed.get(i, 0) for i in range(SIZE * 6 // 10)},
              expense=True)
    keycrm.clear_log()
    refused = stock_push(account=shop.account)
    assert refused.state == "refused"
    assert refused.dropping_to_zero == 3000
    assert refused.in_stock_before == SIZE
    assert not OutboxMessage.objects.filter(state=OutboxState.QUEUED).exists()
    assert send_all() == 0
    assert stock_puts(keycrm) == []
    row = StockSettings.objects.get(pk=shop.settings.pk)
    assert "3000 of 5000 offers in stock (60 %)" in row.last_refusal
    assert row.last_refusal_at is not None
    page = admin_client.get(reverse("admin:stock_stocksettings_changelist"))
    assert "3000 of 5000 offers in stock" in page.content.decode()
    assert keycrm_quantity(keycrm, shop.offers[0], shop.warehouse_id) == 4  # unchanged

    print(f"\nstock {SIZE} offers, batch {batch_size}: setup {setup_s:.1f}s, "
          f"first push+send {first_s:.1f}s, {math.ceil(SIZE / batch_size)} call(s)")
