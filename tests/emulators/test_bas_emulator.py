"""The BAS emulator, driven over real HTTP with ``requests`` as the portal's client drives it:
URLs built by hand with ``urllib.parse.quote`` (spaces as %20, never ``+``), UTF-8 Basic auth.

Each test starts from a reset emulator: the two default bases (``sb`` BAS Small Business,
``acc`` BAS Бухгалтерія) holding only their reference data.
"""

from __future__ import annotations

import base64
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests

from emulators.bas import BasEmulator
from emulators.common import EmulatorServer

PATH_SAFE = "/()',=:$*"
QUERY_SAFE = "'(),:/*$"
EMPTY = "00000000-0000-0000-0000-000000000000"
EDM = "{http://schemas.microsoft.com/ado/2009/11/edm}"
M = "{http://schemas.microsoft.com/ado/2007/08/dataservices/metadata}"
UNIT_TYPE = "StandardODATA.Catalog_КлассификаторЕдиницИзмерения"
ORDER = "Document_ЗаказПокупателя"
ADMIN, ADMIN_PASSWORD = "Адміністратор", "secret"  # a default user of every base


def basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode("ascii")


class Bas:
    """A minimal OData client for one base."""

    def __init__(self, url: str, base: str = "sb", login: str = ADMIN,
                 password: str = ADMIN_PASSWORD) -> None:
        self.root = f"{url}/{base}/odata/standard.odata"
        self.session = requests.Session()
        self.headers = {"Authorization": basic(login, password), "Accept": "application/json"}

    def url(self, resource: str, params: dict[str, Any] | None = None, *,
            fmt: bool = True) -> str:
        query = {"$format": "json", **(params or {})} if fmt else dict(params or {})
        text = "&".join(f"{quote(k, safe='$')}={quote(str(v), safe=QUERY_SAFE)}"
                        for k, v in query.items())
        return f"{self.root}/{quote(resource, safe=PATH_SAFE)}" + (f"?{text}" if text else "")

    def get(self, resource: str, params: dict[str, Any] | None = None,
            **kwargs: Any) -> requests.Response:
        return self.session.get(self.url(resource, params), headers=self.headers, timeout=10,
                                **kwargs)

    def post(self, resource: str, body: Any = None,
             params: dict[str, Any] | None = None) -> requests.Response:
        return self.session.post(self.url(resource, params), json=body, headers=self.headers,
                                 timeout=10)

    def patch(self, resource: str, body: Any,
              headers: dict[str, str] | None = None) -> requests.Response:
        return self.session.patch(self.url(resource), json=body,
                                  headers={**self.headers, **(headers or {})}, timeout=10)

    def delete(self, resource: str) -> requests.Response:
        return self.session.delete(self.url(resource), headers=self.headers, timeout=10)

    def values(self, resource: str, params: dict[str, Any] | None = None) -> list[dict]:
        response = self.get(resource, params)
        assert response.status_code == 200, response.text
        return response.json()["value"]


def odata_error(response: requests.Response) -> tuple[str, str]:
    assert response.headers["Content-Type"].startswith("application/json"), response.text
    error = response.json()["odata.error"]
    return error["code"], error["message"]["value"]


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(BasEmulator()) as running:
        yield running


@pytest.fixture
def emu(server: EmulatorServer) -> BasEmulator:
    emulator = server.emulator
    assert isinstance(emulator, BasEmulator)
    with emulator.lock:
        emulator.reset()
        emulator.set_faults()
        emulator.clear_log()
    return emulator


@pytest.fixture
def sb(server: EmulatorServer, emu: BasEmulator) -> Bas:
    return Bas(server.url)


@pytest.fixture
def acc(server: EmulatorServer, emu: BasEmulator) -> Bas:
    return Bas(server.url, "acc")


def ref(emu: BasEmulator, set_name: str, slug: str, base: str = "sb") -> str:
    return emu.ref(base, set_name, slug)


@pytest.fixture
def goods(emu: BasEmulator) -> dict[str, str]:
    """A buyer with a default contract, two products and a characteristic on ``sb``."""
    keys = {name: str(uuid.uuid4()) for name in
            ("buyer", "contract", "supplier", "supplier_contract", "shirt", "cap", "shirt_m")}
    org = ref(emu, "Catalog_Организации", "main")
    common = {"ТипНоменклатуры": "Запас", "ЕдиницаИзмерения_Key": ref(
        emu, "Catalog_КлассификаторЕдиницИзмерения", "pcs"), "КатегорияНоменклатуры_Key": ref(
        emu, "Catalog_КатегорииНоменклатуры", "goods")}
    emu.seed("sb", {
        "Catalog_Контрагенты": [
            {"Ref_Key": keys["buyer"], "Description": "ТОВ «Ромашка»", "ИНН": "1234567890",
             "Покупатель": True, "ДоговорПоУмолчанию_Key": keys["contract"]},
            {"Ref_Key": keys["supplier"], "Description": "O'Brien Trading",
             "Поставщик": True, "ВестиРасчетыПоДоговорам": True},
        ],
        "Catalog_ДоговорыКонтрагентов": [
            {"Ref_Key": keys["contract"], "Description": "Основний", "Owner_Key": keys["buyer"],
             "Организация_Key": org},
            {"Ref_Key": keys["supplier_contract"], "Description": "Поставка",
             "Owner_Key": keys["supplier"], "Организация_Key": org},
        ],
        "Catalog_Номенклатура": [
            {"Ref_Key": keys["shirt"], "Description": "Сорочка лляна", "Артикул": "SH-1",
             **common},
            {"Ref_Key": keys["cap"], "Description": "Кепка", "Артикул": "CP-2", **common},
        ],
        "Catalog_ХарактеристикиНоменклатуры": [
            {"Ref_Key": keys["shirt_m"], "Description": "Білий, M", "Owner": keys["shirt"],
             "Owner_Type": "StandardODATA.Catalog_Номенклатура"},
        ],
    })
    return keys


