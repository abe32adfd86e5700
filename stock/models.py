"""Free balances from BAS to KeyCRM: what an account exports, and what KeyCRM last accepted.

* ``StockSettings``: one row per KeyCRM account — which BAS warehouses are summed, which KeyCRM
  warehouse receives the result, how often, the zero-drop guard, and how the last runs went;
* ``PushedStock``: the quantity KeyCRM last confirmed per (account, KeyCRM warehouse, offer).
  It is written only when an outbox message is confirmed sent, so "what changed since the last
  successful push" is exact even when a push was refused, failed or is still being sent.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import KeyCrmAccount


class StockSettings(models.Model):
    account = models.OneToOneField(KeyCrmAccount, on_delete=models.CASCADE,
                                   related_name="stock_settings", verbose_name=_("account"))
    enabled = models.BooleanField(
        _("scheduled export"), default=False,
        help_text=_("Push free balances on the schedule below. “Push now” works either way."))
    interval_minutes = models.PositiveIntegerField(
        _("every (minutes)"), default=15,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)])
    bas_warehouses = models.JSONField(
        _("BAS warehouses"), default=list, blank=True,
        help_text=_("Ref_Keys of the BAS warehouses whose balances are summed."))
    keycrm_warehouse_id = models.PositiveIntegerField(
        _("KeyCRM warehouse id"),
        help_text=_("KeyCRM has no warehouse list in its API: take the id from KeyCRM's "
                    "settings (Products → Warehouses) or from an order line."))
    subtract_reserves = models.BooleanField(
        _("subtract reserves"), default=True,
        help_text=_("Send the free balance: what is on hand minus what is reserved for "
                    "customer orders, where the configuration keeps reserves."))
    zero_drop_percent = models.PositiveSmallIntegerField(
        _("zero-drop guard (%)"), default=30,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("Refuse a push in which more than this share of the offers KeyCRM shows in "
                    "stock would drop to zero at once (a half-published base looks like that)."))
    last_run_at = models.DateTimeField(_("last run"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True)
    last_sent_at = models.DateTimeField(_("last confirmed by KeyCRM"), null=True, blank=True)
    last_summary = models.CharField(_("last result"), max_length=500, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True)
    last_refusal = models.TextField(_("last refusal"), blank=True)
    last_refusal_at = models.DateTimeField(_("last refusal at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("stock export")
        verbose_name_plural = _("stock export")
        ordering = ["account__name"]

    def __str__(self) -> str:
        return str(self.account)


class PushedStock(models.Model):
    """What KeyCRM holds for one offer in one warehouse, as far as the portal knows."""

    account = models.ForeignKey(KeyCrmAccount, on_delete=models.CASCADE,
                                related_name="pushed_stocks", verbose_name=_("account"))
    keycrm_warehouse_id = models.PositiveIntegerField(_("KeyCRM warehouse id"))
    offer_id = models.BigIntegerField(_("KeyCRM offer id"))
    quantity = models.DecimalField(_("quantity"), max_digits=15, decimal_places=3,
                                   default=Decimal(0))
    pushed_at = models.DateTimeField(_("confirmed"))

    class Meta:
        verbose_name = _("pushed balance")
        verbose_name_plural = _("pushed balances")
        ordering = ["account", "keycrm_warehouse_id", "offer_id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "keycrm_warehouse_id", "offer_id"],
                                    name="pushed_stock_unique"),
            models.CheckConstraint(condition=models.Q(quantity__gte=0),
                                   name="pushed_stock_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.offer_id} @ {self.keycrm_warehouse_id}: {self.quantity}"
