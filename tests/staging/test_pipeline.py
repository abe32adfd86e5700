"""An order from KeyCRM into BAS, end to end: webhook → stored record → worker → posted
document with its counterparty, lines, sums and state; a status change updates it."""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import quote

import pytest
import requests
from django.urls import reverse

from integration.keycrm.client import KeyCrmClient
from mappings.models import Correspondence, PropertyMapping
from staging.models import InboundRecord, RecordSource
from staging.services.process import record_process
from staging.services.queue import records_due
from staging.services.receive import order_snapshot_receive

pytestmark = pytest.mark.django_db

ORDERS = "Document_ЗаказПокупателя"


def _webhook(client, account, keycrm, order_id: int, event: str = "order.change_order_status"):
    context = keycrm.store.orders[order_id]
    body = {"event": event, "context": {
        "id": order_id, "status_id": context["status_id"],
        "status_changed_at": context["status_changed_at"].isoformat()
        if hasattr(context["status_changed_at"], "isoformat") else context["status_changed_at"],
        "updated_at": str(context["updated_at"])}}
    return client.post(reverse("keycrm_webhook", args=[account.webhook_token]),
                       data=json.dumps(body), content_type="application/json")


def _work() -> list[InboundRecord]:
    done = []
    for record_id in records_due():
        record = record_process(record_id=record_id, worker="test-worker")
        if record:
            done.append(record)
    return done


def test_a_webhook_for_a_new_order_makes_one_posted_document(client, shop, keycrm, bas):
    campaign = uuid.UUID(int=42)
    PropertyMapping.objects.create(profile=shop.profile, property_ref=campaign,
                                   property_name="Рекламна кампанія",
                                   source_path="marketing.utm_campaign")
    order_id = shop.order(keycrm, status="Підтверджено",
                          marketing={"utm_source": "google", "utm_campaign": "spring_sale"})
    response = _webhook(client, shop.account, keycrm, order_id)
    assert response.status_code == 200
    [record] = _work()
    assert record.state == "done", record.message
    [document] = bas.objects("sb", ORDERS)
    assert document["Posted"] is True
    assert document["НомерВходящегоДокумента"] == f"KC-{order_id}"
    assert document["СостояниеЗаказа"] == shop.states["Підтверджено"]
    assert [(row["Номенклатура_Key"], row["Количество"], row["Сумма"], row["СуммаНДС"])
            for row in document["Запасы"]] == [
        (shop.items["TSH-BLK"], 1, 100, pytest.approx(16.67)),
        (shop.items["CAP-1"], 2, 400, pytest.approx(66.67))]
    assert [(row["Свойство_Key"], row["Значение"])
            for row in document["ДополнительныеРеквизиты"]] == [(str(campaign), "spring_sale")]
    [counterparty] = bas.objects("sb", "Catalog_Контрагенты")
    assert counterparty["Description"] == "Олена Коваль"
    assert [c["НомерТелефона"] for c in counterparty["КонтактнаяИнформация"]
            if c["Тип"] == "Телефон"] == ["+380671234567"]
    assert document["Контрагент_Key"] == counterparty["Ref_Key"]
    assert record.bas_document_number == document["Number"]
    link = Correspondence.objects.get(account=shop.account, directory="order",
                                      keycrm_id=order_id)
    assert str(link.bas_ref) == document["Ref_Key"]


def test_a_status_change_updates_the_same_document(client, shop, keycrm, bas):
    order_id = shop.order(keycrm)
    _webhook(client, shop.account, keycrm, order_id)
    _work()
    keycrm.set_order_status(order_id, shop.statuses["Відправлено"])
    _webhook(client, shop.account, keycrm, order_id)
    [record] = _work()
    assert record.state == "done", record.message
    [document] = bas.objects("sb", ORDERS)
    assert document["СостояниеЗаказа"] == shop.states["Відправлено"]
    assert len(bas.objects("sb", "Catalog_Контрагенты")) == 1