def line(emu: BasEmulator, product: str, quantity: float, price: float,
         characteristic: str = EMPTY) -> dict[str, Any]:
    amount = quantity * price
    return {"LineNumber": "1", "Номенклатура_Key": product, "Характеристика_Key": characteristic,
            "ЕдиницаИзмерения": ref(emu, "Catalog_КлассификаторЕдиницИзмерения", "pcs"),
            "ЕдиницаИзмерения_Type": UNIT_TYPE, "Количество": quantity, "Цена": price,
            "Сумма": amount, "СтавкаНДС_Key": ref(emu, "Catalog_СтавкиНДС", "20"),
            "СуммаНДС": round(amount / 6, 2), "Всего": amount}


def order_body(emu: BasEmulator, goods: dict[str, str], **overrides: Any) -> dict[str, Any]:
    body = {
        "Date": "2025-03-14T10:30:00", "ВидОперации": "ЗаказНаПродажу",
        "Организация_Key": ref(emu, "Catalog_Организации", "main"),
        "Контрагент_Key": goods["buyer"],
        "ВалютаДокумента_Key": ref(emu, "Catalog_Валюты", "UAH"), "Курс": 1, "Кратность": 1,
        "ВидЦен_Key": ref(emu, "Catalog_ВидыЦен", "retail"),
        "НалогообложениеНДС": "ОблагаетсяНДС", "СуммаВключаетНДС": True,
        "СтруктурнаяЕдиницаПродажи_Key": ref(emu, "Catalog_СтруктурныеЕдиницы", "sales"),
        "СтруктурнаяЕдиницаРезерв_Key": ref(emu, "Catalog_СтруктурныеЕдиницы", "warehouse"),
        "НомерВходящегоДокумента": "KC-48213", "Комментарий": "KeyCRM order 48213",
        "Запасы": [line(emu, goods["shirt"], 2, 600, goods["shirt_m"])],
    }
    body.update(overrides)
    return body


def stock_document(emu: BasEmulator, goods: dict[str, str], quantity: float,
                   **overrides: Any) -> dict[str, Any]:
    """The shared shape of a receipt and a sales invoice on the main warehouse."""
    body = {
        "Date": "2025-03-10T09:00:00", "Организация_Key": ref(emu, "Catalog_Организации", "main"),
        "СтруктурнаяЕдиница_Key": ref(emu, "Catalog_СтруктурныеЕдиницы", "warehouse"),
        "ВалютаДокумента_Key": ref(emu, "Catalog_Валюты", "UAH"), "Курс": 1, "Кратность": 1,
        "НалогообложениеНДС": "ОблагаетсяНДС", "СуммаВключаетНДС": True,
        "Запасы": [line(emu, goods["shirt"], quantity, 300, goods["shirt_m"])],
    }
    body.update(overrides)
    return body


def post(bas: Bas, set_name: str, key: str, operational: str = "false") -> requests.Response:
    return bas.post(f"{set_name}(guid'{key}')/Post", None,
                    {"PostingModeOperational": operational})


# --- discovery ---------------------------------------------------------------------------------


