"""The BAS OData client against the BAS emulator over real HTTP: every method, URL encoding,
UTF-8 logins, $metadata, error classification and the rule that a POST is never repeated
blindly."""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import quote

import pytest

from integration.bas import literals
from integration.bas.client import MAX_QUERY_BYTES, BasClient, BasError, BasErrorKind

ORDER = "Document_ЗаказПокупателя"
COUNTERPARTIES = "Catalog_Контрагенты"
ITEMS = "Catalog_Номенклатура"
KYIV = "Europe/Kyiv"


def _client(bas, base: str = "sb", **kwargs) -> BasClient:
    return BasClient(publication_url=f"{bas.url}/{base}", username="Адміністратор",
                     password="secret", timezone=KYIV, backoff_base=0.01, **kwargs)


@pytest.fixture
def client(bas):
    client = _client(bas)
    client.forget_metadata()
    yield client
    client.close()


@pytest.fixture
def goods(bas):
    """Two counterparties (one with a quote in its name) and three items in a folder."""
    folder = str(uuid.uuid4())
    refs = bas.seed("sb", {
        COUNTERPARTIES: [
            {"Description": "ТОВ «Ромашка»", "КодПоЕДРПОУ": "12345678", "Покупатель": True},
            {"Description": "Кафе O'Neil", "КодПоЕДРПОУ": "87654321", "Покупатель": True},
        ],
        ITEMS: [
            {"Ref_Key": folder, "IsFolder": True, "Description": "Одяг"},
            {"Description": "Футболка чорна", "Артикул": "TSH BLK", "Parent_Key": folder},
            {"Description": "Футболка біла", "Артикул": "TSH WHT", "Parent_Key": folder},
            {"Description": "Кепка", "Артикул": "CAP+1", "Parent_Key": folder},
        ],
    })
    return refs


def _order_body(bas, counterparty: str, item: str) -> dict:
    ref = bas.reference("sb")
    return {
        "Date": "2025-03-14T10:30:00",
        "ВидОперации": "ЗаказНаПродажу",
        "Организация_Key": ref["Catalog_Организации"]["main"],
        "Контрагент_Key": counterparty,
        "ВалютаДокумента_Key": ref["Catalog_Валюты"]["UAH"],
        "Курс": 1, "Кратность": 1,
        "НалогообложениеНДС": "ОблагаетсяНДС",
        "СуммаВключаетНДС": True,
        "СтруктурнаяЕдиницаПродажи_Key": ref["Catalog_СтруктурныеЕдиницы"]["sales"],
        "СтруктурнаяЕдиницаРезерв_Key": ref["Catalog_СтруктурныеЕдиницы"]["warehouse"],
        "ДатаОтгрузки": "2025-03-15T00:00:00",
        "НомерВходящегоДокумента": "KC-48213",
        "Комментарий": "KeyCRM order 48213",
        "Запасы": [{
            "LineNumber": "1", "Номенклатура_Key": item,
            "ЕдиницаИзмерения": ref["Catalog_КлассификаторЕдиницИзмерения"]["pcs"],
            "ЕдиницаИзмерения_Type": "StandardODATA.Catalog_КлассификаторЕдиницИзмерения",
            "Количество": 2, "Цена": 600, "Сумма": 1200,
            "СтавкаНДС_Key": ref["Catalog_СтавкиНДС"]["20"], "СуммаНДС": 200, "Всего": 1200,
        }],
    }


def test_service_document_and_metadata_of_both_configurations(bas):
    sb, acc = _client(bas, "sb"), _client(bas, "acc")
    assert "Document_ЗаказПокупателя" in sb.service_document()
    metadata = sb.metadata(refresh=True)
    assert metadata.functions_for(ORDER) >= {"Post", "Unpost"}
    assert "Запасы" in metadata.tabular_sections(ORDER)
    columns = {a.name for a in metadata.tabular_sections(ORDER)["Запасы"].attributes()}
    assert {"Номенклатура_Key", "Количество", "Цена", "ЕдиницаИзмерения"} <= columns
    assert metadata.function_binding("InformationRegister_ЦеныНоменклатуры", "SliceLast") == (
        "InformationRegister_ЦеныНоменклатуры")
    assert "Balance" in metadata.functions_for("AccumulationRegister_ЗапасыНаСкладах")
    acc_metadata = acc.metadata(refresh=True)
    assert not acc_metadata.has(ORDER)
    assert acc_metadata.function_binding("InformationRegister_ЦеныНоменклатуры", "SliceLast") == (
        "InformationRegister_ЦеныНоменклатуры_RecordType")


