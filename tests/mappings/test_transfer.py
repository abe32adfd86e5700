"""Configuration export and import: the document carries no secret, and export → import into an
empty database reproduces the configuration exactly."""

from __future__ import annotations

import copy
import datetime as dt
import json
import uuid

import pytest
import yaml
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.models import BasConnection, KeyCrmAccount
from mappings.admin.correspondence import CorrespondenceResource
from mappings.models import (
    Correspondence,
    CorrespondenceOrigin,
    DirectoryEntry,
    DocumentProfile,
    FieldMapping,
    KeyCrmDirectory,
    MappingKind,
    ProfileAttribute,
    PropertyMapping,
    StatusCorrespondence,
)
from mappings.services.transfer import (
    FORMAT,
    ConfigurationFileError,
    configuration_dumps,
    configuration_export,
    configuration_import,
    configuration_loads,
)

pytestmark = pytest.mark.django_db

PASSWORD = "planted-password-Пароль-456"
KEYS = {"Магазин": "planted-key-shop-123", "Опт": "planted-key-wholesale-789"}
ORGANISATION = "5b1c8f0e-6a5c-4a43-9d59-0b3a1f2d7c11"
SEARCH_STEPS = [
    {"field": "КодПоЕДРПОУ", "source": "buyer.company.tax_id", "normalize": "digits"},
    {"field": "Телефон", "source": "buyer.phone", "normalize": "phone"},
]
EXPRESSION = 'round(line["price_sold"] * 1.2, 2)  # ціна з ПДВ, «20 %»'
MODELS = (BasConnection, KeyCrmAccount, DocumentProfile, ProfileAttribute, FieldMapping,
          PropertyMapping, StatusCorrespondence, Correspondence, DirectoryEntry)
CHANNEL = uuid.uuid5(uuid.NAMESPACE_URL, "property-channel")
CAMPAIGN = uuid.uuid5(uuid.NAMESPACE_URL, "property-campaign")


