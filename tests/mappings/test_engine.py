"""The mapping engine end to end: a profile configured from the BAS emulator's $metadata, an
order fetched from the KeyCRM emulator, every mapping kind, and the exact document body the
preview produces — for the BAS Small Business and the BAS Accounting presets."""

from __future__ import annotations

import uuid

import pytest

from accounts.models import BasConnection
from mappings.models import (
    Correspondence,
    DirectoryEntry,
    DocumentProfile,
    FieldMapping,
    PropertyMapping,
    StatusCorrespondence,
)
from mappings.services.profiles import order_fetch, profile_apply_preset, profile_preview
from tests.presets import pick_small_business_references

pytestmark = pytest.mark.django_db

EMPLOYEE = str(uuid.UUID(int=7))
PROPERTY_SOURCE = uuid.UUID(int=101)
PROPERTY_CAMPAIGN = uuid.UUID(int=102)
PROPERTY_DELIVERY = uuid.UUID(int=103)


def _set(profile: DocumentProfile, attribute: str, section: str = "", **fields) -> None:
    mapping = FieldMapping.objects.get(profile=profile, attribute__name=attribute,
                                       attribute__section=section)
    for name, value in fields.items():
        setattr(mapping, name, value)
    mapping.save()


@pytest.fixture
def keycrm_order(keycrm):
    """A KeyCRM order as a shop makes it: a buyer with a phone typed loosely, two lines (one an
    offer with a size), marketing tags, a delivery service and a manager."""
    ids = keycrm.seed({
        "statuses": [{"name": "Нове", "group_id": 1}, {"name": "Підтверджено", "group_id": 2}],
        "sources": [{"name": "Prom.ua", "currency_code": "UAH"}],
        "delivery_services": [{"name": "Нова Пошта", "source_name": "novaposhta"}],
        "users": [{"full_name": "Іван Петренко", "email": "ivan@example.com"}],
        "products": [
            {"name": "Футболка чорна", "offers": [
                {"sku": "TSH-BLK-M", "price": 650,
                 "properties": [{"name": "Розмір", "value": "M"}]}]},
            {"name": "Кепка", "sku": "CAP-1", "price": 300},
        ],
    })
    created = keycrm.seed({"orders": [{
        "source_id": ids["sources"][0], "source_uuid": "PROM-1",
        "status_id": ids["statuses"][1], "manager_id": ids["users"][0],
        "ordered_at": "2025-03-14 08:30:00",
        "buyer_comment": "Подзвоніть",
        "buyer": {"full_name": "Олена Коваль", "phone": "067 123 45 67",
                  "email": "olena@example.com"},
        "products": [
            {"sku": "TSH-BLK-M", "name": "Футболка чорна, M", "price": 650, "quantity": 2,
             "discount_percent": 10},
            {"sku": "CAP-1", "name": "Кепка", "price": 300, "quantity": 1},
        ],
        "shipping": {"delivery_service_id": ids["delivery_services"][0],
                     "shipping_date": "2025-03-15"},
        "marketing": {"utm_source": "google", "utm_campaign": "spring_sale"},
    }]})
    return ids, created["orders"][0]