def test_metadata_is_fetched_once_per_connection(bas, client):
    client.metadata()
    client.metadata()
    _client(bas).metadata()  # another client of the same connection shares the cache
    assert len(bas.requests(path_contains="$metadata")) == 1


def test_cyrillic_login_goes_out_as_utf8_basic_auth(bas, client):
    client.list(COUNTERPARTIES, top=1)
    header = bas.requests()[-1]["authorization"]
    assert header == "Basic 0JDQtNC80ZbQvdGW0YHRgtGA0LDRgtC+0YA6c2VjcmV0"  # Адміністратор:secret


def test_spaces_travel_as_percent_20_and_filters_work(bas, client, goods):
    found = client.list(ITEMS, filter=f"Артикул eq {literals.string('TSH BLK')}",
                        select=["Ref_Key", "Description"])
    assert [f["Description"] for f in found] == ["Футболка чорна"]
    raw = bas.requests()[-1]["query"]
    assert "%20eq%20" in raw
    assert "+" not in raw
    plus = client.list(ITEMS, filter=f"Артикул eq {literals.string('CAP+1')}")
    assert [f["Description"] for f in plus] == ["Кепка"]  # a literal plus is %2B
    quoted = client.list(COUNTERPARTIES,
                         filter=f"Description eq {literals.string('Кафе O' + chr(39) + 'Neil')}")
    assert len(quoted) == 1
    path = bas.requests()[-1]["raw_path"]
    assert path == "/sb/odata/standard.odata/" + quote("Catalog_Контрагенты")  # UTF-8 %-encoded


def test_paging_count_and_get(client, goods):
    every = list(client.iterate(ITEMS, filter="IsFolder eq false", page_size=2,
                                select=["Ref_Key", "Description"]))
    assert sorted(e["Description"] for e in every) == ["Кепка", "Футболка біла",
                                                       "Футболка чорна"]
    assert client.count(ITEMS, filter="IsFolder eq false") == 3
    one = client.get(ITEMS, every[0]["Ref_Key"], select=["Ref_Key", "Description"])
    assert one["Description"] == every[0]["Description"]


def test_key_lookups_are_chunked_under_the_url_limit(bas, client):
    refs = bas.seed("sb", {COUNTERPARTIES: [{"Description": f"Клієнт {i}"}
                                            for i in range(70)]})[COUNTERPARTIES]
    bas.clear_log()
    found = client.get_by_keys(COUNTERPARTIES, refs, select=["Ref_Key"])
    assert sorted(f["Ref_Key"] for f in found) == sorted(refs)
    calls = bas.requests(path_contains=COUNTERPARTIES)
    assert len(calls) >= 3  # 70 GUIDs cannot go in one URL
    assert all(len(c["query"]) <= MAX_QUERY_BYTES for c in calls)
    assert all(c["status"] == 200 for c in calls)


def test_create_patch_post_unpost_and_mark_deleted(bas, client, goods):
    counterparty, item = goods[COUNTERPARTIES][0], goods[ITEMS][1]
    order = client.create(ORDER, _order_body(bas, counterparty, item))
    assert uuid.UUID(order["Ref_Key"])
    assert order["Number"]
    assert order["Posted"] is False
    client.post_document(ORDER, order["Ref_Key"])
    assert client.get(ORDER, order["Ref_Key"])["Posted"] is True
    changed = client.patch(ORDER, order["Ref_Key"], {"Комментарий": "Змінено"})
    assert changed.get("Комментарий", "Змінено") == "Змінено"
    assert client.get(ORDER, order["Ref_Key"])["Комментарий"] == "Змінено"
    client.unpost_document(ORDER, order["Ref_Key"])
    assert client.get(ORDER, order["Ref_Key"])["Posted"] is False
    client.mark_deleted(ORDER, order["Ref_Key"])
    assert client.get(ORDER, order["Ref_Key"])["DeletionMark"] is True
    client.delete(ORDER, order["Ref_Key"])
    with pytest.raises(BasError) as gone:
        client.get(ORDER, order["Ref_Key"])
    assert gone.value.kind == BasErrorKind.NOT_FOUND