@pytest.fixture
def configuration() -> dict:
    """A full configuration: two connections (one unused), two accounts with keys, a profile
    with header and line attributes, a mapping of every kind, additional-property mappings,
    statuses and correspondences, and a directory mirror that must not travel."""
    shop_base = BasConnection(name="БАС МБ", publication_url="https://bas.example.ua/sb",
                              username="Адміністратор", configuration="small_business",
                              server_timezone="Europe/Kyiv")
    shop_base.set_password(PASSWORD)
    shop_base.save()
    BasConnection.objects.create(name="Бухгалтерія", publication_url="https://bas.example.ua/acc",
                                 username="Бухгалтер", configuration="accounting",
                                 server_timezone="Europe/Warsaw", enabled=False)
    shop = KeyCrmAccount(name="Магазин", api_base_url="https://openapi.keycrm.app/v1",
                         requests_per_minute=50, bas_connection=shop_base)
    shop.set_api_key(KEYS["Магазин"])
    shop.save()
    wholesale = KeyCrmAccount(name="Опт", api_base_url="https://openapi.keycrm.app/v1",
                              enabled=False)
    wholesale.set_api_key(KEYS["Опт"])
    wholesale.save()

    profile = DocumentProfile.objects.create(
        account=shop, document_set="Document_ЗаказПокупателя", lines_section="Запасы",
        post_documents=False, order_id_template="KC-{id}",
        document_script='doc["Комментарий"] = "Замовлення з KeyCRM"',
        attributes_filled_at=dt.datetime(2025, 3, 1, 9, 30, tzinfo=dt.UTC))
    attributes = {
        (section, name): ProfileAttribute.objects.create(
            profile=profile, section=section, name=name, edm_type=edm_type, kind=kind)
        for section, name, edm_type, kind in [
            ("", "Комментарий", "Edm.String", "value"),
            ("", "Контрагент_Key", "Edm.Guid", "reference"),
            ("", "Организация_Key", "Edm.Guid", "reference"),
            ("", "СостояниеЗаказа_Key", "Edm.Guid", "reference"),
            ("Запасы", "Номенклатура_Key", "Edm.Guid", "reference"),
            ("Запасы", "Цена", "Edm.Double", "value"),
        ]
    }
    mappings = [
        ("", "Комментарий", {"kind": MappingKind.VALUE, "source_path": "buyer_comment",
                             "default_value": "—"}),
        ("", "Контрагент_Key", {"kind": MappingKind.SEARCH, "bas_entity_set":
                                "Catalog_Контрагенты", "search_steps": SEARCH_STEPS,
                                "create_if_missing": True}),
        ("", "Организация_Key", {"kind": MappingKind.CONSTANT, "value": ORGANISATION}),
        ("", "СостояниеЗаказа_Key", {"kind": MappingKind.STATUS, "source_path": "status_id"}),
        ("Запасы", "Номенклатура_Key", {"kind": MappingKind.DIRECTORY,
                                        "source_path": "products[].offer.id",
                                        "directory": KeyCrmDirectory.OFFER,
                                        "bas_entity_set": "Catalog_Номенклатура"}),
        ("Запасы", "Цена", {"kind": MappingKind.EXPRESSION, "expression": EXPRESSION}),
    ]
    for position, (section, name, fields) in enumerate(mappings):
        FieldMapping.objects.create(profile=profile, attribute=attributes[section, name],
                                    position=position * 10, **fields)

    PropertyMapping.objects.create(profile=profile, property_ref=CHANNEL,
                                   property_name="Канал продажу", source_path="source_id",
                                   directory=KeyCrmDirectory.SOURCE, position=1)
    PropertyMapping.objects.create(profile=profile, property_ref=CAMPAIGN,
                                   property_name="Кампанія", kind=MappingKind.EXPRESSION,
                                   expression='order["marketing"]["utm_campaign"] or "—"',
                                   position=2)

    for status_id, name, value in [(1, "Новий", "Не согласован"), (4, "Виконано", "Закрыт")]:
        StatusCorrespondence.objects.create(
            account=shop, keycrm_status_id=status_id, keycrm_status_name=name,
            bas_value=str(uuid.uuid5(uuid.NAMESPACE_URL, value)),
            bas_entity_set="Catalog_СостоянияЗаказовПокупателей", bas_presentation=value)
    StatusCorrespondence.objects.create(account=wholesale, keycrm_status_id=1,
                                        bas_value="НеСогласован")

    Correspondence.objects.create(
        account=shop, directory=KeyCrmDirectory.SOURCE, keycrm_id=3,
        bas_entity_set="Catalog_ИсточникиИнформацииПриОбращении",
        bas_ref=uuid.uuid5(uuid.NAMESPACE_URL, "instagram"), bas_presentation="Інстаграм")
    Correspondence.objects.create(
        account=shop, directory=KeyCrmDirectory.OFFER, keycrm_id=1201,
        bas_entity_set="Catalog_Номенклатура", bas_ref=uuid.uuid5(uuid.NAMESPACE_URL, "shirt"),
        bas_characteristic_ref=uuid.uuid5(uuid.NAMESPACE_URL, "shirt-xl"),
        bas_presentation="Сорочка, XL", origin=CorrespondenceOrigin.MATCHED,
        note="знайдено за артикулом SH-XL")
    Correspondence.objects.create(
        account=shop, directory=KeyCrmDirectory.BUYER, keycrm_id=77,
        bas_entity_set="Catalog_Контрагенты", bas_ref=uuid.uuid5(uuid.NAMESPACE_URL, "buyer"),
        bas_presentation="Іваненко Іван", origin=CorrespondenceOrigin.CREATED)
    Correspondence.objects.create(
        account=wholesale, directory=KeyCrmDirectory.SOURCE, keycrm_id=3,
        bas_entity_set="Catalog_ИсточникиИнформацииПриОбращении",
        bas_ref=uuid.uuid5(uuid.NAMESPACE_URL, "site"))
    DirectoryEntry.objects.create(account=shop, directory=KeyCrmDirectory.SOURCE, keycrm_id=3,
                                  name="Дзеркальне джерело")
    return configuration_export()