def test_small_business_preset_with_every_mapping_kind(keycrm_account, bas_connection, bas,
                                                       keycrm, keycrm_order):
    ids, order_id = keycrm_order
    keycrm_account.bas_connection = bas_connection
    keycrm_account.save()
    ref = bas.reference("sb")
    seeded = bas.seed("sb", {
        "Catalog_Контрагенты": [{
            "Description": "Коваль Олена", "Покупатель": True,
            "КонтактнаяИнформация": [{"LineNumber": "1", "Тип": "Телефон",
                                      "Представление": "+380 67 123 45 67",
                                      "НомерТелефона": "+380671234567"}]}],
        "Catalog_Номенклатура": [{"Description": "Футболка чорна", "Артикул": "TSH-BLK"},
                                 {"Description": "Кепка", "Артикул": "CAP-1"}],
    })
    counterparty = seeded["Catalog_Контрагенты"][0]
    tshirt, cap = seeded["Catalog_Номенклатура"]
    size_m = bas.seed("sb", {"Catalog_ХарактеристикиНоменклатуры": [{
        "Description": "M", "Owner": tshirt,
        "Owner_Type": "StandardODATA.Catalog_Номенклатура"}]})[
        "Catalog_ХарактеристикиНоменклатуры"][0]

    result = profile_apply_preset(account=keycrm_account, preset_key="small_business_order")
    profile = result.profile
    assert result.missing == []
    assert profile.attributes.filter(section="Запасы", name="Номенклатура_Key").exists()

    pick_small_business_references(profile, ref)
    # A reference through the correspondence register (the manager), and a value with a
    # default (no such custom field on the order).
    responsible = profile.attributes.get(section="", name="Ответственный_Key")
    FieldMapping.objects.create(profile=profile, attribute=responsible, kind="directory",
                                directory="manager", source_path="manager_id", position=500)
    Correspondence.objects.create(account=keycrm_account, directory="manager",
                                  keycrm_id=ids["users"][0], bas_entity_set="Catalog_Сотрудники",
                                  bas_ref=EMPLOYEE, bas_presentation="Петренко І.")
    money = profile.attributes.get(section="", name="ТипДенежныхСредств")
    FieldMapping.objects.create(profile=profile, attribute=money, kind="value",
                                source_path="custom_fields[uuid=OR_9999].value",
                                default_value="Безналичные", position=510)
    # The status correspondence.
    StatusCorrespondence.objects.create(
        account=keycrm_account, keycrm_status_id=ids["statuses"][1],
        keycrm_status_name="Підтверджено",
        bas_value=ref["Catalog_СостоянияЗаказовПокупателей"]["in_progress"],
        bas_entity_set="Catalog_СостоянияЗаказовПокупателей", bas_presentation="В роботі")
    # The offer with a size is linked to the nomenclature and its characteristic; the cap is
    # found by its SKU.
    offer_id = keycrm.store.offers_by_sku["TSH-BLK-M"]
    Correspondence.objects.create(account=keycrm_account, directory="offer", keycrm_id=offer_id,
                                  bas_entity_set="Catalog_Номенклатура", bas_ref=tshirt,
                                  bas_characteristic_ref=size_m,
                                  bas_presentation="Футболка чорна / M")
    # Additional deal characteristics into the additional-properties section.
    DirectoryEntry.objects.create(account=keycrm_account, directory="source",
                                  keycrm_id=ids["sources"][0], name="Prom.ua")
    PropertyMapping.objects.create(profile=profile, property_ref=PROPERTY_SOURCE,
                                   property_name="Джерело", source_path="source_id",
                                   directory="source", position=1)
    PropertyMapping.objects.create(profile=profile, property_ref=PROPERTY_CAMPAIGN,
                                   property_name="Рекламна кампанія",
                                   source_path="marketing.utm_campaign", position=2)
    PropertyMapping.objects.create(profile=profile, property_ref=PROPERTY_DELIVERY,
                                   property_name="Спосіб доставки", kind="expression",
                                   expression="order.shipping.delivery_service.name",
                                   position=3)
    profile.document_script = ('if order.payment_status != "paid":\n'
                               '    doc["ЗапланироватьОплату"] = True\n')
    profile.save()

    order = order_fetch(account=keycrm_account, order_id=order_id)
    bas.clear_log()
    plan = profile_preview(profile=profile, order=order)

    assert plan.problems == []
    assert plan.creations == []
    assert plan.body() == {
        "Date": "2025-03-14T10:30:00",
        "ВидОперации": "ЗаказНаПродажу",
        "Организация_Key": ref["Catalog_Организации"]["main"],
        "Контрагент_Key": counterparty,
        "ВалютаДокумента_Key": ref["Catalog_Валюты"]["UAH"],
        "Курс": 1,
        "Кратность": 1,
        "НалогообложениеНДС": "ОблагаетсяНДС",
        "СуммаВключаетНДС": True,
        "СтруктурнаяЕдиницаПродажи_Key": ref["Catalog_СтруктурныеЕдиницы"]["sales"],
        "СтруктурнаяЕдиницаРезерв_Key": ref["Catalog_СтруктурныеЕдиницы"]["warehouse"],
        "ДатаОтгрузки": "2025-03-15T00:00:00",
        "НомерВходящегоДокумента": f"KC-{order_id}",
        "ДатаВходящегоДокумента": "2025-03-14T10:30:00",
        "Комментарий": f"KeyCRM #{order_id}: Подзвоніть",
        "СостояниеЗаказа": ref["Catalog_СостоянияЗаказовПокупателей"]["in_progress"],
        "СостояниеЗаказа_Type": "StandardODATA.Catalog_СостоянияЗаказовПокупателей",
        "Ответственный_Key": EMPLOYEE,
        "ТипДенежныхСредств": "Безналичные",
        "ЗапланироватьОплату": True,
        "Запасы": [
            {"LineNumber": "1", "Номенклатура_Key": tshirt, "Характеристика_Key": size_m,
             "ЕдиницаИзмерения": ref["Catalog_КлассификаторЕдиницИзмерения"]["pcs"],
             "ЕдиницаИзмерения_Type": "StandardODATA.Catalog_КлассификаторЕдиницИзмерения",
             "Количество": 2, "Цена": 585, "Сумма": 1170,
             "СтавкаНДС_Key": ref["Catalog_СтавкиНДС"]["20"], "СуммаНДС": 195, "Всего": 1170,
             "Содержание": "Футболка чорна, M"},
            {"LineNumber": "2", "Номенклатура_Key": cap,
             "ЕдиницаИзмерения": ref["Catalog_КлассификаторЕдиницИзмерения"]["pcs"],
             "ЕдиницаИзмерения_Type": "StandardODATA.Catalog_КлассификаторЕдиницИзмерения",
             "Количество": 1, "Цена": 300, "Сумма": 300,
             "СтавкаНДС_Key": ref["Catalog_СтавкиНДС"]["20"], "СуммаНДС": 50, "Всего": 300,
             "Содержание": "Кепка"},
        ],
        "ДополнительныеРеквизиты": [
            {"LineNumber": "1", "Свойство_Key": str(PROPERTY_SOURCE), "Значение": "Prom.ua",
             "Значение_Type": "Edm.String"},
            {"LineNumber": "2", "Свойство_Key": str(PROPERTY_CAMPAIGN),
             "Значение": "spring_sale", "Значение_Type": "Edm.String"},
            {"LineNumber": "3", "Свойство_Key": str(PROPERTY_DELIVERY),
             "Значение": "Нова Пошта", "Значение_Type": "Edm.String"},
        ],
    }
    # How each value was found is recorded for the preview page.
    assert "КонтактнаяИнформация/НомерТелефона = +380671234567" in plan.header[
        "Контрагент_Key"].how
    assert plan.lines[0]["Номенклатура_Key"].how.startswith("correspondence register")
    assert "Артикул = CAP-1" in plan.lines[1]["Номенклатура_Key"].how
    # Nothing was written to BAS: the preview only reads.
    assert bas.requests(method="POST") == []
    assert bas.requests(method="PATCH") == []