def test_if_match_refuses_a_stale_write(client, goods):
    ref = goods[COUNTERPARTIES][0]
    version = client.get(COUNTERPARTIES, ref)["DataVersion"]
    client.patch(COUNTERPARTIES, ref, {"Комментарий": "перший"}, if_match=version)
    with pytest.raises(BasError) as stale:
        client.patch(COUNTERPARTIES, ref, {"Комментарий": "другий"}, if_match=version)
    assert stale.value.kind == BasErrorKind.CONFLICT
    assert stale.value.status == 412


def test_a_posting_refusal_is_a_business_error_naming_the_field(bas, client, goods):
    body = _order_body(bas, goods[COUNTERPARTIES][0], goods[ITEMS][1])
    del body["Контрагент_Key"]
    order = client.create(ORDER, body)  # an unposted document may be incomplete
    bas.clear_log()
    with pytest.raises(BasError) as refused:
        client.post_document(ORDER, order["Ref_Key"])
    error = refused.value
    assert (error.kind, error.status, error.code, error.retryable) == (
        BasErrorKind.BUSINESS, 500, "-1", False)
    assert "Контрагент" in str(error)
    assert len(bas.requests(method="POST")) == 1  # never retried


def test_balance_and_slice_last(bas, goods):
    sb, acc = _client(bas, "sb"), _client(bas, "acc")
    ref = bas.reference("sb")
    warehouse = ref["Catalog_СтруктурныеЕдиницы"]["warehouse"]
    item = goods[ITEMS][1]
    bas.add_movements("sb", "AccumulationRegister_ЗапасыНаСкладах", [
        {"Period": "2025-03-01T00:00:00", "RecordType": "Receipt", "Номенклатура_Key": item,
         "СтруктурнаяЕдиница_Key": warehouse, "Организация_Key": ref["Catalog_Организации"]
         ["main"], "Количество": 10},
        {"Period": "2025-03-02T00:00:00", "RecordType": "Expense", "Номенклатура_Key": item,
         "СтруктурнаяЕдиница_Key": warehouse, "Организация_Key": ref["Catalog_Организации"]
         ["main"], "Количество": 3},
    ])
    rows = sb.balance("AccumulationRegister_ЗапасыНаСкладах",
                      condition=f"СтруктурнаяЕдиница_Key eq {literals.guid(warehouse)}",
                      dimensions=["Номенклатура", "Характеристика"],
                      select=["Номенклатура_Key", "КоличествоBalance"])
    assert [(r["Номенклатура_Key"], r["КоличествоBalance"]) for r in rows] == [(item, 7)]
    retail = ref["Catalog_ВидыЦен"]["retail"]
    bas.add_movements("sb", "InformationRegister_ЦеныНоменклатуры", [
        {"Period": "2025-03-01T00:00:00", "ВидЦен_Key": retail, "Номенклатура_Key": item,
         "Цена": 600},
        {"Period": "2025-03-10T00:00:00", "ВидЦен_Key": retail, "Номенклатура_Key": item,
         "Цена": 650},
    ])
    prices = sb.slice_last("InformationRegister_ЦеныНоменклатуры",
                           period=dt.datetime(2025, 3, 14, tzinfo=dt.UTC),
                           condition=f"ВидЦен_Key eq {literals.guid(retail)}")
    assert [(p["Номенклатура_Key"], p["Цена"]) for p in prices] == [(item, 650)]
    # BAS Accounting binds SliceLast to the _RecordType set: the client reads $metadata.
    acc_items = bas.seed("acc", {ITEMS: [{"Description": "Папір А4", "Артикул": "A4"}]})[ITEMS]
    price_type = bas.reference("acc")["Catalog_ТипыЦенНоменклатуры"]["retail"]
    bas.add_movements("acc", "InformationRegister_ЦеныНоменклатуры", [
        {"Period": "2025-03-01T00:00:00", "ТипЦен_Key": price_type,
         "Номенклатура_Key": acc_items[0], "Цена": 250}])
    acc_prices = acc.slice_last("InformationRegister_ЦеныНоменклатуры",
                                condition=f"ТипЦен_Key eq {literals.guid(price_type)}")
    assert [p["Цена"] for p in acc_prices] == [250]
    assert "_RecordType/SliceLast" in bas.requests()[-1]["path"]


def test_a_lost_answer_to_a_create_is_never_repeated_blindly(bas, client, goods):
    bas.set_faults(drop_after_commit_count=1, only_methods=["POST"])
    body = _order_body(bas, goods[COUNTERPARTIES][0], goods[ITEMS][1])
    with pytest.raises(BasError) as unknown:
        client.create(ORDER, body)
    assert unknown.value.outcome_unknown
    assert unknown.value.retryable
    assert len(bas.requests(method="POST")) == 1
    assert len(bas.objects("sb", ORDER)) == 1  # BAS did save it


