"""Accounts and connections: checking that they work, rotating tokens and keys."""

from __future__ import annotations

import dataclasses

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.crypto import SecretUnreadable, reencrypt_secret
from accounts.models import BasConnection, CheckOutcome, KeyCrmAccount, new_webhook_token
from integration.bas.client import BasClient, BasError, BasErrorKind
from integration.bas.configurations import objects_for, publish_hint
from integration.keycrm.client import KeyCrmClient, KeyCrmError


@dataclasses.dataclass(frozen=True)
class CheckResult:
    outcome: str  # CheckOutcome
    message: str  # plain words for the person who pressed the button

    @property
    def ok(self) -> bool:
        return self.outcome == CheckOutcome.OK


def keycrm_account_check(*, account: KeyCrmAccount) -> CheckResult:
    """Whether the account's API key works, in words; the result is saved on the account.
    Makes one API call within the account's rate budget."""
    result = _keycrm_check(account)
    _save_check(account, result)
    return result


def _keycrm_check(account: KeyCrmAccount) -> CheckResult:
    if not account.has_api_key:
        return CheckResult(CheckOutcome.FAILED, _("No API key is entered for this account."))
    try:
        client = KeyCrmClient.for_account(account, max_retries=1, max_budget_wait=30)
    except SecretUnreadable as exc:
        return CheckResult(CheckOutcome.FAILED, str(exc))
    try:
        statuses = client.check_key()
    except KeyCrmError as exc:
        if exc.status == 401:
            message = _("KeyCRM refused the API key. Copy it again from KeyCRM → Settings → API.")
        elif exc.status is None:
            message = _("KeyCRM cannot be reached at %(url)s: %(error)s") % {
                "url": account.api_base_url, "error": exc.message}
        elif exc.status == 404:
            message = _("No KeyCRM API at %(url)s (HTTP 404). Check the API base URL.") % {
                "url": account.api_base_url}
        else:
            message = _("KeyCRM answered with an error: %(error)s") % {"error": exc}
        return CheckResult(CheckOutcome.FAILED, message)
    finally:
        client.close()
    return CheckResult(
        CheckOutcome.OK,
        _("The API key works: KeyCRM answered and lists %(count)d order statuses.")
        % {"count": statuses},
    )


def bas_connection_check(*, connection: BasConnection) -> CheckResult:
    """Whether the publication answers, whether the user is accepted, and which entity sets
    the connection's configuration needs that the base does not publish. Saved on the
    connection."""
    result = _bas_check(connection)
    _save_check(connection, result)
    return result


def _bas_check(connection: BasConnection) -> CheckResult:
    try:
        client = BasClient.for_connection(connection, max_retries=0, timeout=30)
    except SecretUnreadable as exc:
        return CheckResult(CheckOutcome.FAILED, str(exc))
    try:
        published = set(client.service_document())
    except BasError as exc:
        return CheckResult(CheckOutcome.FAILED, _explain_bas_failure(connection, exc))
    finally:
        client.close()
    required = objects_for(connection.configuration).required_sets
    missing = [name for name in required if name not in published]
    configuration = connection.get_configuration_display()
    if missing:
        return CheckResult(
            CheckOutcome.WARNING,
            _("BAS answers and accepts user “%(user)s”, but %(count)d object(s) that "
              "%(configuration)s needs are not published over OData: %(missing)s. "
              "%(hint)s")
            % {"user": connection.username, "count": len(missing),
               "configuration": configuration, "missing": ", ".join(missing),
               "hint": publish_hint(connection.configuration)},
        )
    return CheckResult(
        CheckOutcome.OK,
        _("BAS answers, accepts user “%(user)s” and publishes all %(count)d objects "
          "%(configuration)s needs (%(total)d published in all).")
        % {"user": connection.username, "count": len(required),
           "configuration": configuration, "total": len(published)},
    )


def _explain_bas_failure(connection: BasConnection, exc: BasError) -> str:
    url = connection.odata_root
    if exc.kind == BasErrorKind.NETWORK:
        return _("BAS does not answer at %(url)s: %(error)s. Check the address and that the "
                 "web server is running.") % {"url": url, "error": exc.message}
    if exc.kind == BasErrorKind.AUTH:
        return _("The publication answers, but BAS does not accept user “%(user)s”: the "
                 "login or password is wrong, or the user may not use the standard OData "
                 "interface.") % {"user": connection.username}
    if exc.kind in (BasErrorKind.NOT_FOUND, BasErrorKind.NOT_PUBLISHED):
        return _("The server answers, but there is no OData publication at %(url)s. Check "
                 "the publication URL and that the standard OData interface is switched on "
                 "when the base is published on the web server.") % {"url": url}
    if exc.kind == BasErrorKind.NOT_ODATA:
        return _("The address answers with a web page instead of OData (%(error)s). The URL "
                 "probably points to the web client or a login page, not to the base's "
                 "publication.") % {"error": exc.message}
    return _("BAS answered with an error: %(error)s") % {"error": exc.message}


def _save_check(obj: KeyCrmAccount | BasConnection, result: CheckResult) -> None:
    obj.last_check_at = timezone.now()
    obj.last_check_outcome = result.outcome
    obj.last_check_message = result.message
    obj.save(update_fields=["last_check_at", "last_check_outcome", "last_check_message"])


def keycrm_account_rotate_webhook_token(*, account: KeyCrmAccount) -> str:
    """A new webhook token; the old URL stops working at once (KeyCRM's trigger must be
    updated with the new URL)."""
    account.webhook_token = new_webhook_token()
    account.save(update_fields=["webhook_token", "updated_at"])
    return account.webhook_token


@transaction.atomic
def secrets_reencrypt() -> int:
    """Re-encrypt every stored secret under the first key of FIELD_ENCRYPTION_KEYS.
    Returns the number of secrets rewritten. Idempotent."""
    count = 0
    for account in KeyCrmAccount.objects.select_for_update().exclude(api_key_encrypted=""):
        account.api_key_encrypted = reencrypt_secret(account.api_key_encrypted)
        account.save(update_fields=["api_key_encrypted"])
        count += 1
    for connection in BasConnection.objects.select_for_update().exclude(password_encrypted=""):
        connection.password_encrypted = reencrypt_secret(connection.password_encrypted)
        connection.save(update_fields=["password_encrypted"])
        count += 1
    return count
