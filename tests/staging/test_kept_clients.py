"""A worker keeps its KeyCRM and BAS clients between records of one account — the orders
after the first reuse open connections — and makes new ones when the account's address,
key or limit, or its connection, changes."""

from __future__ import annotations

import pytest

from staging.models import RecordState
from staging.services import process
from staging.services.process import record_process
from staging.services.queue import records_due
from tests.reliability.conftest import post_webhook, webhook_body

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_kept_clients():
    process.clients_forget()
    yield
    process.clients_forget()


def _process_all() -> list:
    return [record_process(record_id=rid, worker="w") for rid in records_due()]


def test_records_of_one_account_share_the_clients_until_the_account_changes(client, shop,
                                                                            keycrm, bas):
    for _ in range(3):
        post_webhook(client, shop.account, webhook_body(keycrm, shop.order(keycrm)))
    first = process._clients_for(shop.account)
    assert [r.state for r in _process_all()] == [RecordState.DONE] * 3
    assert process._clients_for(shop.account) is first

    shop.account.requests_per_minute = 77
    shop.account.save(update_fields=["requests_per_minute"])
    renewed = process._clients_for(shop.account)
    assert renewed is not first
    assert renewed.keycrm.budget.limit == 77

    shop.account.bas_connection.set_password("changed")
    shop.account.bas_connection.save()
    assert process._clients_for(shop.account) is not renewed


def test_clients_idle_too_long_are_made_anew(shop, monkeypatch):
    kept = process._clients_for(shop.account)
    monkeypatch.setattr(process, "CLIENTS_IDLE_SECONDS", 0.0)
    assert process._clients_for(shop.account) is not kept
