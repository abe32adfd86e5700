import pytest
from cryptography.fernet import Fernet

from accounts.crypto import SecretUnreadable, decrypt_secret, encrypt_secret, reencrypt_secret
from accounts.models import BasConnection, KeyCrmAccount


def test_round_trip_and_no_plaintext_in_the_token():
    token = encrypt_secret("пароль-Адміністратора")
    assert "пароль" not in token
    assert decrypt_secret(token) == "пароль-Адміністратора"


def test_key_rotation_keeps_old_tokens_readable(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    token = encrypt_secret("api-key-1")
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    assert decrypt_secret(token) == "api-key-1"
    rotated = reencrypt_secret(token)
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert decrypt_secret(rotated) == "api-key-1"
    with pytest.raises(SecretUnreadable, match="FIELD_ENCRYPTION_KEYS"):
        decrypt_secret(token)


@pytest.mark.django_db
def test_secrets_are_stored_encrypted():
    account = KeyCrmAccount(name="A")
    account.set_api_key("very-secret-api-key")
    account.save()
    connection = BasConnection(name="B", publication_url="http://bas.local/sb", username="Адмін")
    connection.set_password("very-secret-password")
    connection.save()
    stored = list(KeyCrmAccount.objects.values_list("api_key_encrypted", flat=True)) + list(
        BasConnection.objects.values_list("password_encrypted", flat=True))
    assert all("very-secret" not in value for value in stored)
    assert KeyCrmAccount.objects.get().get_api_key() == "very-secret-api-key"
    assert BasConnection.objects.get().get_password() == "very-secret-password"


@pytest.mark.django_db
def test_each_account_gets_its_own_webhook_token():
    first = KeyCrmAccount.objects.create(name="A")
    second = KeyCrmAccount.objects.create(name="B")
    assert len(first.webhook_token) >= 40
    assert first.webhook_token != second.webhook_token
    assert first.api_base_url == "https://openapi.keycrm.app/v1"
    assert first.requests_per_minute == 60
