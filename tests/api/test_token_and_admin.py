"""Issuing a token (``manage.py api_token``), and the same roles in the admin: staff without a
role see no page, an operator sees but does not change configuration, a configurator does."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.authtoken.models import Token

from api.roles import roles_sync
from tests.api.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def _token(*args: str) -> str:
    out = io.StringIO()
    call_command("api_token", *args, stdout=out)
    return out.getvalue().strip()


def test_a_token_is_issued_once_and_rotated_on_request(db):
    user = make_user("operator")

    first = _token("operator")
    again = _token("operator")
    rotated = _token("operator", "--rotate")

    assert first == again
    assert rotated != first
    assert Token.objects.get(user=user).key == rotated


@pytest.mark.parametrize("who", ["staff", "operator_not_staff"])
def test_no_token_for_someone_the_api_would_refuse(who, db):
    make_user(who)

    with pytest.raises(CommandError, match="not an active staff member"):
        _token(who)
    assert not Token.objects.exists()


def test_no_token_for_an_unknown_user(db):
    with pytest.raises(CommandError, match="no user is named"):
        _token("nobody")


def _admin_as(who: str) -> Client:
    make_user(who)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert client.login(username=who, password=PASSWORD)
    return client


@pytest.mark.parametrize(("who", "records", "add_account", "add_mapping"), [
    ("staff", 403, 403, 403),
    ("operator", 200, 403, 403),
    ("configurator", 200, 200, 200),
    ("superuser", 200, 200, 200),
])
def test_admin_pages_follow_the_roles(who, records, add_account, add_mapping):
    client = _admin_as(who)

    assert client.get("/admin/staging/inboundrecord/").status_code == records
    assert client.get("/admin/accounts/keycrmaccount/add/").status_code == add_account
    assert client.get("/admin/mappings/statuscorrespondence/add/").status_code == add_mapping


def test_staff_without_a_role_see_an_empty_admin(db):
    response = _admin_as("staff").get("/admin/")

    assert response.status_code == 200
    assert response.context["app_list"] == []


def test_an_operator_may_reprocess_in_the_admin(keycrm_account):
    response = _admin_as("operator").get("/admin/staging/inboundrecord/")

    assert "reprocess" in dict(response.context["action_form"].fields["action"].choices)


def test_an_operator_cannot_change_an_account(keycrm_account):
    client = _admin_as("operator")
    url = f"/admin/accounts/keycrmaccount/{keycrm_account.pk}/change/"

    assert client.get(url).status_code == 200  # may look
    response = client.post(url, {"name": "Renamed", "api_base_url": "https://x.example/v1",
                                 "requests_per_minute": 60})
    assert response.status_code == 403
    keycrm_account.refresh_from_db()
    assert keycrm_account.name == "Магазин"


def test_syncing_roles_again_changes_nothing(db):
    first = roles_sync()

    assert roles_sync() == first
    assert first["configurator"] > first["operator"] > 0