def _secrets() -> list[str]:
    values = [PASSWORD, *KEYS.values()]
    for connection in BasConnection.objects.all():
        values.append(connection.password_encrypted)
    for account in KeyCrmAccount.objects.all():
        values += [account.api_key_encrypted, account.webhook_token]
    return [value for value in values if value]


def _wipe() -> None:
    KeyCrmAccount.objects.all().delete()  # cascades to profiles, mappings, registers, mirrors
    BasConnection.objects.all().delete()
    assert not any(model.objects.exists() for model in MODELS)


def _timeless(document: dict) -> dict:
    return {key: value for key, value in document.items() if key != "exported_at"}


def _counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


# --- Export ---------------------------------------------------------------------------------------


def test_export_carries_no_secret_in_any_format(configuration):
    secrets = _secrets()
    assert len(secrets) == 3 + 1 + 2 * 2  # 3 plain; stored: a password, 2 × (key, token)
    for text in (configuration_dumps(configuration), configuration_dumps(configuration,
                                                                        fmt="yaml")):
        for secret in secrets:
            assert secret not in text
        for key in ("api_key", "password", "webhook_token"):
            assert key not in text


def test_export_document_shape(configuration):
    assert configuration["format"] == FORMAT
    assert configuration["version"] == 1
    assert [c["name"] for c in configuration["connections"]] == ["БАС МБ", "Бухгалтерія"]
    assert configuration["connections"][0] == {
        "name": "БАС МБ", "publication_url": "https://bas.example.ua/sb",
        "username": "Адміністратор", "configuration": "small_business",
        "server_timezone": "Europe/Kyiv", "enabled": True}
    shop, wholesale = configuration["accounts"]
    assert (shop["name"], shop["bas_connection"]) == ("Магазин", "БАС МБ")
    assert (wholesale["name"], wholesale["bas_connection"], wholesale["document_profile"]) == \
        ("Опт", None, None)
    profile = shop["document_profile"]
    assert profile["attributes_filled_at"] == "2025-03-01T09:30:00+00:00"
    assert [(a["section"], a["name"]) for a in profile["attributes"]] == sorted(
        (a["section"], a["name"]) for a in profile["attributes"])
    search = next(m for m in profile["mappings"] if m["kind"] == "search")
    assert search["attribute"] == {"section": "", "name": "Контрагент_Key"}
    assert search["search_steps"] == SEARCH_STEPS
    assert [m["position"] for m in profile["mappings"]] == [0, 10, 20, 30, 40, 50]
    assert profile["property_mappings"][0] == {
        "section": "ДополнительныеРеквизиты", "property_column": "Свойство_Key",
        "value_column": "Значение", "property_ref": str(CHANNEL),
        "property_name": "Канал продажу", "kind": "value", "source_path": "source_id",
        "directory": "source", "expression": "", "position": 1}
    assert [(r["directory"], r["keycrm_id"]) for r in shop["correspondences"]] == [
        ("buyer", 77), ("offer", 1201), ("source", 3)]
    offer = shop["correspondences"][1]
    assert offer["bas_characteristic_ref"] == str(uuid.uuid5(uuid.NAMESPACE_URL, "shirt-xl"))
    assert [s["keycrm_status_id"] for s in shop["status_correspondences"]] == [1, 4]
    # Directory mirrors are re-synced from KeyCRM, not exported.
    assert "Дзеркальне джерело" not in configuration_dumps(configuration)


def test_export_is_deterministic_and_keeps_cyrillic_readable(configuration):
    again = configuration_export()
    assert configuration_dumps(_timeless(again)) == configuration_dumps(_timeless(configuration))
    text = configuration_dumps(configuration)
    assert EXPRESSION.replace('"', '\\"') in text
    assert "\\u04" not in text
    yaml_text = configuration_dumps(configuration, fmt="yaml")
    assert "Catalog_Контрагенты" in yaml_text
    assert configuration_loads(yaml_text) == configuration
    assert configuration_loads(text) == configuration