def _metadata(bas: Bas) -> ET.Element:
    response = bas.session.get(bas.url("$metadata", fmt=False), headers=bas.headers, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/xml")
    return ET.fromstring(response.content)  # noqa: S314 - our own emulator's output


def _functions(root: ET.Element) -> dict[tuple[str, str], ET.Element]:
    return {(f.get("Name", ""), f.get("EntitySetPath", "")): f
            for f in root.iter(f"{EDM}FunctionImport")}


def test_small_business_metadata_lists_sets_types_and_bound_functions(sb: Bas) -> None:
    root = _metadata(sb)
    assert root.tag == "{http://schemas.microsoft.com/ado/2007/06/edmx}Edmx"
    assert root.get("Version") == "1.0"
    services = root.find("{http://schemas.microsoft.com/ado/2007/06/edmx}DataServices")
    assert services is not None
    assert services.get(f"{M}DataServiceVersion") == "3.0"
    schema = services.find(f"{EDM}Schema")
    assert schema is not None
    assert schema.get("Namespace") == "StandardODATA"
    container = schema.find(f"{EDM}EntityContainer")
    assert container is not None
    assert container.get("Name") == "StandardODATA"
    assert container.get(f"{M}IsDefaultEntityContainer") == "true"
    sets = {s.get("Name"): s.get("EntityType") for s in container.iter(f"{EDM}EntitySet")}
    for name in ("Catalog_Контрагенты", "Catalog_Контрагенты_КонтактнаяИнформация",
                 "Catalog_ХарактеристикиНоменклатуры", "Catalog_СостоянияЗаказовПокупателей",
                 ORDER, f"{ORDER}_Запасы", f"{ORDER}_ДополнительныеРеквизиты",
                 "Document_РасходнаяНакладная", "Document_ПоступлениеВКассу",
                 "AccumulationRegister_ЗапасыНаСкладах",
                 "AccumulationRegister_ЗапасыНаСкладах_RecordType",
                 "InformationRegister_ЦеныНоменклатуры"):
        assert sets[name] == f"StandardODATA.{name}"
    types = {t.get("Name"): t for t in schema.iter(f"{EDM}EntityType")}
    order = {p.get("Name"): p.get("Type") for p in types[ORDER].iter(f"{EDM}Property")}
    assert order["Ref_Key"] == "Edm.Guid"
    assert order["Date"] == "Edm.DateTime"
    assert order["Контрагент_Key"] == "Edm.Guid"
    assert order["Posted"] == "Edm.Boolean"
    assert order["СостояниеЗаказа"] == order["СостояниеЗаказа_Type"] == "Edm.String"
    assert order["Запасы"] == f"Collection(StandardODATA.{ORDER}_Запасы_RowType)"
    key = [r.get("Name") for r in types[ORDER].iter(f"{EDM}PropertyRef")]
    assert key == ["Ref_Key"]
    assert [r.get("Name") for r in types[f"{ORDER}_Запасы"].iter(f"{EDM}PropertyRef")] == [
        "Ref_Key", "LineNumber"]
    complex_types = {t.get("Name"): t for t in schema.iter(f"{EDM}ComplexType")}
    row = {p.get("Name"): p.get("Type")
           for p in complex_types[f"{ORDER}_Запасы_RowType"].iter(f"{EDM}Property")}
    assert row["LineNumber"] == "Edm.Int64"
    assert row["Количество"] == "Edm.Double"
    assert row["ЕдиницаИзмерения_Type"] == "Edm.String"
    balance = {p.get("Name") for p in complex_types[
        "AccumulationRegister_ЗапасыНаСкладах_Balance"].iter(f"{EDM}Property")}
    assert {"Номенклатура_Key", "СтруктурнаяЕдиница_Key", "КоличествоBalance"} <= balance
    functions = _functions(root)
    post_fn = functions[("Post", ORDER)]
    assert post_fn.get("IsBindable") == "true"
    assert post_fn.get(f"{M}HttpMethod") == "POST"
    assert "PostingModeOperational" in {p.get("Name") for p in post_fn.iter(f"{EDM}Parameter")}
    assert ("Unpost", ORDER) in functions
    balance_fn = functions[("Balance", "AccumulationRegister_ЗапасыНаСкладах")]
    assert balance_fn.get("ReturnType") == (
        "Collection(StandardODATA.AccumulationRegister_ЗапасыНаСкладах_Balance)")
    assert ("SliceLast", "InformationRegister_ЦеныНоменклатуры") in functions


def test_accounting_metadata_binds_slices_to_the_record_type_set(acc: Bas) -> None:
    root = _metadata(acc)
    sets = {s.get("Name") for s in root.iter(f"{EDM}EntitySet")}
    assert {"Document_РеализацияТоваровУслуг", "Document_РеализацияТоваровУслуг_Товары",
            "Document_ПоступлениеНаРасчетныйСчет", "Catalog_Склады",
            "Catalog_ТипыЦенНоменклатуры", "InformationRegister_ЦеныНоменклатуры_RecordType",
            "Document_УстановкаЦенНоменклатуры"} <= sets
    assert ORDER not in sets
    assert "Catalog_ХарактеристикиНоменклатуры" not in sets
    functions = _functions(root)
    assert ("SliceLast", "InformationRegister_ЦеныНоменклатуры_RecordType") in functions
    assert ("SliceLast", "InformationRegister_ЦеныНоменклатуры") not in functions
    types = {t.get("Name"): t for t in root.iter(f"{EDM}EntityType")}
    item = {p.get("Name"): p.get("Type")
            for p in types["Catalog_Номенклатура"].iter(f"{EDM}Property")}
    assert item["СтавкаНДС"] == "Edm.String"
    assert item["БазоваяЕдиницаИзмерения_Key"] == "Edm.Guid"


def test_service_document_lists_published_sets(sb: Bas) -> None:
    body = sb.get("").json()
    assert body["odata.metadata"] == f"{sb.root}/$metadata"
    names = [item["name"] for item in body["value"]]
    assert "Catalog_Номенклатура" in names
    assert f"{ORDER}_Запасы" in names
    assert all(item["url"] == item["name"] for item in body["value"])


def test_atom_is_the_default_representation(sb: Bas) -> None:
    response = sb.session.get(sb.url("Catalog_Валюты", fmt=False),
                              headers={"Authorization": sb.headers["Authorization"]}, timeout=10)
    assert response.headers["Content-Type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)  # noqa: S314
    assert feed.tag == "{http://www.w3.org/2005/Atom}feed"
    assert "<d:Description>грн</d:Description>" in response.text


# --- authentication and the web server around it -----------------------------------------------


def test_basic_auth_decodes_utf8_and_refuses_a_wrong_password(server: EmulatorServer,
                                                             emu: BasEmulator) -> None:
    assert Bas(server.url).get("Catalog_Валюты").status_code == 200
    assert Bas(server.url, login="odata.user", password="odata").get("").status_code == 200
    wrong = Bas(server.url, password="nope").get("Catalog_Валюты")
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"] == 'Basic realm="1C"'
    assert odata_error(wrong)[0] == "20"
    anonymous = requests.get(Bas(server.url).url("Catalog_Валюты"), timeout=10)
    assert anonymous.status_code == 401
    emu.add_user("sb", "Оператор", "пароль")
    assert Bas(server.url, login="Оператор", password="пароль").get("").status_code == 200


def test_unknown_base_and_long_query_are_html_404(server: EmulatorServer, sb: Bas) -> None:
    unknown = requests.get(f"{server.url}/nobase/odata/standard.odata/?$format=json", timeout=10)
    assert unknown.status_code == 404
    assert unknown.headers["Content-Type"].startswith("text/html")
    keys = " or ".join(f"Ref_Key eq guid'{uuid.uuid4()}'" for _ in range(35))
    long = sb.get("Catalog_Номенклатура", {"$filter": keys})
    assert long.status_code == 404
    assert long.headers["Content-Type"].startswith("text/html")
    assert "404.15" in long.text
    shorter = " or ".join(f"Ref_Key eq guid'{uuid.uuid4()}'" for _ in range(20))
    assert sb.get("Catalog_Номенклатура", {"$filter": shorter}).status_code == 200


def test_injected_5xx_looks_like_a_web_server_page(emu: BasEmulator, sb: Bas) -> None:
    emu.set_faults(error_count=2, error_status=503)
    first = sb.get("Catalog_Валюты")
    assert first.status_code == 503
    assert first.headers["Content-Type"].startswith("text/html")
    assert "Service Unavailable" in first.text
    assert "odata.error" not in first.text
    assert sb.get("Catalog_Валюты").status_code == 503
    assert sb.get("Catalog_Валюты").status_code == 200


def test_drop_after_commit_leaves_the_object_stored(emu: BasEmulator, sb: Bas) -> None:
    emu.set_faults(drop_after_commit_count=1, only_methods=["POST"])
    with pytest.raises(requests.ConnectionError):
        sb.post("Catalog_Контрагенты", {"Description": "Втрачена відповідь"})
    stored = [o for o in emu.objects("sb", "Catalog_Контрагенты")
              if o["Description"] == "Втрачена відповідь"]
    assert len(stored) == 1
    again = sb.values("Catalog_Контрагенты", {"$filter": "Description eq 'Втрачена відповідь'"})
    assert [o["Ref_Key"] for o in again] == [stored[0]["Ref_Key"]]


# --- $filter -----------------------------------------------------------------------------------


def test_filter_grammar(emu: BasEmulator, sb: Bas, goods: dict[str, str]) -> None:
    def names(expression: str) -> list[str]:
        rows = sb.values("Catalog_Контрагенты", {"$filter": expression, "$orderby": "Description"})
        return [row["Description"] for row in rows]

    assert names("Description eq 'O''Brien Trading'") == ["O'Brien Trading"]
    assert names(f"Ref_Key eq guid'{goods['buyer']}'") == ["ТОВ «Ромашка»"]
    assert names("substringof('ромаш', Description) eq true") == ["ТОВ «Ромашка»"]
    assert names("startswith(Description, 'O''B') eq true and Поставщик eq true") == [
        "O'Brien Trading"]
    assert names("like(Description, '%Trad%')") == ["O'Brien Trading"]
    assert names("not (ИНН eq '1234567890') and DeletionMark eq false") == ["O'Brien Trading"]
    assert names("Покупатель eq true or Поставщик eq true") == [
        "O'Brien Trading", "ТОВ «Ромашка»"]
    characteristic = sb.values("Catalog_ХарактеристикиНоменклатуры", {
        "$filter": f"Owner eq cast(guid'{goods['shirt']}', 'Catalog_Номенклатура')"})
    assert [c["Ref_Key"] for c in characteristic] == [goods["shirt_m"]]
    contracts = sb.values("Catalog_ДоговорыКонтрагентов", {
        "$filter": f"Owner_Key eq guid'{goods['buyer']}'", "$select": "Ref_Key"})
    assert contracts == [{"Ref_Key": goods["contract"]}]


def test_filter_on_dates_composites_and_tabular_sections(emu: BasEmulator, sb: Bas,
                                                         goods: dict[str, str]) -> None:
    first = sb.post(ORDER, order_body(emu, goods)).json()
    sb.post(ORDER, order_body(emu, goods, Date="2025-04-02T08:00:00",
                              Запасы=[line(emu, goods["cap"], 1, 250)]))
    invoice = sb.post("Document_РасходнаяНакладная", stock_document(
        emu, goods, 1, Заказ=first["Ref_Key"], Заказ_Type=f"StandardODATA.{ORDER}")).json()

    def numbers(set_name: str, expression: str) -> list[str]:
        return [row["Number"] for row in sb.values(set_name, {"$filter": expression})]

    assert numbers(ORDER, "Date ge datetime'2025-04-01T00:00:00'") == ["КЦ00-000002"]
    assert numbers(ORDER, "year(Date) eq 2025 and month(Date) eq 3") == ["КЦ00-000001"]
    assert numbers(ORDER, f"Запасы/any(d: d/Номенклатура_Key eq guid'{goods['cap']}')") == [
        "КЦ00-000002"]
    assert numbers(ORDER, "Контрагент/ИНН eq '1234567890' and СуммаДокумента gt 1000") == [
        "КЦ00-000001"]
    cast = f"Заказ eq cast(guid'{first['Ref_Key']}', '{ORDER}')"
    assert numbers("Document_РасходнаяНакладная", cast) == [invoice["Number"]]
    # A composite compared to a bare GUID matches nothing (§4): the client must cast.
    assert numbers("Document_РасходнаяНакладная", f"Заказ eq guid'{first['Ref_Key']}'") == []
    assert numbers("Document_РасходнаяНакладная", f"isof(Заказ, '{ORDER}')") == [
        invoice["Number"]]
    rows = sb.values(f"{ORDER}_Запасы", {"$filter": f"Ref_Key eq guid'{first['Ref_Key']}'",
                                         "$select": "LineNumber,Номенклатура_Key,Количество"})
    assert rows == [{"LineNumber": "1", "Номенклатура_Key": goods["shirt"], "Количество": 2}]


@pytest.mark.parametrize(("expression", "code"), [
    ("Description+eq+'Кепка'", "14"),  # a form-encoded space: 1C does not decode '+'
    (f"Ref_Key in (guid'{EMPTY}')", "14"),
    ("tolower(Description) eq 'кепка'", "14"),
    ("length(Description) gt 3", "14"),
    ("contains(Description, 'Кеп')", "14"),
    ("Description eq 'unterminated", "14"),
    ("НемаєТакоїВластивості eq 'x'", "14"),
    ("Ref_Key eq 'not-a-guid'", "14"),
])
def test_filter_refusals(sb: Bas, expression: str, code: str) -> None:
    response = sb.get("Catalog_Номенклатура", {"$filter": expression})
    assert response.status_code == 400
    assert odata_error(response)[0] == code


def test_plus_fails_loudly_and_percent20_works(emu: BasEmulator, sb: Bas,
                                               goods: dict[str, str]) -> None:
    raw = f"{sb.root}/{quote('Catalog_Номенклатура')}?$format=json&$filter=Description+eq+'Кепка'"
    response = requests.get(raw, headers=sb.headers, timeout=10)
    assert response.status_code == 400
    code, message = odata_error(response)
    assert code == "14"
    assert "'+'" in message
    assert "%20" in message
    encoded = raw.replace("+", "%20")
    assert [r["Артикул"] for r in requests.get(encoded, headers=sb.headers,
                                               timeout=10).json()["value"]] == ["CP-2"]


# --- reading -----------------------------------------------------------------------------------


def test_paging_ordering_counting_and_select(emu: BasEmulator, sb: Bas) -> None:
    emu.seed("sb", {"Catalog_ПричиныОтменыЗаказа": [
        {"Description": f"Причина {i}"} for i in range(1, 8)]})
    page = sb.values("Catalog_ПричиныОтменыЗаказа", {
        "$filter": "startswith(Description, 'Причина') eq true",
        "$orderby": "Description desc", "$skip": 2, "$top": 3, "$select": "Description,Code"})
    assert page == [{"Code": f"00000000{i + 1}", "Description": f"Причина {i}"}
                    for i in (5, 4, 3)]
    count = sb.session.get(sb.url("Catalog_ПричиныОтменыЗаказа/$count", {
        "$filter": "startswith(Description, 'Причина') eq true"}, fmt=False),
        headers=sb.headers, timeout=10)
    assert count.status_code == 200
    assert count.text == "7"
    counted = sb.get("Catalog_ПричиныОтменыЗаказа", {"$inlinecount": "allpages", "$top": 1})
    assert counted.json()["odata.count"] == "8"  # a string; the reference item is included
    unknown = sb.get("Catalog_ПричиныОтменыЗаказа", {"$select": "Нема"})
    assert unknown.status_code == 400
    assert odata_error(unknown)[0] == "10"


def test_single_entity_defaults_and_tabular_select(emu: BasEmulator, sb: Bas,
                                                   goods: dict[str, str]) -> None:
    created = sb.post(ORDER, order_body(emu, goods)).json()
    key = created["Ref_Key"]
    one = sb.get(f"{ORDER}(guid'{key}')").json()
    assert one["odata.metadata"] == f"{sb.root}/$metadata#{ORDER}/@Element"
    assert one["Запасы"][0]["LineNumber"] == "1"
    assert one["ПричинаОтмены_Key"] == EMPTY
    assert one["ДатаОтгрузки"] == "0001-01-01T00:00:00"
    assert one["Договор_Key"] == goods["contract"]  # the buyer's default contract
    assert one["СуммаДокумента"] == 1200
    state = ref(emu, "Catalog_СостоянияЗаказовПокупателей", "new")
    assert (one["СостояниеЗаказа"], one["СостояниеЗаказа_Type"]) == (
        state, "StandardODATA.Catalog_СостоянияЗаказовПокупателей")
    selected = sb.values(ORDER, {"$select": "Number,Запасы/Номенклатура_Key"})
    assert selected == [{"Number": "КЦ00-000001",
                         "Запасы": [{"Номенклатура_Key": goods["shirt"]}]}]
    missing = sb.get(f"{ORDER}(guid'{uuid.uuid4()}')")
    assert missing.status_code == 404
    assert odata_error(missing)[0] == "9"
    completed = sb.values("Catalog_СостоянияЗаказовПокупателей", {
        "$filter": "PredefinedDataName eq 'Завершен'", "$select": "Ref_Key,Description"})
    assert completed == [{"Ref_Key": ref(emu, "Catalog_СостоянияЗаказовПокупателей",
                                         "Завершен"), "Description": "Завершено"}]


# --- writing -----------------------------------------------------------------------------------


def test_create_patch_delete_with_optimistic_locking(emu: BasEmulator, sb: Bas) -> None:
    created = sb.post("Catalog_Контрагенты", {
        "Description": "ТОВ \"Ромашка\"", "ВидКонтрагента": "ЮридическоеЛицо",
        "КодПоЕДРПОУ": "12345678", "НеіснуючеПоле": "ignored",
        "КонтактнаяИнформация": [{"LineNumber": "1", "Тип": "Телефон",
                                  "Вид_Key": ref(emu, "Catalog_ВидыКонтактнойИнформации",
                                                 "ТелефонКонтрагента"),
                                  "Представление": "+380 67 123 45 67",
                                  "НомерТелефона": "+380671234567"}]})
    assert created.status_code == 201
    body = created.json()
    key, version = body["Ref_Key"], body["DataVersion"]
    assert created.headers["Location"].endswith(
        f"{quote('Catalog_Контрагенты')}(guid'{key}')")
    assert body["Code"] == "000000001"
    assert body["НаименованиеПолное"] == "ТОВ \"Ромашка\""
    assert "НеіснуючеПоле" not in body
    patched = sb.patch(f"Catalog_Контрагенты(guid'{key}')", {"Комментарий": "VIP"},
                       {"If-Match": version})
    assert patched.status_code == 200
    assert patched.json()["Комментарий"] == "VIP"
    assert patched.json()["КонтактнаяИнформация"][0]["НомерТелефона"] == "+380671234567"
    assert patched.json()["DataVersion"] != version
    stale = sb.patch(f"Catalog_Контрагенты(guid'{key}')", {"Комментарий": "x"},
                     {"If-Match": version})
    assert stale.status_code == 412
    assert emu.get_object("sb", "Catalog_Контрагенты", key)["Комментарий"] == "VIP"
    replaced = sb.patch(f"Catalog_Контрагенты(guid'{key}')", {"КонтактнаяИнформация": []})
    assert replaced.json()["КонтактнаяИнформация"] == []
    assert sb.delete(f"Catalog_Контрагенты(guid'{key}')").status_code == 204
    gone = sb.get(f"Catalog_Контрагенты(guid'{key}')")
    assert gone.status_code == 404
    assert odata_error(gone)[0] == "9"


def test_write_refusals(emu: BasEmulator, sb: Bas, goods: dict[str, str]) -> None:
    empty = sb.post("Catalog_Контрагенты", {"Description": ""})
    assert empty.status_code == 500
    assert odata_error(empty) == ("-1", "Поле \"Description\" не заповнено")
    product = sb.post("Catalog_Номенклатура", {"Description": "Без одиниці",
                                               "ТипНоменклатуры": "Запас"})
    assert product.status_code == 500
    assert "ЕдиницаИзмерения" in odata_error(product)[1]
    folder = sb.post("Catalog_Номенклатура", {"Description": "Взуття", "IsFolder": True})
    assert folder.status_code == 201
    assert folder.json()["IsFolder"] is True
    rows = sb.post(f"{ORDER}_Запасы", {"Ref_Key": goods["buyer"], "Количество": 1})
    assert rows.status_code == 400
    assert odata_error(rows)[0] == "13"
    enum = sb.post("Catalog_Контрагенты", {"Description": "X", "ВидКонтрагента": "Інопланетянин"})
    assert enum.status_code == 400
    assert odata_error(enum)[0] == "4"
    composite = sb.post(ORDER, order_body(emu, goods, СостояниеЗаказа=goods["buyer"],
                                          СостояниеЗаказа_Type=UNIT_TYPE))
    assert composite.status_code == 400
    assert odata_error(composite)[0] == "4"


def test_documents_are_numbered_per_set(emu: BasEmulator, sb: Bas, goods: dict[str, str]) -> None:
    numbers = [sb.post(ORDER, order_body(emu, goods)).json()["Number"] for _ in range(2)]
    assert numbers == ["КЦ00-000001", "КЦ00-000002"]
    invoice = sb.post("Document_РасходнаяНакладная", stock_document(emu, goods, 1)).json()
    assert invoice["Number"] == "РН00-000001"
    assert invoice["Posted"] is False


# --- posting -----------------------------------------------------------------------------------


def test_post_checks_and_unpost(emu: BasEmulator, sb: Bas, goods: dict[str, str]) -> None:
    incomplete = sb.post(ORDER, order_body(emu, goods, Контрагент_Key=EMPTY,
                                           ВалютаДокумента_Key=None)).json()
    failed = post(sb, ORDER, incomplete["Ref_Key"])
    assert failed.status_code == 500
    code, message = odata_error(failed)
    assert code == "-1"
    assert "Поле \"Контрагент\" не заповнено" in message
    assert "Поле \"ВалютаДокумента\" не заповнено" in message
    no_price = sb.post(ORDER, order_body(emu, goods, Запасы=[line(emu, goods["cap"], 1, 0)]))
    message = odata_error(post(sb, ORDER, no_price.json()["Ref_Key"]))[1]
    assert message == "Не заповнено колонку \"Цена\" у рядку 1 списку \"Запасы\""

    order = sb.post(ORDER, order_body(emu, goods)).json()
    key = order["Ref_Key"]
    operational = post(sb, ORDER, key, "true")
    assert operational.status_code == 500
    assert odata_error(operational)[0] == "-1"
    posted = sb.post(f"{ORDER}(guid'{key}')/Post()", None, {"PostingModeOperational": "false"})
    assert posted.status_code == 200
    assert sb.get(f"{ORDER}(guid'{key}')").json()["Posted"] is True
    records = sb.values("AccumulationRegister_ЗаказыПокупателей_RecordType", {
        "$filter": f"Recorder eq cast(guid'{key}', '{ORDER}')"})
    assert [(r["RecordType"], r["Количество"], r["ЗаказПокупателя_Key"]) for r in records] == [
        ("Receipt", 2, key)]
    marked = sb.patch(f"{ORDER}(guid'{key}')", {"DeletionMark": True})
    assert marked.status_code == 500
    assert odata_error(marked)[0] == "-1"

    assert sb.post(f"{ORDER}(guid'{key}')/Unpost").status_code == 200
    assert sb.get(f"{ORDER}(guid'{key}')").json()["Posted"] is False
    assert emu.objects("sb", "AccumulationRegister_ЗаказыПокупателей") == []
    assert sb.patch(f"{ORDER}(guid'{key}')", {"DeletionMark": True}).status_code == 200
    deleted = post(sb, ORDER, key)
    assert deleted.status_code == 500
    assert "вилучення" in odata_error(deleted)[1]


def test_balance_after_a_receipt_and_a_sale(emu: BasEmulator, sb: Bas,
                                            goods: dict[str, str]) -> None:
    receipt = sb.post("Document_ПриходнаяНакладная", stock_document(
        emu, goods, 10, ВидОперации="ПоступлениеОтПоставщика",
        Контрагент_Key=goods["supplier"], Договор_Key=goods["supplier_contract"])).json()
    assert post(sb, "Document_ПриходнаяНакладная", receipt["Ref_Key"]).status_code == 200
    sale = sb.post("Document_РасходнаяНакладная", stock_document(
        emu, goods, 3, Date="2025-03-12T15:00:00", ВидОперации="ПродажаПокупателю",
        Контрагент_Key=goods["buyer"])).json()
    assert post(sb, "Document_РасходнаяНакладная", sale["Ref_Key"]).status_code == 200
    warehouse = ref(emu, "Catalog_СтруктурныеЕдиницы", "warehouse")
    register = "AccumulationRegister_ЗапасыНаСкладах"
    select = {"$select": "Номенклатура_Key,Характеристика_Key,КоличествоBalance"}
    doubled = sb.values(
        f"{register}/Balance(Condition='СтруктурнаяЕдиница_Key eq guid''{warehouse}''')", select)
    assert doubled == [{"Номенклатура_Key": goods["shirt"],
                        "Характеристика_Key": goods["shirt_m"], "КоличествоBalance": 7}]
    raw = sb.values(f"{register}/Balance(Condition='СтруктурнаяЕдиница_Key eq guid'{warehouse}'')",
                    select)
    assert raw == doubled
    query_form = sb.values(f"{register}/Balance()", {
        "Period": "datetime'2025-03-11T00:00:00'",
        "Condition": f"'Номенклатура_Key eq guid''{goods['shirt']}'''", **select})
    assert [r["КоличествоBalance"] for r in query_form] == [10]
    before = sb.values(f"{register}/Balance(Period=datetime'2025-03-10T09:00:00')")
    assert before == []  # the balance at a moment excludes that moment's movements
    collapsed = sb.values(f"{register}/Balance(Dimensions='Номенклатура')")
    assert collapsed == [{"Номенклатура_Key": goods["shirt"], "КоличествоBalance": 7}]
    turnovers = sb.values(f"{register}/Turnovers(StartPeriod=datetime'2025-03-01T00:00:00',"
                          "EndPeriod=datetime'2025-03-31T23:59:59',Dimensions='Номенклатура')")
    assert turnovers == [{"Номенклатура_Key": goods["shirt"], "КоличествоReceipt": 10,
                          "КоличествоExpense": 3, "КоличествоTurnover": 7}]
    resource_filter = sb.get(f"{register}/Balance()", {"$filter": "КоличествоBalance gt 0"})
    assert resource_filter.status_code == 400
    assert odata_error(resource_filter)[0] == "14"
    assert sb.post(f"Document_ПриходнаяНакладная(guid'{receipt['Ref_Key']}')/Unpost").ok
    assert sb.values(f"{register}/Balance()") == [
        {**{k: v for k, v in doubled[0].items() if k != "КоличествоBalance"},
         "Организация_Key": ref(emu, "Catalog_Организации", "main"), "Партия_Key": EMPTY,
         "СтруктурнаяЕдиница_Key": warehouse, "Ячейка_Key": EMPTY, "КоличествоBalance": -3}]


def test_seeded_movements_feed_balance(emu: BasEmulator, sb: Bas, goods: dict[str, str]) -> None:
    warehouse = ref(emu, "Catalog_СтруктурныеЕдиницы", "warehouse")
    emu.add_movements("sb", "AccumulationRegister_ЗапасыНаСкладах", [
        {"RecordType": "Receipt", "Period": "2025-01-01T00:00:00", "Номенклатура_Key": goods["cap"],
         "СтруктурнаяЕдиница_Key": warehouse, "Количество": 5}])
    rows = sb.values("AccumulationRegister_ЗапасыНаСкладах/Balance(Dimensions='Номенклатура')")
    assert rows == [{"Номенклатура_Key": goods["cap"], "КоличествоBalance": 5}]


def test_slice_last_on_small_business_plain_set(emu: BasEmulator, sb: Bas,
                                                goods: dict[str, str]) -> None:
    retail = ref(emu, "Catalog_ВидыЦен", "retail")
    wholesale = ref(emu, "Catalog_ВидыЦен", "wholesale")
    emu.add_movements("sb", "InformationRegister_ЦеныНоменклатуры", [
        {"Period": "2025-01-01T00:00:00", "ВидЦен_Key": retail, "Номенклатура_Key": goods["shirt"],
         "Цена": 500},
        {"Period": "2025-03-01T00:00:00", "ВидЦен_Key": retail, "Номенклатура_Key": goods["shirt"],
         "Цена": 600},
        {"Period": "2025-01-01T00:00:00", "ВидЦен_Key": wholesale,
         "Номенклатура_Key": goods["shirt"], "Цена": 400},
    ])
    register = "InformationRegister_ЦеныНоменклатуры"
    select = {"$select": "Номенклатура_Key,Цена,Period"}
    now = sb.values(f"{register}/SliceLast(Condition='ВидЦен_Key eq guid''{retail}''')", select)
    assert now == [{"Period": "2025-03-01T00:00:00", "Номенклатура_Key": goods["shirt"],
                    "Цена": 600}]
    february = sb.values(f"{register}/SliceLast(Period=datetime'2025-02-14T23:59:59',"
                         f"Condition='ВидЦен_Key eq guid'{retail}'')", select)
    assert [r["Цена"] for r in february] == [500]
    query_form = sb.values(f"{register}/SliceLast()", {
        "Period": "datetime'2025-02-14T23:59:59'",
        "Condition": f"'ВидЦен_Key eq guid''{wholesale}'''", **select})
    assert [r["Цена"] for r in query_form] == [400]
    first = sb.values(f"{register}/SliceFirst(Condition='ВидЦен_Key eq guid''{retail}''')",
                      select)
    assert [r["Цена"] for r in first] == [500]
    wrong = sb.get(f"{register}_RecordType/SliceLast()")
    assert wrong.status_code == 404
    assert odata_error(wrong)[0] == "8"


def test_slice_last_on_accounting_record_type_only(emu: BasEmulator, acc: Bas) -> None:
    retail = ref(emu, "Catalog_ТипыЦенНоменклатуры", "retail", "acc")
    uah = ref(emu, "Catalog_Валюты", "UAH", "acc")
    item = acc.post("Catalog_Номенклатура", {
        "Description": "Сукня лляна", "Артикул": "DR-1", "СтавкаНДС": "НДС20",
        "БазоваяЕдиницаИзмерения_Key": ref(emu, "Catalog_КлассификаторЕдиницИзмерения", "pcs",
                                           "acc")}).json()["Ref_Key"]
    for date, price in (("2025-01-01T00:00:00", 1800), ("2025-03-01T00:00:00", 1890)):
        document = acc.post("Document_УстановкаЦенНоменклатуры", {"Date": date, "Товары": [
            {"Номенклатура_Key": item, "ТипЦен_Key": retail, "Цена": price,
             "Валюта_Key": uah}]}).json()
        assert post(acc, "Document_УстановкаЦенНоменклатуры", document["Ref_Key"]).ok
    register = "InformationRegister_ЦеныНоменклатуры"
    prices = acc.values(f"{register}_RecordType/SliceLast(Condition='ТипЦен_Key eq guid''{retail}'"
                        f"' and Номенклатура_Key eq guid''{item}''')",
                        {"$select": "Номенклатура_Key,Цена,Валюта_Key"})
    assert prices == [{"Номенклатура_Key": item, "Цена": 1890, "Валюта_Key": uah}]
    refused = acc.get(f"{register}/SliceLast(Condition='ТипЦен_Key eq guid''{retail}''')")
    assert refused.status_code == 400
    assert odata_error(refused)[0] == "6"


def test_accounting_sale_posting_checks(emu: BasEmulator, acc: Bas) -> None:
    sale = acc.post("Document_РеализацияТоваровУслуг", {
        "Date": "2025-03-14T10:00:00",
        "Организация_Key": ref(emu, "Catalog_Организации", "main", "acc"),
        "Склад_Key": ref(emu, "Catalog_Склады", "main", "acc"),
        "ВалютаДокумента_Key": ref(emu, "Catalog_Валюты", "UAH", "acc"),
        "Товары": []}).json()
    assert sale["Number"] == "РТ00-000001"
    failed = post(acc, "Document_РеализацияТоваровУслуг", sale["Ref_Key"])
    code, message = odata_error(failed)
    assert failed.status_code == 500
    assert code == "-1"
    assert "Поле \"ДоговорКонтрагента\" не заповнено" in message
    assert "Не заповнено список \"Товары\"" in message


# --- publication and the control API -----------------------------------------------------------


def test_unpublished_set_is_entity_type_not_found(emu: BasEmulator, sb: Bas) -> None:
    emu.unpublish("sb", [ORDER])
    missing = sb.get(ORDER)
    assert missing.status_code == 404
    code, message = odata_error(missing)
    assert code == "8"
    assert "Entity type not found" in message
    assert sb.get(f"{ORDER}_Запасы").status_code == 404
    names = {item["name"] for item in sb.get("").json()["value"]}
    assert ORDER not in names
    assert "Catalog_Контрагенты" in names
    assert not any(s.get("Name") == ORDER for s in _metadata(sb).iter(f"{EDM}EntitySet"))
    emu.publish("sb", [ORDER])
    assert sb.get(ORDER).status_code == 200


def test_control_verbs_over_http(server: EmulatorServer, emu: BasEmulator) -> None:
    control = f"{server.url}/__emulator__"
    created = requests.post(f"{control}/base", json={
        "name": "shop", "configuration": "small_business", "users": {"Бухгалтер": "1"}},
        timeout=10)
    assert created.json() == {"name": "shop", "configuration": "small_business",
                              "users": ["Бухгалтер"]}
    shop = Bas(server.url, "shop", "Бухгалтер", "1")
    key = str(uuid.uuid4())
    seeded = requests.post(f"{control}/seed", json={"base": "shop", "entities": {
        "Catalog_Контрагенты": [{"Ref_Key": key, "Description": "Клієнт"}]}}, timeout=10)
    assert seeded.json() == {"created": {"Catalog_Контрагенты": [key]}}
    assert [o["Description"] for o in shop.values("Catalog_Контрагенты")] == ["Клієнт"]
    objects = requests.post(f"{control}/objects", json={
        "base": "shop", "set": "Catalog_Контрагенты"}, timeout=10).json()["value"]
    assert objects[0]["Ref_Key"] == key
    assert objects[0]["Code"] == "000000001"
    requests.post(f"{control}/unpublish", json={"base": "shop", "sets": ["Catalog_Контрагенты"]},
                  timeout=10)
    assert shop.get("Catalog_Контрагенты").status_code == 404
    state = requests.get(f"{control}/state", timeout=10).json()
    assert state["bases"]["shop"]["unpublished"] == ["Catalog_Контрагенты"]
    assert Bas(server.url, "shop").get("").status_code == 401  # only the given users


def test_demo_seed_gives_stock_prices_and_contacts(emu: BasEmulator, sb: Bas, acc: Bas) -> None:
    emu.seed_demo()
    stock = sb.values("AccumulationRegister_ЗапасыНаСкладах/Balance(Dimensions='Номенклатура')")
    assert len(stock) >= 8
    assert all(r["КоличествоBalance"] > 0 for r in stock)
    folders = sb.values("Catalog_Номенклатура", {"$filter": "IsFolder eq true"})
    by_key = {f["Ref_Key"]: f for f in folders}
    depth = max(_depth(f, by_key) for f in folders)
    assert depth == 3
    phones = sb.values("Catalog_Контрагенты_КонтактнаяИнформация",
                       {"$filter": "Тип eq 'Телефон'"})
    assert phones
    assert all(p["НомерТелефона"].startswith("+380") for p in phones)
    retail = ref(emu, "Catalog_ВидыЦен", "retail")
    prices = sb.values(f"InformationRegister_ЦеныНоменклатуры/SliceLast(Condition='ВидЦен_Key eq "
                       f"guid''{retail}''')")
    assert len(prices) >= 20
    assert acc.values("InformationRegister_ЦеныНоменклатуры_RecordType/SliceLast()")


def _depth(folder: dict, by_key: dict[str, dict]) -> int:
    parent = by_key.get(folder["Parent_Key"])
    return 1 if parent is None else 1 + _depth(parent, by_key)


def test_completing_an_order_writes_off_what_was_not_shipped(emu: BasEmulator, sb: Bas,
                                                           goods: dict[str, str]) -> None:
    order = sb.post(ORDER, order_body(emu, goods)).json()["Ref_Key"]
    assert post(sb, ORDER, order).ok
    shipment = sb.post("Document_РасходнаяНакладная", stock_document(
        emu, goods, 1, ВидОперации="ПродажаПокупателю", Контрагент_Key=goods["buyer"],
        Заказ=order, Заказ_Type=f"StandardODATA.{ORDER}")).json()["Ref_Key"]
    assert post(sb, "Document_РасходнаяНакладная", shipment).ok
    open_orders = ("AccumulationRegister_ЗаказыПокупателей/Balance("
                   f"Condition='ЗаказПокупателя_Key eq guid''{order}''')")
    assert [r["КоличествоBalance"] for r in sb.values(open_orders)] == [1]
    completed = ref(emu, "Catalog_СостоянияЗаказовПокупателей", "Завершен")
    closed = sb.patch(f"{ORDER}(guid'{order}')", {
        "СостояниеЗаказа": completed,
        "СостояниеЗаказа_Type": "StandardODATA.Catalog_СостоянияЗаказовПокупателей",
        "ВариантЗавершения": "Успешно"})
    assert closed.status_code == 200
    assert post(sb, ORDER, order).ok
    assert sb.values(open_orders) == []
    payment = sb.post("Document_ПоступлениеНаСчет", {
        "ВидОперации": "ОтПокупателя", "Организация_Key": ref(emu, "Catalog_Организации", "main"),
        "БанковскийСчет_Key": ref(emu, "Catalog_БанковскиеСчета", "main"),
        "Контрагент_Key": goods["buyer"], "СуммаДокумента": 600,
        "ВалютаДенежныхСредств_Key": ref(emu, "Catalog_Валюты", "UAH"),
        "Статья_Key": ref(emu, "Catalog_СтатьиДвиженияДенежныхСредств", "from_customers"),
        "РасшифровкаПлатежа": [{"LineNumber": "1", "Договор_Key": goods["contract"],
                                "Заказ": order, "Заказ_Type": f"StandardODATA.{ORDER}",
                                "СуммаРасчетов": 600, "СуммаПлатежа": 600}]}).json()
    assert payment["Number"] == "ПС00-000001"
    assert post(sb, "Document_ПоступлениеНаСчет", payment["Ref_Key"]).ok


def test_an_empty_balance_still_answers_a_select_of_its_resources(emu: BasEmulator,
                                                                  sb: Bas) -> None:
    # Nothing reserved: the reserves register's Balance is empty, and a $select naming its
    # resource is still valid, as the result's ComplexType in $metadata declares it.
    warehouse = ref(emu, "Catalog_СтруктурныеЕдиницы", "warehouse")
    response = sb.get(
        f"AccumulationRegister_Запасы/Balance(Condition='СтруктурнаяЕдиница_Key eq "
        f"guid''{warehouse}''')", {"$select": "Номенклатура_Key,КоличествоBalance"})
    assert response.status_code == 200, response.text
    assert response.json()["value"] == []
    turnovers = sb.get("AccumulationRegister_Запасы/Turnovers()",
                       {"$select": "Номенклатура_Key,КоличествоReceipt,СуммаTurnover"})
    assert turnovers.status_code == 200, turnovers.text
