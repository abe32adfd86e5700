"""Customer orders entered in BAS become KeyCRM orders: once, however many checks run and
even when KeyCRM's answer to the POST is lost; linked both ways; and nothing echoes back."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import polib
import pytest
from django.utils import translation

from integration.models import BasChangesSettings, BasDocumentState
from mappings.models import Correspondence
from staging.models import OutboxMessage
from tests.integration.pipelines.helpers import (
    ORDERS,
    STATES,
    bas_writes,
    check,
    keycrm_writes,
    send_outbox,
    webhook,
    work,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def creating(shop):
    BasChangesSettings.objects.create(account=shop.account, create_orders=True,
                                      keycrm_source_id=shop.source_id)
    return shop


def _bas_order(bas, shop, *, state: str = "Нове", posted: bool = True) -> str:
    """What an accountant enters in BAS: a buyer with a phone and an e-mail, two lines."""
    ref = bas.reference("sb")
    [buyer] = bas.seed("sb", {"Catalog_Контрагенты": [{
        "Description": "ТОВ Ромашка", "КонтактнаяИнформация": [
            {"Тип": "Телефон", "НомерТелефона": "+380501112233",
             "Представление": "+380 50 111 22 33"},
            {"Тип": "АдресЭлектроннойПочты", "АдресЭП": "buy@romashka.ua",
             "Представление": "buy@romashka.ua"}]}]})["Catalog_Контрагенты"]
    line = {"ЕдиницаИзмерения": ref["Catalog_КлассификаторЕдиницИзмерения"]["pcs"],
            "ЕдиницаИзмерения_Type": "StandardODATA.Catalog_КлассификаторЕдиницИзмерения",
            "СтавкаНДС_Key": ref["Catalog_СтавкиНДС"]["20"]}
    now = dt.datetime.now(ZoneInfo("Europe/Kyiv")).strftime("%Y-%m-%dT%H:%M:%S")
    [document] = bas.seed("sb", {ORDERS: [{
        "Date": now, "Posted": posted, "ВидОперации": "ЗаказНаПродажу",
        "Организация_Key": ref["Catalog_Организации"]["main"], "Контрагент_Key": buyer,
        "ВалютаДокумента_Key": ref["Catalog_Валюты"]["UAH"], "Курс": 1, "Кратность": 1,
        "НалогообложениеНДС": "ОблагаетсяНДС",
        "СтруктурнаяЕдиницаПродажи_Key": ref["Catalog_СтруктурныеЕдиницы"]["sales"],
        "СостояниеЗаказа": shop.states[state], "СостояниеЗаказа_Type": f"StandardODATA.{STATES}",
        "Запасы": [
            {"LineNumber": "1", "Номенклатура_Key": shop.items["TSH-BLK"], "Количество": 2,
             "Цена": 150, "Сумма": 300, **line},
            {"LineNumber": "2", "Номенклатура_Key": shop.items["CAP-1"], "Количество": 1,
             "Цена": 200, "Сумма": 200, **line}]}]})[ORDERS]
    return document


def _keycrm_orders(keycrm, ref: str) -> list[dict]:
    return [o for o in keycrm.store.orders.values() if o["source_uuid"] == ref]


def test_an_order_entered_in_bas_appears_once_in_keycrm_with_buyer_and_lines(creating, keycrm,
                                                                              bas):
    ref = _bas_order(bas, creating, state="Підтверджено")
    assert check(creating.account).orders == 1
    assert check(creating.account).orders == 0  # the second check finds it queued
    send_outbox()  # the create, then the status it has in BAS
    send_outbox()
    [order] = _keycrm_orders(keycrm, ref)
    assert order["source_id"] == creating.source_id
    assert order["status_id"] == creating.statuses["Підтверджено"]
    buyer = keycrm.store.buyers[order["client_id"]]
    assert buyer["full_name"] == "ТОВ Ромашка"
    assert [(line["sku"], line["quantity"], line["price"]) for line in order["lines"]] == [
        ("TSH-BLK", 2, 150), ("CAP-1", 1, 200)]
    link = Correspondence.objects.get(account=creating.account, directory="order",
                                      keycrm_id=order["id"])
    assert (str(link.bas_ref), link.origin) == (ref, "imported")


def test_the_next_check_writes_the_keycrm_number_into_bas_and_then_nothing(creating, keycrm,
                                                                          bas):
    ref = _bas_order(bas, creating)
    check(creating.account)
    send_outbox()
    [order] = _keycrm_orders(keycrm, ref)
    keycrm.clear_log()
    bas.clear_log()
    summary = check(creating.account)
    assert summary.numbers == 1
    assert bas.get_object("sb", ORDERS, ref)["НомерВходящегоДокумента"] == f"KC-{order['id']}"
    assert [method for method, _ in bas_writes(bas)] == ["PATCH"]
    bas.clear_log()
    summary = check(creating.account)  # the link exists: zero writes either way
    assert (summary.orders, summary.statuses, summary.numbers) == (0, 0, 0)
    assert send_outbox() == []
    assert keycrm_writes(keycrm) == []
    assert bas_writes(bas) == []


def test_a_lost_answer_to_the_post_never_makes_a_second_order(creating, keycrm, bas, settings):
    settings.STAGING_RETRY_BASE_SECONDS = 0
    ref = _bas_order(bas, creating)
    check(creating.account)
    keycrm.set_faults(drop_after_commit_count=1, only_methods=["POST"], path_contains="/order")
    [message] = send_outbox()
    assert message.state == "retry", message.message
    assert len(_keycrm_orders(keycrm, ref)) == 1  # it was created; we did not hear
    assert check(creating.account).orders == 0  # the retry is pending: not queued again
    [message] = send_outbox()
    assert message.state == "sent", message.message
    assert message.result["found"] is True
    assert len(_keycrm_orders(keycrm, ref)) == 1
    assert len(keycrm.requests(method="POST", path_contains="/order")) == 1
    assert OutboxMessage.objects.filter(key=f"bas-order:{ref}").count() == 1
    check(creating.account)
    assert send_outbox() == []
    assert len(_keycrm_orders(keycrm, ref)) == 1


def test_the_keycrm_change_after_the_creation_writes_nothing_to_bas(client, creating, keycrm,
                                                                   bas):
    ref = _bas_order(bas, creating, state="Відправлено")
    check(creating.account)
    send_outbox()
    send_outbox()
    [order] = _keycrm_orders(keycrm, ref)
    bas.clear_log()
    assert webhook(client, creating.account, keycrm, order["id"]).status_code == 200
    [record] = work()
    assert record.state == "done", record.message
    assert "nothing was written" in record.message
    assert bas_writes(bas) == []
    assert len(bas.objects("sb", ORDERS)) == 1


def test_drafts_and_disabled_creation_send_nothing(shop, keycrm, bas):
    _bas_order(bas, shop)  # creation is off by default
    assert check(shop.account).orders == 0
    BasChangesSettings.objects.filter(account=shop.account).update(
        create_orders=True, keycrm_source_id=shop.source_id)
    bas.reset()  # only a draft now
    draft = _bas_order(bas, shop, posted=False)
    assert check(shop.account).orders == 0
    assert send_outbox() == []
    assert keycrm.requests(method="POST") == []
    assert not BasDocumentState.objects.filter(bas_ref=draft).exists()


def test_a_document_whose_buyer_was_deleted_does_not_stop_the_others(creating, keycrm, bas):
    broken = _bas_order(bas, creating)
    with bas.lock:  # its counterparty no longer exists in BAS
        bas.infobase("sb").update(ORDERS, broken, {"Контрагент_Key": str(uuid.uuid4())})
    fine = _bas_order(bas, creating)
    summary = check(creating.account)
    assert (summary.documents, summary.orders) == (2, 1)
    number = bas.get_object("sb", ORDERS, broken)["Number"]
    [problem] = summary.problems
    assert problem.startswith(f"{ORDERS} {number}: ")
    assert [m.key for m in OutboxMessage.objects.all()] == [f"bas-order:{fine}"]
    row = BasChangesSettings.objects.get(account=creating.account)
    assert (row.last_error, row.last_success_at is not None) == ("", True)
    assert problem in row.last_summary


def test_outbox_causes_and_the_link_note_follow_the_language(creating, keycrm, bas, tmp_path,
                                                             settings):
    # A catalogue of our own for these messages: the shipped one may not have them yet.
    catalogue = polib.POFile()
    catalogue.metadata = {"Content-Type": "text/plain; charset=UTF-8"}
    for msgid in ("%(document)s %(number)s was entered in BAS",
                  "%(document)s %(number)s: the state it has in BAS",
                  "created in KeyCRM from the BAS document"):
        catalogue.append(polib.POEntry(msgid=msgid, msgstr=f"uk: {msgid}"))
    (tmp_path / "uk" / "LC_MESSAGES").mkdir(parents=True)
    catalogue.save_as_mofile(str(tmp_path / "uk" / "LC_MESSAGES" / "django.mo"))
    settings.LOCALE_PATHS = [str(tmp_path), *settings.LOCALE_PATHS]
    ref = _bas_order(bas, creating, state="Підтверджено")
    with translation.override("uk"):
        check(creating.account)
        send_outbox()
    number = bas.get_object("sb", ORDERS, ref)["Number"]
    created, status = OutboxMessage.objects.order_by("id")
    assert created.cause == f"uk: {ORDERS} {number} was entered in BAS"
    assert status.cause == f"uk: {ORDERS} {number}: the state it has in BAS"
    link = Correspondence.objects.get(account=creating.account, directory="order")
    assert link.note == "uk: created in KeyCRM from the BAS document"