def test_export_of_chosen_accounts_takes_only_their_connections(configuration):
    document = configuration_export(accounts=KeyCrmAccount.objects.filter(name="Магазин"))
    assert [a["name"] for a in document["accounts"]] == ["Магазин"]
    assert [c["name"] for c in document["connections"]] == ["БАС МБ"]


# --- Import ---------------------------------------------------------------------------------------


def test_export_import_into_an_empty_database_reproduces_the_configuration(configuration):
    old_tokens = set(KeyCrmAccount.objects.values_list("webhook_token", flat=True))
    _wipe()

    result = configuration_import(data=configuration_loads(configuration_dumps(configuration)))

    assert _timeless(configuration_export()) == _timeless(configuration)
    assert dict(result.created) == {"connections": 2, "accounts": 2, "profiles": 1,
                                    "attributes": 6, "mappings": 6, "properties": 2,
                                    "statuses": 3,
                                    "correspondences": 4}
    assert not result.updated
    assert not result.deleted
    assert not DirectoryEntry.objects.exists()
    # Secrets stay behind: a person enters keys and passwords, tokens are new.
    for account in KeyCrmAccount.objects.all():
        assert not account.has_api_key
        assert account.webhook_token
        assert account.webhook_token not in old_tokens
    assert not any(connection.has_password for connection in BasConnection.objects.all())
    mapping = FieldMapping.objects.get(attribute__name="Цена")
    assert mapping.expression == EXPRESSION


def test_yaml_round_trip_reproduces_the_configuration(configuration):
    text = configuration_dumps(configuration, fmt="yaml")
    _wipe()
    configuration_import(data=configuration_loads(text))
    assert _timeless(configuration_export()) == _timeless(configuration)


def test_importing_twice_changes_nothing_and_keeps_secrets(configuration):
    tokens = dict(KeyCrmAccount.objects.values_list("name", "webhook_token"))

    first = configuration_import(data=configuration)
    second = configuration_import(data=configuration)

    for result in (first, second):
        assert not result.created
        assert not result.updated
        assert not result.deleted
        assert sum(result.unchanged.values()) == 26
        assert "Nothing to change" in result.summary()
    assert dict(KeyCrmAccount.objects.values_list("name", "webhook_token")) == tokens
    assert KeyCrmAccount.objects.get(name="Магазин").get_api_key() == KEYS["Магазин"]
    assert BasConnection.objects.get(name="БАС МБ").get_password() == PASSWORD


def test_import_updates_changed_rows_by_natural_key(configuration):
    document = copy.deepcopy(configuration)
    shop = document["accounts"][1 - 1]
    shop["requests_per_minute"] = 30
    shop["correspondences"][0]["bas_presentation"] = "Іваненко І. І."
    next(m for m in shop["document_profile"]["mappings"]
         if m["kind"] == "search")["search_steps"] = SEARCH_STEPS[:1]

    result = configuration_import(data=document)

    assert dict(result.updated) == {"accounts": 1, "mappings": 1, "correspondences": 1}
    assert not result.created
    assert {(c.kind, c.fields) for c in result.changes} == {
        ("accounts", ("requests_per_minute",)), ("mappings", ("search_steps",)),
        ("correspondences", ("bas_presentation",))}
    assert KeyCrmAccount.objects.get(name="Магазин").requests_per_minute == 30
    assert Correspondence.objects.get(keycrm_id=77).bas_presentation == "Іваненко І. І."
    assert FieldMapping.objects.get(kind="search").search_steps == SEARCH_STEPS[:1]
    assert Correspondence.objects.count() == 4


def _trimmed(configuration: dict) -> dict:
    """The configuration without one attribute (and its mapping), one more mapping, one
    property mapping, one status and one correspondence of "Магазин"."""
    document = copy.deepcopy(configuration)
    shop = document["accounts"][0]
    profile = shop["document_profile"]
    profile["attributes"] = [a for a in profile["attributes"] if a["name"] != "Цена"]
    profile["mappings"] = [m for m in profile["mappings"]
                           if m["attribute"]["name"] not in ("Цена", "Комментарий")]
    profile["property_mappings"] = profile["property_mappings"][:1]
    shop["status_correspondences"] = shop["status_correspondences"][:1]
    shop["correspondences"] = [c for c in shop["correspondences"] if c["directory"] != "offer"]
    return document