def test_a_lost_answer_is_verified_by_a_search_before_writing_again(bas, client, goods):
    body = _order_body(bas, goods[COUNTERPARTIES][0], goods[ITEMS][1])
    verify = f"НомерВходящегоДокумента eq {literals.string('KC-48213')}"
    bas.set_faults(drop_after_commit_count=1, only_methods=["POST"])
    order = client.create(ORDER, body, verify_filter=verify)
    assert order["НомерВходящегоДокумента"] == "KC-48213"
    assert len(bas.requests(method="POST")) == 1  # found, not created twice
    assert len(bas.objects("sb", ORDER)) == 1


def test_a_post_refused_before_it_landed_is_sent_again_after_the_search(bas, client, goods):
    body = _order_body(bas, goods[COUNTERPARTIES][1], goods[ITEMS][2])
    body["НомерВходящегоДокумента"] = "KC-2"
    bas.set_faults(error_count=1, error_status=503, only_methods=["POST"])
    with pytest.raises(BasError) as outage:  # a 503 answer: known not to have landed
        client.create(ORDER, body, verify_filter="НомерВходящегоДокумента eq 'KC-2'")
    assert outage.value.kind == BasErrorKind.SERVER
    assert outage.value.retryable
    assert not outage.value.outcome_unknown
    assert len(bas.requests(method="POST")) == 1  # a POST is not retried by the client
    assert bas.objects("sb", ORDER) == []


def test_a_lost_answer_to_post_document_is_not_repeated(bas, client, goods):
    order = client.create(ORDER, _order_body(bas, goods[COUNTERPARTIES][0], goods[ITEMS][1]))
    bas.set_faults(drop_after_commit_count=1, only_methods=["POST"])
    bas.clear_log()
    with pytest.raises(BasError) as unknown:
        client.post_document(ORDER, order["Ref_Key"])
    assert unknown.value.outcome_unknown
    assert len(bas.requests(method="POST")) == 1
    assert client.get(ORDER, order["Ref_Key"])["Posted"] is True


def test_reads_are_retried_through_an_outage(bas, client, goods):
    bas.set_faults(error_count=2, error_status=503)
    assert len(client.list(COUNTERPARTIES, top=5)) == 2
    assert [r["status"] for r in bas.requests()] == [503, 503, 200]


def test_error_classification(bas, client):
    bas.unpublish("sb", [ORDER])
    with pytest.raises(BasError) as unpublished:
        client.list(ORDER, top=1)
    assert (unpublished.value.kind, unpublished.value.code) == (BasErrorKind.NOT_PUBLISHED, "8")
    assert "not published" in str(unpublished.value)
    with pytest.raises(BasError) as missing:
        client.get(COUNTERPARTIES, str(uuid.uuid4()))
    assert (missing.value.kind, missing.value.code) == (BasErrorKind.NOT_FOUND, "9")
    with pytest.raises(BasError) as bad_filter:
        client.list(COUNTERPARTIES, filter="Ref_Key in (guid'x')")
    assert bad_filter.value.kind == BasErrorKind.BAD_REQUEST
    assert not bad_filter.value.retryable
    wrong = BasClient(publication_url=f"{bas.url}/sb", username="Адміністратор",
                      password="wrong", max_retries=0)
    with pytest.raises(BasError) as refused:
        wrong.service_document()
    assert refused.value.kind == BasErrorKind.AUTH
    assert "Адміністратор" in str(refused.value)
    bas.set_faults(html_200_count=1)
    with pytest.raises(BasError) as page:
        client.list(COUNTERPARTIES, top=1)
    assert page.value.kind == BasErrorKind.NOT_ODATA
    assert "web page instead of OData" in str(page.value)


def test_dates_are_converted_to_and_from_the_servers_zone(client):
    moment = dt.datetime(2025, 3, 14, 8, 30, tzinfo=dt.UTC)
    assert client.to_bas_datetime(moment) == "2025-03-14T10:30:00"
    assert client.from_bas_datetime("2025-03-14T10:30:00") == moment
    assert client.from_bas_datetime("0001-01-01T00:00:00") is None


def test_for_connection_reads_the_stored_secret(db, bas_connection, bas):
    client = BasClient.for_connection(bas_connection)
    assert "Catalog_Контрагенты" in client.service_document()
    assert client.tz.key == "Europe/Kyiv"
