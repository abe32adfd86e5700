"""Users in each role the API knows, clients that authenticate as them with a real token, the
Celery messages a request sent, and the API's own OpenAPI document for checking answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from api.roles import CONFIGURATOR, OPERATOR
from config import celery_app
from tests.api.schema import ApiSchema

# Who calls: no one, staff without a role, a role member who is not staff, the two roles, and
# a superuser. Only the last three may see anything.
WHO = ("anonymous", "staff", "operator_not_staff", "operator", "configurator", "superuser")
ALLOWED = {"operator", "configurator", "superuser"}
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def fast_passwords(settings) -> None:
    # A user per role per test: the production hasher's million rounds would dominate the run.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_user(name: str) -> User:
    known = User.objects.filter(username=name).first()
    if known:
        return known
    if name == "superuser":
        return User.objects.create_superuser(name, password=PASSWORD)
    user = User.objects.create_user(name, password=PASSWORD,
                                    is_staff=name != "operator_not_staff")
    group = {"operator": OPERATOR, "operator_not_staff": OPERATOR,
             "configurator": CONFIGURATOR}.get(name)
    if group:
        # The groups come from the api app's data migration; get() fails loudly without it.
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def client_as(db) -> Callable[[str], APIClient]:
    """An API client authenticated by a real token (``Authorization: Token …``) as ``who``.
    It asks for English, so that messages read the same whatever is translated."""

    def make(who: str) -> APIClient:
        client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
        if who != "anonymous":
            token, _created = Token.objects.get_or_create(user=make_user(who))
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


@pytest.fixture
def sent_tasks() -> Callable[[], list[tuple[str, list[Any]]]]:
    """What reached the (in-memory) broker: (task name, args) in order. The queue is emptied
    first, so only this test's messages are seen."""

    def drain() -> list[tuple[str, list[Any]]]:
        out = []
        with celery_app.connection_for_read() as conn:
            queue = conn.SimpleQueue("celery")
            try:
                while True:
                    try:
                        message = queue.get(block=False)
                    except queue.Empty:
                        break
                    out.append((message.headers["task"], message.payload[0]))
                    message.ack()
            finally:
                queue.close()
        return out

    drain()
    return drain


@pytest.fixture
def api_schema(client_as) -> ApiSchema:
    response = client_as("superuser").get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return ApiSchema(json.loads(response.content))