def test_replace_deletes_what_the_file_no_longer_has(configuration):
    result = configuration_import(data=_trimmed(configuration), replace=True)

    assert dict(result.deleted) == {"attributes": 1, "mappings": 2, "properties": 1,
                                    "statuses": 1, "correspondences": 1}
    assert not result.created
    assert not result.updated
    assert "2 deleted" in result.summary()
    assert not ProfileAttribute.objects.filter(name="Цена").exists()
    assert set(FieldMapping.objects.values_list("attribute__name", flat=True)) == {
        "Контрагент_Key", "Организация_Key", "СостояниеЗаказа_Key", "Номенклатура_Key"}
    assert list(StatusCorrespondence.objects.filter(account__name="Магазин")
                .values_list("keycrm_status_id", flat=True)) == [1]
    assert not Correspondence.objects.filter(directory="offer").exists()
    assert list(PropertyMapping.objects.values_list("property_ref", flat=True)) == [CHANNEL]
    # The other account's rows are listed in the file unchanged, so they stay.
    assert Correspondence.objects.filter(account__name="Опт").count() == 1
    assert _timeless(configuration_export()) == _timeless(_trimmed(configuration))


def test_without_replace_rows_missing_from_the_file_stay(configuration):
    result = configuration_import(data=_trimmed(configuration))
    assert not result.deleted
    assert _timeless(configuration_export()) == _timeless(configuration)


def test_replace_with_no_profile_deletes_the_profile(configuration):
    document = copy.deepcopy(configuration)
    document["accounts"][0]["document_profile"] = None
    result = configuration_import(data=document, replace=True)
    assert dict(result.deleted) == {"profiles": 1, "attributes": 6, "mappings": 6,
                                    "properties": 2}
    assert not DocumentProfile.objects.exists()


def test_dry_run_reports_and_saves_nothing(configuration):
    _wipe()
    result = configuration_import(data=configuration, dry_run=True)
    assert result.created["accounts"] == 2
    assert result.summary().startswith("Dry run, nothing was saved.")
    assert all(count == 0 for count in _counts().values())


@pytest.mark.parametrize(("change", "message"), [
    ({"format": "something/else"}, "format is “something/else”"),
    ({"format": None}, "format is “None”"),
    ({"version": 2}, "version 2 of the configuration format; this portal reads version 1"),
    ({"version": "1"}, "“version” is “1”"),
    ({"version": True}, "“version” is “True”"),
    ({"connections": {"name": "x"}}, "“connections” must be a list"),
    ({"extra": 1}, "fields the format does not know: extra"),
])
def test_a_wrong_header_is_refused_and_changes_nothing(configuration, change, message):
    document = {**copy.deepcopy(configuration), **change}
    document["accounts"][0]["requests_per_minute"] = 5
    before = _counts()
    with pytest.raises(ConfigurationFileError, match=message):
        configuration_import(data=document)
    assert _counts() == before
    assert KeyCrmAccount.objects.get(name="Магазин").requests_per_minute == 50


def test_a_missing_format_or_version_is_named():
    with pytest.raises(ConfigurationFileError, match="has no “format” field"):
        configuration_import(data={"version": 1, "connections": [], "accounts": []})
    with pytest.raises(ConfigurationFileError, match="has no “version” field"):
        configuration_import(data={"format": FORMAT, "connections": [], "accounts": []})
    with pytest.raises(ConfigurationFileError, match="“accounts” is missing"):
        configuration_import(data={"format": FORMAT, "version": 1, "connections": []})


