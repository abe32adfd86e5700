""""Check connection" against the emulators: every failure an accountant can meet is reported
in words that say what to do."""

from __future__ import annotations

import socket

import pytest

from accounts.models import BasConnection, KeyCrmAccount
from accounts.services import bas_connection_check, keycrm_account_check

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_bas_all_published_is_ok(bas_connection):
    result = bas_connection_check(connection=bas_connection)
    assert result.ok, result.message
    assert "accepts user “Адміністратор”" in result.message
    assert "BAS Small Business" in result.message


def test_bas_wrong_password(bas_connection):
    bas_connection.set_password("wrong")
    bas_connection.save()
    result = bas_connection_check(connection=bas_connection)
    assert result.outcome == "failed"
    assert "does not accept user “Адміністратор”" in result.message
    assert "password is wrong" in result.message


def test_bas_unreachable_host(bas_connection):
    bas_connection.publication_url = f"http://127.0.0.1:{_closed_port()}/sb"
    bas_connection.save()
    result = bas_connection_check(connection=bas_connection)
    assert result.outcome == "failed"
    assert "BAS does not answer" in result.message
    assert "connection refused" in result.message


def test_bas_wrong_publication_name(bas_connection, bas):
    bas_connection.publication_url = f"{bas.url}/no-such-base"
    bas_connection.save()
    result = bas_connection_check(connection=bas_connection)
    assert result.outcome == "failed"
    assert "no OData publication" in result.message


def test_bas_unpublished_entity_sets_are_named_with_the_hint(bas_connection, bas):
    bas.unpublish("sb", ["Document_ЗаказПокупателя", "AccumulationRegister_ЗапасыНаСкладах"])
    result = bas_connection_check(connection=bas_connection)
    assert result.outcome == "warning"
    assert "2 object(s)" in result.message
    assert "Document_ЗаказПокупателя" in result.message
    assert "AccumulationRegister_ЗапасыНаСкладах" in result.message
    assert "Налаштування стандартного інтерфейсу OData" in result.message
    bas_connection.refresh_from_db()
    assert bas_connection.last_check_outcome == "warning"
    assert bas_connection.last_check_at is not None


def test_bas_accounting_configuration_is_checked_against_its_own_objects(db, bas):
    connection = BasConnection(name="Бух", publication_url=f"{bas.url}/acc",
                               username="Адміністратор", configuration="accounting")
    connection.set_password("secret")
    connection.save()
    assert bas_connection_check(connection=connection).ok
    # The same base checked as BAS Small Business lacks that configuration's objects.
    connection.configuration = "small_business"
    result = bas_connection_check(connection=connection)
    assert result.outcome == "warning"
    assert "Document_ЗаказПокупателя" in result.message


def test_bas_login_page_with_status_200(bas_connection, bas):
    bas.set_faults(html_200_count=1)
    result = bas_connection_check(connection=bas_connection)
    assert result.outcome == "failed"
    assert "web page instead of OData" in result.message


def test_keycrm_key_works(keycrm_account, keycrm):
    keycrm.seed({"statuses": [{"name": "Нове"}]})
    result = keycrm_account_check(account=keycrm_account)
    assert result.ok
    assert "1 order statuses" in result.message


def test_keycrm_wrong_key(keycrm_account):
    keycrm_account.set_api_key("not-the-key")
    keycrm_account.save()
    result = keycrm_account_check(account=keycrm_account)
    assert result.outcome == "failed"
    assert "KeyCRM refused the API key" in result.message


def test_keycrm_unreachable(db):
    account = KeyCrmAccount(name="X", api_base_url=f"http://127.0.0.1:{_closed_port()}/v1")
    account.set_api_key("k")
    account.save()
    result = keycrm_account_check(account=account)
    assert result.outcome == "failed"
    assert "cannot be reached" in result.message


def test_keycrm_without_a_key(db):
    account = KeyCrmAccount.objects.create(name="Порожній")
    result = keycrm_account_check(account=account)
    assert result.outcome == "failed"
    assert "No API key" in result.message