def test_accounting_preset(keycrm_account, bas, keycrm, keycrm_order):
    _, order_id = keycrm_order
    connection = BasConnection(name="Бухгалтерія", publication_url=f"{bas.url}/acc",
                               username="Адміністратор", configuration="accounting")
    connection.set_password("secret")
    connection.save()
    keycrm_account.bas_connection = connection
    keycrm_account.save()
    ref = bas.reference("acc")
    seeded = bas.seed("acc", {
        "Catalog_Контрагенты": [{"Description": "Олена Коваль", "КодПоЕДРПОУ": "3012345678"}],
        "Catalog_Номенклатура": [{"Description": "Футболка чорна M", "Артикул": "TSH-BLK-M"},
                                 {"Description": "Кепка", "Артикул": "CAP-1"}],
    })
    counterparty = seeded["Catalog_Контрагенты"][0]
    tshirt, cap = seeded["Catalog_Номенклатура"]
    contract = bas.seed("acc", {"Catalog_ДоговорыКонтрагентов": [{
        "Description": "Основний договір", "Owner_Key": counterparty,
        "ВидДоговора": "СПокупателем"}]})["Catalog_ДоговорыКонтрагентов"][0]

    profile = profile_apply_preset(account=keycrm_account, preset_key="accounting_sale").profile
    _set(profile, "Организация_Key", value=ref["Catalog_Организации"]["main"])
    _set(profile, "ДоговорКонтрагента_Key", value=contract)
    _set(profile, "Склад_Key", value=ref["Catalog_Склады"]["main"])
    _set(profile, "ВалютаДокумента_Key", value=ref["Catalog_Валюты"]["UAH"])
    _set(profile, "ЕдиницаИзмерения_Key", "Товары",
         value=ref["Catalog_КлассификаторЕдиницИзмерения"]["pcs"])

    plan = profile_preview(profile=profile,
                           order=order_fetch(account=keycrm_account, order_id=order_id))

    assert plan.problems == []
    assert plan.body() == {
        "Date": "2025-03-14T10:30:00",
        "Организация_Key": ref["Catalog_Организации"]["main"],
        "Контрагент_Key": counterparty,
        "ДоговорКонтрагента_Key": contract,
        "Склад_Key": ref["Catalog_Склады"]["main"],
        "ВалютаДокумента_Key": ref["Catalog_Валюты"]["UAH"],
        "КурсВзаиморасчетов": 1,
        "КратностьВзаиморасчетов": 1,
        "СуммаВключаетНДС": True,
        "Комментарий": f"KC-{order_id}",
        "Товары": [
            {"LineNumber": "1", "Номенклатура_Key": tshirt,
             "ЕдиницаИзмерения_Key": ref["Catalog_КлассификаторЕдиницИзмерения"]["pcs"],
             "Количество": 2, "Цена": 585, "Сумма": 1170, "СтавкаНДС": "НДС20",
             "СуммаНДС": 195},
            {"LineNumber": "2", "Номенклатура_Key": cap,
             "ЕдиницаИзмерения_Key": ref["Catalog_КлассификаторЕдиницИзмерения"]["pcs"],
             "Количество": 1, "Цена": 300, "Сумма": 300, "СтавкаНДС": "НДС20",
             "СуммаНДС": 50},
        ],
    }