@pytest.mark.parametrize(("edit", "message"), [
    (lambda shop: shop["correspondences"][1].update(directory="planets"),
     "accounts › “Магазин” › correspondences › #2: KeyCRM directory — .*'planets'"),
    (lambda shop: shop["correspondences"][1].update(bas_ref="not-a-guid"),
     "“Магазин” offer #1201: BAS reference"),
    (lambda shop: shop["document_profile"]["mappings"][0].update(kind="magic"),
     "mappings › “Магазин” Комментарий: kind — .*'magic'"),
    (lambda shop: shop["document_profile"]["mappings"][0]["attribute"].update(name="Нема"),
     "the attribute “Магазин” Нема is not among the profile's attributes in the file"),
    (lambda shop: shop.update(bas_connection="Невідома"),
     "the BAS connection “Невідома” is neither in the file nor in the portal"),
    (lambda shop: shop.update(api_key="sneaky"),
     "carries “api_key”. Secrets are never imported"),
    (lambda shop: shop.update(colour="red"), "unknown field\\(s\\) colour"),
    (lambda shop: shop["status_correspondences"].append(
        dict(shop["status_correspondences"][0])), "#1 appears twice in the file"),
])
def test_an_invalid_row_rolls_back_the_whole_import(configuration, edit, message):
    _wipe()
    document = copy.deepcopy(configuration)
    # The faulty account comes after the other one, so the import has written rows already.
    document["accounts"].reverse()
    edit(document["accounts"][1])
    with pytest.raises(ConfigurationFileError, match=message):
        configuration_import(data=document)
    assert all(count == 0 for count in _counts().values())


def test_unreadable_text_is_a_configuration_file_error():
    with pytest.raises(ConfigurationFileError, match="not valid JSON"):
        configuration_loads('{"format": ')
    with pytest.raises(ConfigurationFileError, match="not UTF-8"):
        configuration_loads(b"{}" + "Ї".encode("cp1251"))
    with pytest.raises(ConfigurationFileError, match="does not hold a configuration"):
        configuration_loads("- just\n- a list\n")
    with pytest.raises(ConfigurationFileError, match="neither JSON nor valid YAML"):
        configuration_loads("a: !!python/object:os.system x\n")


# --- Commands -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_commands_round_trip(configuration, tmp_path, fmt, capsys):
    path = tmp_path / f"config.{fmt}"
    call_command("config_export", "--output", str(path), "--format", fmt)
    text = path.read_text(encoding="utf-8")
    assert "Адміністратор" in text
    assert (json.loads(text) if fmt == "json" else yaml.safe_load(text))["format"] == FORMAT
    for secret in _secrets():
        assert secret not in text
    _wipe()

    call_command("config_import", str(path))

    assert "KeyCRM accounts: 2 created" in capsys.readouterr().out
    assert _timeless(configuration_export()) == _timeless(configuration)


def test_export_command_to_stdout_for_chosen_accounts(configuration, capsys):
    call_command("config_export", "--account", "Опт")
    document = json.loads(capsys.readouterr().out)
    assert [a["name"] for a in document["accounts"]] == ["Опт"]
    assert document["connections"] == []
    with pytest.raises(CommandError, match="No KeyCRM account named Нема"):
        call_command("config_export", "--account", "Опт", "--account", "Нема")


def test_import_command_dry_run_prints_changes_and_saves_nothing(configuration, tmp_path,
                                                                 capsys):
    path = tmp_path / "config.yaml"
    call_command("config_export", "-o", str(path))
    assert path.read_text(encoding="utf-8").startswith("format: keycrm-bas-portal/config")
    _wipe()

    call_command("config_import", str(path), "--dry-run")

    out = capsys.readouterr().out
    assert "create KeyCRM account “Магазин”" in out
    assert "Dry run, nothing was saved" in out
    assert all(count == 0 for count in _counts().values())


def test_import_command_replace_and_errors(configuration, tmp_path, capsys):
    path = tmp_path / "config.json"
    path.write_text(configuration_dumps(_trimmed(configuration)), encoding="utf-8")
    call_command("config_import", str(path), "--replace")
    assert "correspondence register: 1 deleted" in capsys.readouterr().out
    assert Correspondence.objects.count() == 3

    path.write_text('{"format": "keycrm-bas-portal/config", "version": 9}', encoding="utf-8")
    with pytest.raises(CommandError, match=r"Nothing was imported\. The file is version 9"):
        call_command("config_import", str(path))
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("config_import", str(tmp_path / "missing.json"))