def test_a_repeated_webhook_is_stored_as_a_duplicate_and_writes_nothing(client, shop, keycrm,
                                                                        bas):
    order_id = shop.order(keycrm)
    _webhook(client, shop.account, keycrm, order_id)
    second = _webhook(client, shop.account, keycrm, order_id)
    assert second.json()["state"] == "duplicate"
    assert [r.state for r in _work()] == ["done"]
    assert len(bas.objects("sb", ORDERS)) == 1


def test_an_unknown_sku_waits_for_a_person_naming_it(client, shop, keycrm, bas):
    order_id = shop.order(keycrm, skus=("NO-SUCH",))
    _webhook(client, shop.account, keycrm, order_id)
    [record] = _work()
    assert record.state == "waiting"
    assert "Артикул = NO-SUCH: none found" in record.message
    assert bas.objects("sb", ORDERS) == []


def test_matches_are_recorded_and_a_known_buyer_costs_the_protocol_minimum(client, shop,
                                                                           keycrm, bas):
    first = shop.order(keycrm)
    _webhook(client, shop.account, keycrm, first)
    _work()
    buyer_id = keycrm.store.orders[first]["client_id"]
    link = Correspondence.objects.get(account=shop.account, directory="buyer",
                                      keycrm_id=buyer_id)
    assert link.origin == "created"
    offer_links = Correspondence.objects.filter(account=shop.account, directory="offer")
    assert {str(c.bas_ref) for c in offer_links} == set(shop.items.values())
    assert all("found in Catalog_Номенклатура by Артикул" in c.note for c in offer_links)

    second = shop.order(keycrm)  # the same buyer, the same items
    _webhook(client, shop.account, keycrm, second)
    bas.clear_log()
    [record] = _work()
    assert record.state == "done", record.message
    calls = [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in bas.requests()]
    assert calls == [("POST", "Document_ЗаказПокупателя"),
                     ("POST", "Post")]  # one create, one post: nothing else is needed
    assert len(bas.objects("sb", "Catalog_Контрагенты")) == 1


def test_a_document_deleted_in_bas_is_made_again(client, shop, keycrm, bas):
    order_id = shop.order(keycrm)
    _webhook(client, shop.account, keycrm, order_id)
    _work()
    [document] = bas.objects("sb", ORDERS)
    # An accountant deletes it in BAS, behind the portal's back.
    url = f"{bas.url}/sb/odata/standard.odata/{quote(ORDERS)}(guid'{document['Ref_Key']}')"
    requests.post(f"{url}/Unpost", auth=(b"odata.user", b"odata"), timeout=5)
    assert requests.delete(url, auth=(b"odata.user", b"odata"), timeout=5).status_code == 204
    keycrm.set_order_status(order_id, shop.statuses["Відправлено"])
    _webhook(client, shop.account, keycrm, order_id)
    [record] = _work()
    assert record.state == "done", record.message
    [again] = bas.objects("sb", ORDERS)
    assert again["Ref_Key"] != document["Ref_Key"]
    assert again["СостояниеЗаказа"] == shop.states["Відправлено"]


def test_an_older_state_is_never_written_over_a_newer_one(client, shop, keycrm, bas):
    order_id = shop.order(keycrm)
    polled = KeyCrmClient.for_account(shop.account).get_order(order_id)  # a poll, page read…
    time.sleep(1.1)  # KeyCRM's updated_at has whole seconds
    keycrm.set_order_status(order_id, shop.statuses["Відправлено"])
    _webhook(client, shop.account, keycrm, order_id)
    assert [r.state for r in _work()] == ["done"]  # the webhook wrote the newest state
    # …and the poll's snapshot, older than what BAS has, is stored only now.
    late = order_snapshot_receive(account=shop.account, order=polled,
                                  source=RecordSource.POLL).record
    bas.clear_log()
    late = record_process(record_id=late.pk, worker="w")
    assert late.state == "done"
    assert "newer state of this order is already in BAS" in late.message
    assert bas.requests() == []
    [document] = bas.objects("sb", ORDERS)
    assert document["СостояниеЗаказа"] == shop.states["Відправлено"]
