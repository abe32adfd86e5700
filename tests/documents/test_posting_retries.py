"""A document-by-status action whose posting failed is posted by the next attempt: the retry
finds the document it wrote (sales invoice, return, closed order) and posts it, instead of
ending as "already exists" with the document left unposted."""

# ruff: noqa: F811 - the sb fixture of test_small_business is imported to be used by name

from __future__ import annotations

import pytest

from documents.models import DocumentAction
from staging.services.queue import records_requeue
from tests.documents.helpers import webhook, work
from tests.documents.test_small_business import sb  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db

ORDERS = "Document_ЗаказПокупателя"
INVOICES = "Document_РасходнаяНакладная"
RETURNS = "Document_ПриходнаяНакладная"


def _fail_posting_once(bas, entity_set: str) -> None:
    bas.set_faults(error_count=1, error_status=500, only_methods=["POST"],
                   path_contains=f"{entity_set}(")


def _retry(record):
    records_requeue(records=[record], who="test")
    [again] = work()
    return again


def _posts(bas, entity_set: str) -> list[dict]:
    return [r for r in bas.requests(method="POST", path_contains=f"{entity_set}(")
            if r["path"].endswith(("/Post", "/Post()"))]


def test_an_invoice_whose_posting_failed_is_posted_on_the_retry(client, shop, sb, keycrm, bas):
    order_id = shop.order(keycrm, status="Відправлено")
    _fail_posting_once(bas, INVOICES)
    webhook(client, shop.account, keycrm, order_id)
    [record] = work()
    assert record.state == "retry", record.message
    [invoice] = bas.objects("sb", INVOICES)
    assert invoice["Posted"] is False

    bas.set_faults()
    again = _retry(record)
    assert again.state == "done", again.message
    [invoice] = bas.objects("sb", INVOICES)  # found, not created twice
    assert invoice["Posted"] is True
    ship = DocumentAction.objects.get(action="ship")
    assert (ship.outcome, ship.document_number) == ("done", invoice["Number"])
    assert "now posted" in ship.reason


def test_a_return_whose_posting_failed_is_posted_on_the_retry(client, shop, sb, keycrm, bas):
    order_id = shop.order(keycrm, status="Відправлено")
    webhook(client, shop.account, keycrm, order_id)
    assert [r.state for r in work()] == ["done"]
    keycrm.set_order_status(order_id, shop.statuses["Скасовано"])
    _fail_posting_once(bas, RETURNS)
    webhook(client, shop.account, keycrm, order_id)
    [record] = work()
    assert record.state == "retry", record.message
    [returned] = bas.objects("sb", RETURNS)
    assert returned["Posted"] is False

    bas.set_faults()
    again = _retry(record)
    assert again.state == "done", again.message
    [returned] = bas.objects("sb", RETURNS)
    assert returned["Posted"] is True
    assert DocumentAction.objects.get(action="return").outcome == "done"


def test_a_closed_order_whose_posting_failed_is_posted_on_the_retry(client, shop, sb, keycrm,
                                                                    bas):
    ref, _methods = sb
    order_id = shop.order(keycrm, status="Підтверджено")
    webhook(client, shop.account, keycrm, order_id)
    assert [r.state for r in work()] == ["done"]
    # The order's own update does not post it again, so the one failing posting is the
    # close's re-posting.
    shop.profile.post_documents = False
    shop.profile.save(update_fields=["post_documents"])
    keycrm.set_order_status(order_id, shop.statuses["Скасовано"])
    webhook(client, shop.account, keycrm, order_id)
    _fail_posting_once(bas, ORDERS)
    [record] = work()
    assert record.state == "retry", record.message
    [order] = bas.objects("sb", ORDERS)
    assert order["ВариантЗавершения"] == "Отменен"  # patched; the posting after it failed
    posts_before = len(_posts(bas, ORDERS))

    bas.set_faults()
    again = _retry(record)
    assert again.state == "done", again.message
    assert len(_posts(bas, ORDERS)) > posts_before
    close = DocumentAction.objects.get(action="close")
    assert (close.outcome, close.attempts) == ("done", 2)
    assert "now posted" in close.reason
    assert bas.objects("sb", ORDERS)[0]["СостояниеЗаказа"] == \
        ref["Catalog_СостоянияЗаказовПокупателей"]["Завершен"]