@pytest.fixture
def counterparty_profile(keycrm_account, bas_connection):
    """A profile whose only mapping finds the counterparty by phone, then by e-mail."""
    keycrm_account.bas_connection = bas_connection
    keycrm_account.save()
    profile = profile_apply_preset(account=keycrm_account,
                                   preset_key="small_business_order").profile
    profile.mappings.exclude(attribute__name="Контрагент_Key").delete()
    _set(profile, "Контрагент_Key", create_if_missing=False)
    return profile


ORDER = {"id": 41, "buyer": {"id": 9, "full_name": "Олена Коваль",
                             "phone": "+38(067)1234567", "email": "olena@example.com"}}


def _counterparty(phone: str, email: str = "") -> dict:
    contacts = [{"LineNumber": "1", "Тип": "Телефон", "НомерТелефона": phone}]
    if email:
        contacts.append({"LineNumber": "2", "Тип": "АдресЭлектроннойПочты", "АдресЭП": email})
    return {"Description": f"Клієнт {phone}", "КонтактнаяИнформация": contacts}


def test_exactly_one_match_is_a_match(counterparty_profile, bas):
    ref = bas.seed("sb", {"Catalog_Контрагенты": [_counterparty("+380671234567"),
                                                  _counterparty("+380509999999")]})
    plan = profile_preview(profile=counterparty_profile, order=ORDER)
    assert plan.problems == []
    assert plan.body() == {"Контрагент_Key": ref["Catalog_Контрагенты"][0]}


