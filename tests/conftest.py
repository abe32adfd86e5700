"""Fixtures shared by the whole suite: the two emulators as real HTTP servers on loopback, one
KeyCRM account and one BAS connection pointing at them, and the optional real services."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis
from django.utils import translation

from accounts.models import BasConnection, KeyCrmAccount
from config import celery_app
from emulators.bas import BasEmulator
from emulators.common import EmulatorServer
from emulators.keycrm import KeyCrmEmulator
from tests.shop import Shop, shop  # noqa: F401 - the ``shop`` fixture, for every test package

KEYCRM_TEST_KEY = "test-key"

# Tasks sent during tests go to an in-memory broker nobody reads; tests process the staging
# queue themselves (record_process, the staging_worker command).
celery_app.conf.update(broker_url="memory://", task_always_eager=False)
BAS_USER = "Адміністратор"  # a Cyrillic login, as most bases have
BAS_PASSWORD = "secret"

# The suite asserts the English source messages; the Ukrainian catalogue (the product's
# default language) has its own tests in tests/test_translations.py. Subprocesses a test
# starts (a worker, the demo) read the language from the environment.
os.environ.setdefault("LANGUAGE_CODE", "en")


@pytest.fixture(autouse=True)
def english(settings) -> Iterator[None]:
    """Every test starts in English, whatever an earlier request activated in this thread;
    a request with ``Accept-Language: uk`` still gets Ukrainian."""
    settings.LANGUAGE_CODE = "en"
    translation.activate("en")
    yield
    translation.deactivate()


@pytest.fixture(scope="session")
def keycrm_server() -> Iterator[EmulatorServer]:
    # A generous limit: only the rate-limit tests want to meet it, and they set their own.
    with EmulatorServer(KeyCrmEmulator(rate_limit=100_000, webhook_retry_delay=0.05)) as server:
        yield server


@pytest.fixture
def keycrm(keycrm_server: EmulatorServer) -> KeyCrmEmulator:
    """The KeyCRM emulator, emptied: no data, no faults, an empty request log."""
    emulator = keycrm_server.emulator
    with emulator.lock:
        emulator.reset()
        emulator.set_faults()
        emulator.clear_log()
        emulator.observers.clear()
    emulator.url = keycrm_server.url
    return emulator


@pytest.fixture(scope="session")
def bas_server() -> Iterator[EmulatorServer]:
    with EmulatorServer(BasEmulator()) as server:
        yield server


@pytest.fixture
def bas(bas_server: EmulatorServer) -> BasEmulator:
    """The BAS emulator with its two default bases (``sb``: BAS Small Business, ``acc``: BAS
    Accounting) holding only their reference data."""
    emulator = bas_server.emulator
    with emulator.lock:
        emulator.reset()
        emulator.set_faults()
        emulator.clear_log()
    emulator.url = bas_server.url
    return emulator


@pytest.fixture
def keycrm_account(db, keycrm):
    account = KeyCrmAccount(name="Магазин", api_base_url=f"{keycrm.url}/v1")
    account.set_api_key(KEYCRM_TEST_KEY)
    account.save()
    return account


@pytest.fixture
def bas_connection(db, bas):
    connection = BasConnection(name="БАС МБ", publication_url=f"{bas.url}/sb",
                               username=BAS_USER, configuration="small_business")
    connection.set_password(BAS_PASSWORD)
    connection.save()
    return connection


@pytest.fixture
def redis_url() -> str:
    """A real Redis, or a skip that says so."""
    url = os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL") \
        or "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"needs a Redis server at {url} ({exc}); .ci/run starts one")
    return url
