"""The admin pages of accounts and connections: secrets are write-only, "Check connection"
reports in plain words, the webhook token can be rotated."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import BasConnection, KeyCrmAccount

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(admin_client):
    return admin_client


def test_adding_an_account_stores_the_key_encrypted_and_never_shows_it(staff, keycrm):
    response = staff.post(reverse("admin:accounts_keycrmaccount_add"), {
        "name": "Основний", "api_base_url": f"{keycrm.url}/v1", "api_key": "planted-key-123",
        "requests_per_minute": 60, "enabled": "on",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    account = KeyCrmAccount.objects.get(name="Основний")
    assert account.get_api_key() == "planted-key-123"
    page = staff.get(reverse("admin:accounts_keycrmaccount_change", args=[account.pk]))
    html = page.content.decode()
    assert "planted-key-123" not in html
    assert account.api_key_encrypted not in html
    assert account.webhook_path in html


def test_an_empty_key_field_keeps_the_stored_key(staff, keycrm_account):
    response = staff.post(
        reverse("admin:accounts_keycrmaccount_change", args=[keycrm_account.pk]),
        {"name": "Перейменований", "api_base_url": keycrm_account.api_base_url, "api_key": "",
         "requests_per_minute": 30, "enabled": "on"})
    assert response.status_code == 302
    keycrm_account.refresh_from_db()
    assert keycrm_account.name == "Перейменований"
    assert keycrm_account.requests_per_minute == 30
    assert keycrm_account.get_api_key() == "test-key"


def test_a_new_account_without_a_key_is_refused(staff):
    response = staff.post(reverse("admin:accounts_keycrmaccount_add"), {
        "name": "Без ключа", "api_base_url": "https://openapi.keycrm.app/v1", "api_key": "",
        "requests_per_minute": 60})
    assert response.status_code == 200
    assert "Enter the API key" in response.content.decode()
    assert not KeyCrmAccount.objects.exists()


def test_connection_password_is_write_only(staff, bas):
    staff.post(reverse("admin:accounts_basconnection_add"), {
        "name": "Бухгалтерія", "publication_url": f"{bas.url}/acc",
        "configuration": "accounting", "username": "Адміністратор",
        "password": "planted-password-456", "server_timezone": "Europe/Kyiv", "enabled": "on"})
    connection = BasConnection.objects.get(name="Бухгалтерія")
    assert connection.get_password() == "planted-password-456"
    html = staff.get(
        reverse("admin:accounts_basconnection_change", args=[connection.pk])).content.decode()
    assert "planted-password-456" not in html
    assert "/acc/odata/standard.odata" in html


def test_an_unknown_time_zone_is_refused(staff):
    response = staff.post(reverse("admin:accounts_basconnection_add"), {
        "name": "X", "publication_url": "https://bas.example.ua/sb",
        "configuration": "small_business", "username": "u", "password": "p",
        "server_timezone": "Europe/Kiev-ish"})
    assert response.status_code == 200
    assert "is not a known time zone" in response.content.decode()


def test_check_connection_button_reports_success_for_both(staff, keycrm_account, bas_connection,
                                                          keycrm):
    keycrm.seed({"statuses": [{"name": "Нове"}, {"name": "Виконано"}]})
    page = staff.post(
        reverse("admin:accounts_keycrmaccount_check", args=[keycrm_account.pk]), follow=True)
    assert "The API key works" in page.content.decode()
    page = staff.post(
        reverse("admin:accounts_basconnection_check", args=[bas_connection.pk]), follow=True)
    assert "accepts user “Адміністратор”" in page.content.decode()
    bas_connection.refresh_from_db()
    assert bas_connection.last_check_outcome == "ok"


def test_check_connection_action_reports_each_selected(staff, keycrm_account, keycrm):
    bad = KeyCrmAccount(name="Чужий", api_base_url=keycrm_account.api_base_url)
    bad.set_api_key("revoked-key")
    bad.save()
    page = staff.post(reverse("admin:accounts_keycrmaccount_changelist"), {
        "action": "check_connection", "_selected_action": [keycrm_account.pk, bad.pk],
    }, follow=True)
    html = page.content.decode()
    assert "Магазин: The API key works" in html
    assert "Чужий: KeyCRM refused the API key" in html


def test_rotating_the_webhook_token_invalidates_the_old_one(staff, keycrm_account):
    old = keycrm_account.webhook_token
    staff.post(reverse("admin:accounts_keycrmaccount_changelist"), {
        "action": "rotate_webhook_token", "_selected_action": [keycrm_account.pk]})
    keycrm_account.refresh_from_db()
    assert keycrm_account.webhook_token != old
    assert len(keycrm_account.webhook_token) >= 40