def test_no_match_stops_with_a_message_naming_what_was_searched(counterparty_profile, bas):
    plan = profile_preview(profile=counterparty_profile, order=ORDER)
    assert plan.body() == {}
    assert [str(p) for p in plan.problems] == [
        "Контрагент_Key: no single element of Catalog_Контрагенты matches "
        "(КонтактнаяИнформация/НомерТелефона = +380671234567: none found; "
        "КонтактнаяИнформация/АдресЭП = olena@example.com: none found). Link it in the "
        "correspondence register, correct the data, or allow creating it"]
    assert plan.problems[0].kind == "configuration"


def test_two_matches_are_not_a_match_either(counterparty_profile, bas):
    bas.seed("sb", {"Catalog_Контрагенты": [_counterparty("+380671234567"),
                                            _counterparty("+380671234567")]})
    plan = profile_preview(profile=counterparty_profile, order=ORDER)
    assert "Контрагент_Key" not in plan.body()
    assert "+380671234567: several found" in plan.problems[0].message


def test_the_next_search_field_is_tried_when_the_first_is_ambiguous(counterparty_profile, bas):
    ref = bas.seed("sb", {"Catalog_Контрагенты": [
        _counterparty("+380671234567"),
        _counterparty("+380671234567", email="olena@example.com")]})
    plan = profile_preview(profile=counterparty_profile, order=ORDER)
    assert plan.body() == {"Контрагент_Key": ref["Catalog_Контрагенты"][1]}
    assert "АдресЭП = olena@example.com" in plan.header["Контрагент_Key"].how


def test_a_missing_counterparty_is_planned_for_creation_when_allowed(counterparty_profile, bas):
    _set(counterparty_profile, "Контрагент_Key", create_if_missing=True)
    plan = profile_preview(profile=counterparty_profile, order=ORDER)
    assert plan.problems == []
    [creation] = plan.creations
    assert creation.entity_set == "Catalog_Контрагенты"
    assert (creation.directory, creation.keycrm_id) == ("buyer", 9)
    assert creation.body["Description"] == "Олена Коваль"
    assert creation.body["КонтактнаяИнформация"][0]["НомерТелефона"] == "+380671234567"
    assert plan.body()["Контрагент_Key"] == "<new Catalog_Контрагенты: Олена Коваль>"


def test_a_register_link_wins_over_the_search(counterparty_profile, bas, keycrm_account):
    linked = str(uuid.uuid4())
    Correspondence.objects.create(account=keycrm_account, directory="buyer", keycrm_id=9,
                                  bas_entity_set="Catalog_Контрагенты", bas_ref=linked)
    bas.clear_log()
    plan = profile_preview(profile=counterparty_profile, order=ORDER)
    assert plan.body() == {"Контрагент_Key": linked}
    assert bas.requests() == []  # no search needed


def test_problems_for_missing_correspondences_name_the_element(keycrm_account, bas_connection):
    keycrm_account.bas_connection = bas_connection
    keycrm_account.save()
    profile = profile_apply_preset(account=keycrm_account,
                                   preset_key="small_business_order").profile
    profile.mappings.exclude(attribute__name="СостояниеЗаказа").delete()
    DirectoryEntry.objects.create(account=keycrm_account, directory="order_status",
                                  keycrm_id=4, name="Відправлено")
    plan = profile_preview(profile=profile, order={"id": 1, "status_id": 4})
    assert [str(p) for p in plan.problems] == [
        "СостояниеЗаказа: status «Відправлено» (#4) has no BAS state in the status "
        "correspondence"]
