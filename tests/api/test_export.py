"""The configuration export over the API: the same document as ``manage.py config_export``,
in JSON or YAML, for one account or all, and never a secret."""

from __future__ import annotations

import pytest
import yaml

from accounts.models import KeyCrmAccount
from mappings.services.transfer import FORMAT, configuration_loads

pytestmark = pytest.mark.django_db

BAS_PASSWORD = "secret"  # tests/conftest.py sets these on the fixtures
KEYCRM_KEY = "test-key"


@pytest.fixture
def configured(keycrm_account, bas_connection) -> KeyCrmAccount:
    keycrm_account.bas_connection = bas_connection
    keycrm_account.save()
    other = KeyCrmAccount(name="Другий", api_base_url="https://other.example/v1")
    other.set_api_key("other-secret-key-42")
    other.save()
    return keycrm_account


def _secrets(account: KeyCrmAccount) -> list[str]:
    other = KeyCrmAccount.objects.get(name="Другий")
    return [KEYCRM_KEY, BAS_PASSWORD, "other-secret-key-42", account.webhook_token,
            other.webhook_token, account.api_key_encrypted, other.api_key_encrypted,
            account.bas_connection.password_encrypted]


def test_json_export_has_every_account_and_no_secret(configured, client_as):
    response = client_as("operator").get("/api/v1/configuration/")

    data = response.json()
    assert data["format"] == FORMAT
    assert [a["name"] for a in data["accounts"]] == ["Другий", "Магазин"]
    assert [c["name"] for c in data["connections"]] == ["БАС МБ"]
    text = response.content.decode()
    for secret in _secrets(configured):
        assert secret not in text
    for key in ("api_key", "password", "webhook_token"):
        assert f'"{key}' not in text


def test_yaml_export_of_one_account_imports_back(configured, client_as):
    response = client_as("configurator").get(
        "/api/v1/configuration/", {"account": configured.pk, "file_format": "yaml"})

    assert response["Content-Type"] == "application/yaml; charset=utf-8"
    text = response.content.decode()
    data = configuration_loads(text)  # the importer's own parser accepts it
    assert data == yaml.safe_load(text)
    assert [a["name"] for a in data["accounts"]] == ["Магазин"]
    assert [c["name"] for c in data["connections"]] == ["БАС МБ"]
    for secret in _secrets(configured):
        assert secret not in text


def test_export_of_an_unknown_account_is_404(configured, client_as):
    response = client_as("operator").get("/api/v1/configuration/", {"account": 999999})

    assert response.status_code == 404


def test_export_in_an_unknown_format_is_400(configured, client_as):
    response = client_as("operator").get("/api/v1/configuration/", {"file_format": "xml"})

    assert response.status_code == 400
    assert list(response.json()) == ["file_format"]
