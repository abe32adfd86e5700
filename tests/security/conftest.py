"""Known secrets planted in the account, the connection and the settings, so that every output
of the portal can be scanned for them."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from accounts.models import BasConnection, KeyCrmAccount

# Distinctive values: a hit in any output is one of these, never a coincidence.
API_KEY = "kc-PLANTED-api-key-5c1e9b7d0a"
BAS_PASSWORD = "bas-PLANTED-password-8e2f4a"
BAS_USER = "Адміністратор"
# A Fernet key (32 bytes, url-safe base64) of its own, set as FIELD_ENCRYPTION_KEYS.
ENCRYPTION_KEY = base64.urlsafe_b64encode(b"PLANTED-fernet-key-32-bytes-long").decode()


@dataclasses.dataclass(frozen=True)
class Planted:
    webhook_token: str

    def secrets(self) -> dict[str, str]:
        """Every secret, also in the forms it travels in (HTTP Basic credentials)."""
        basic = base64.b64encode(f"{BAS_USER}:{BAS_PASSWORD}".encode()).decode()
        return {"api key": API_KEY, "BAS password": BAS_PASSWORD, "BAS basic auth": basic,
                "encryption key": ENCRYPTION_KEY, "webhook token": self.webhook_token}

    def found_in(self, text: str, *, allow: tuple[str, ...] = ()) -> list[str]:
        return [name for name, value in self.secrets().items()
                if name not in allow and value in text]


@pytest.fixture
def planted_settings(settings):
    settings.FIELD_ENCRYPTION_KEYS = [ENCRYPTION_KEY]
    return settings


@pytest.fixture
def keycrm_account(db, keycrm, planted_settings):
    """The suite's account, with the planted API key (the emulator accepts only it)."""
    keycrm.set_keys([API_KEY])
    account = KeyCrmAccount(name="Магазин", api_base_url=f"{keycrm.url}/v1")
    account.set_api_key(API_KEY)
    account.save()
    return account


@pytest.fixture
def bas_connection(db, bas, planted_settings):
    """The suite's BAS connection, with the planted password."""
    bas.add_user("sb", BAS_USER, BAS_PASSWORD)
    connection = BasConnection(name="БАС МБ", publication_url=f"{bas.url}/sb",
                               username=BAS_USER, configuration="small_business")
    connection.set_password(BAS_PASSWORD)
    connection.save()
    return connection


@pytest.fixture
def planted(keycrm_account) -> Planted:
    return Planted(webhook_token=keycrm_account.webhook_token)
