"""KeyCRM accounts and BAS connections.

Secrets are stored only as Fernet tokens (``*_encrypted``) and are read through explicit methods,
so that a queryset dump, a ``values()`` call or an admin page never carries the plain text.
"""

from __future__ import annotations

import secrets
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.crypto import decrypt_secret, encrypt_secret
from integration.bas.configurations import BasConfiguration


def new_webhook_token() -> str:
    # 256 bits: the token is the only thing that authenticates KeyCRM's webhooks.
    return secrets.token_urlsafe(32)


def default_keycrm_base_url() -> str:
    return settings.KEYCRM_DEFAULT_BASE_URL


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("“%(value)s” is not a known time zone, e.g. Europe/Kyiv."),
                              params={"value": value})


class CheckOutcome(models.TextChoices):
    OK = "ok", _("Works")
    FAILED = "failed", _("Does not work")
    WARNING = "warning", _("Works with problems")


class CheckedConnection(models.Model):
    """The last "Check connection" result, kept so the list page shows it at a glance."""

    last_check_at = models.DateTimeField(_("last checked"), null=True, blank=True, editable=False)
    last_check_outcome = models.CharField(
        _("last check"), max_length=16, choices=CheckOutcome.choices, blank=True, editable=False
    )
    last_check_message = models.TextField(_("last check message"), blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        abstract = True


class BasConnection(CheckedConnection):
    name = models.CharField(_("name"), max_length=100, unique=True)
    publication_url = models.URLField(
        _("publication URL"),
        max_length=500,
        help_text=_("The infobase's web address, e.g. https://bas.example.ua/sb — "
                    "the portal adds /odata/standard.odata itself."),
    )
    username = models.CharField(
        _("user"), max_length=150, help_text=_("An infobase user; Cyrillic logins are fine.")
    )
    password_encrypted = models.TextField(editable=False, blank=True)
    configuration = models.CharField(
        _("configuration"), max_length=32, choices=BasConfiguration.choices,
        default=BasConfiguration.SMALL_BUSINESS,
    )
    server_timezone = models.CharField(
        _("server time zone"), max_length=64, default="Europe/Kyiv",
        validators=[validate_timezone],
        help_text=_("BAS stores dates as the server's wall-clock time without a zone."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)

    class Meta:
        verbose_name = _("BAS connection")
        verbose_name_plural = _("BAS connections")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def odata_root(self) -> str:
        return self.publication_url.rstrip("/") + "/odata/standard.odata"

    def set_password(self, plaintext: str) -> None:
        self.password_encrypted = encrypt_secret(plaintext)

    def get_password(self) -> str:
        return decrypt_secret(self.password_encrypted)

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)


class KeyCrmAccount(CheckedConnection):
    name = models.CharField(_("name"), max_length=100, unique=True)
    api_base_url = models.URLField(
        _("API base URL"), max_length=300, default=default_keycrm_base_url
    )
    api_key_encrypted = models.TextField(editable=False, blank=True)
    webhook_token = models.CharField(
        _("webhook token"), max_length=64, unique=True, default=new_webhook_token,
        editable=False,
    )
    requests_per_minute = models.PositiveIntegerField(
        _("requests per minute"), default=60,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text=_("KeyCRM allows 60 per minute per API key. Every worker together stays "
                    "under this number."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    bas_connection = models.ForeignKey(
        BasConnection, verbose_name=_("BAS connection"), on_delete=models.PROTECT,
        related_name="keycrm_accounts", null=True, blank=True,
        help_text=_("Where this account's orders go. One connection may serve several accounts."),
    )

    class Meta:
        verbose_name = _("KeyCRM account")
        verbose_name_plural = _("KeyCRM accounts")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def set_api_key(self, plaintext: str) -> None:
        self.api_key_encrypted = encrypt_secret(plaintext)

    def get_api_key(self) -> str:
        return decrypt_secret(self.api_key_encrypted)

    @property
    def has_api_key(self) -> bool:
        return bool(self.api_key_encrypted)

    @property
    def webhook_path(self) -> str:
        return f"/hooks/keycrm/{self.webhook_token}/"