# --- Admin ----------------------------------------------------------------------------------------


def test_changelist_offers_both_configuration_buttons(admin_client, configuration):
    html = admin_client.get(reverse("admin:mappings_correspondence_changelist")).content.decode()
    assert reverse("admin:mappings_correspondence_configuration_export") in html
    assert reverse("admin:mappings_correspondence_configuration_import") in html
    assert "Іваненко Іван" in html


def test_admin_export_downloads_the_document(admin_client, configuration):
    response = admin_client.get(reverse("admin:mappings_correspondence_configuration_export"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"].startswith(
        'attachment; filename="keycrm-bas-configuration-')
    text = response.content.decode("utf-8")
    assert "Магазин" in text
    assert _timeless(json.loads(text)) == _timeless(configuration)
    for secret in _secrets():
        assert secret not in text


def test_admin_import_reports_the_summary(admin_client, configuration):
    upload = configuration_dumps(configuration).encode()
    _wipe()
    url = reverse("admin:mappings_correspondence_configuration_import")
    assert admin_client.get(url).status_code == 200

    response = admin_client.post(url, {
        "file": SimpleUploadedFile("config.json", upload, "application/json")}, follow=True)

    assert response.redirect_chain[-1][0] == reverse("admin:mappings_correspondence_changelist")
    messages = [str(m) for m in response.context["messages"]]
    assert any("KeyCRM accounts: 2 created" in m for m in messages), messages
    assert _timeless(configuration_export()) == _timeless(configuration)


def test_admin_import_dry_run_lists_changes_and_saves_nothing(admin_client, configuration):
    url = reverse("admin:mappings_correspondence_configuration_import")
    response = admin_client.post(url, {
        "file": SimpleUploadedFile("config.json", configuration_dumps(
            _trimmed(configuration)).encode()), "replace": "on", "dry_run": "on"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Dry run, nothing was saved" in html
    assert "delete correspondence “Магазин” offer #1201" in html
    assert Correspondence.objects.count() == 4


def test_admin_import_of_a_wrong_file_says_why(admin_client, configuration):
    url = reverse("admin:mappings_correspondence_configuration_import")
    response = admin_client.post(url, {
        "file": SimpleUploadedFile("config.json", b'{"format": "other", "version": 1}')})
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert messages == ["The configuration was not imported. The file's format is “other”, "
                        "not a KeyCRM–BAS portal configuration (expected "
                        "“keycrm-bas-portal/config”)."]


def test_configuration_views_need_change_permission(client, django_user_model, configuration):
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    client.force_login(user)
    for name in ("configuration_export", "configuration_import"):
        response = client.get(reverse(f"admin:mappings_correspondence_{name}"))
        assert response.status_code == 403


def test_import_needs_the_rights_to_write_every_kind(client, django_user_model, configuration):
    user = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="mappings", codename__in=["view_correspondence",
                                                          "change_correspondence"]))
    client.force_login(user)
    _wipe()
    response = client.post(reverse("admin:mappings_correspondence_configuration_import"), {
        "file": SimpleUploadedFile("config.json", configuration_dumps(configuration).encode())})
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert len(messages) == 1
    assert messages[0].startswith("You may not import a configuration")
    assert all(count == 0 for count in _counts().values())


# --- Spreadsheet import/export of the register ----------------------------------------------------


def test_register_resource_matches_rows_by_natural_key(configuration):
    dataset = CorrespondenceResource().export()
    assert dataset.headers[:3] == ["account", "directory", "keycrm_id"]
    assert "Магазин" in dataset["account"]
    row = dataset["keycrm_id"].index("77")
    edited = list(dataset[row])
    edited[dataset.headers.index("bas_presentation")] = "Іваненко Іван Іванович"
    dataset[row] = edited

    result = CorrespondenceResource().import_data(dataset, raise_errors=True)

    assert not result.has_errors()
    assert Correspondence.objects.count() == 4
    assert Correspondence.objects.get(keycrm_id=77).bas_presentation == "Іваненко Іван Іванович"
