"""What follows an order into accounting, as data an operator sets in the admin.

* ``PaymentRoute``: a KeyCRM payment method ↔ the BAS incoming payment document it becomes
  (bank or cash) and the references that document needs (bank account, cash desk, cash-flow
  item);
* ``FollowupSettings``: per account, which flows are on (payments both ways, fiscal receipt
  attributes);
* ``DocumentRule``: per account and action (ship, close, return), whether it is on and which
  KeyCRM statuses trigger it;
* ``DocumentAction``: the log of every follow-up — what ran, or why it did not.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import KeyCrmAccount


class PaymentKind(models.TextChoices):
    BANK = "bank", _("Bank (non-cash) receipt")
    CASH = "cash", _("Cash receipt")


class PaymentRoute(models.Model):
    """Which BAS document a KeyCRM payment method's payments become."""

    account = models.ForeignKey(KeyCrmAccount, on_delete=models.CASCADE,
                                related_name="payment_routes", verbose_name=_("account"))
    keycrm_payment_method_id = models.BigIntegerField(_("KeyCRM payment method id"))
    keycrm_payment_method_name = models.CharField(_("KeyCRM payment method"), max_length=255,
                                                  blank=True)
    kind = models.CharField(_("BAS document kind"), max_length=8, choices=PaymentKind.choices)
    bank_account_ref = models.UUIDField(
        _("bank account"), null=True, blank=True,
        help_text=_("Ref_Key of the organisation's bank account (Catalog_БанковскиеСчета); "
                    "for bank receipts."))
    cash_desk_ref = models.UUIDField(
        _("cash desk"), null=True, blank=True,
        help_text=_("Ref_Key of the cash desk (Catalog_Кассы); for cash receipts in BAS "
                    "Small Business."))
    cash_flow_item_ref = models.UUIDField(
        _("cash-flow item"), null=True, blank=True,
        help_text=_("Ref_Key of the cash-flow item (Catalog_СтатьиДвиженияДенежныхСредств)."))
    post_documents = models.BooleanField(_("post documents"), default=True)
    use_for_bas_payments = models.BooleanField(
        _("method for payments entered in BAS"), default=False,
        help_text=_("Payments found in BAS documents of this kind are added to KeyCRM with "
                    "this payment method."))

    class Meta:
        verbose_name = _("payment method correspondence")
        verbose_name_plural = _("payment method correspondence")
        ordering = ["account", "keycrm_payment_method_id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "keycrm_payment_method_id"],
                                    name="payment_route_unique"),
        ]

    def __str__(self) -> str:
        method = self.keycrm_payment_method_name or self.keycrm_payment_method_id
        return f"{method} → {self.get_kind_display()}"


class FollowupSettings(models.Model):
    """Which payment flows run for an account, and where fiscal receipt data goes."""

    account = models.OneToOneField(KeyCrmAccount, on_delete=models.CASCADE,
                                   related_name="followup_settings", verbose_name=_("account"))
    payments_to_bas = models.BooleanField(
        _("KeyCRM payments → BAS"), default=False,
        help_text=_("Each paid payment of an order becomes a posted incoming payment document "
                    "linked to the order's BAS document."))
    payments_from_bas = models.BooleanField(
        _("BAS payments → KeyCRM"), default=False,
        help_text=_("Incoming payments entered in BAS for a linked order are added to the "
                    "KeyCRM order."))
    fiscal_number_attribute = models.CharField(
        _("attribute for the fiscal receipt number"), max_length=150, blank=True,
        help_text=_("A text attribute of the BAS payment document, e.g. "
                    "НомерВходящегоДокумента. Empty: not written."))
    fiscal_date_attribute = models.CharField(
        _("attribute for the fiscal receipt date"), max_length=150, blank=True,
        help_text=_("A date attribute, e.g. ДатаВходящегоДокумента."))
    fiscal_link_attribute = models.CharField(
        _("attribute for the fiscal receipt link"), max_length=150, blank=True,
        help_text=_("A text attribute, e.g. Основание (cash) or НазначениеПлатежа (bank)."))

    class Meta:
        verbose_name = _("payment settings")
        verbose_name_plural = _("payment settings")

    def __str__(self) -> str:
        return str(self.account)


class DocumentActionKind(models.TextChoices):
    PAYMENT = "payment", _("Incoming payment into BAS")
    PAYMENT_CANCEL = "payment_cancel", _("Payment cancelled")
    FISCAL = "fiscal", _("Fiscal receipt data")
    PAYMENT_TO_KEYCRM = "payment_to_keycrm", _("BAS payment into KeyCRM")
    SHIP = "ship", _("Sales invoice on shipment")
    CLOSE = "close", _("Order closed on cancellation")
    RETURN = "return", _("Return from the buyer on cancellation")


RULE_ACTIONS = (DocumentActionKind.SHIP, DocumentActionKind.CLOSE, DocumentActionKind.RETURN)


class DocumentRule(models.Model):
    """One document-by-status action of an account: on or off, and its trigger statuses."""

    account = models.ForeignKey(KeyCrmAccount, on_delete=models.CASCADE,
                                related_name="document_rules", verbose_name=_("account"))
    action = models.CharField(_("action"), max_length=24,
                              choices=[(a.value, a.label) for a in RULE_ACTIONS])
    enabled = models.BooleanField(_("on"), default=True)
    keycrm_status_ids = models.JSONField(
        _("KeyCRM statuses"), default=list, blank=True,
        help_text=_("Ids of the KeyCRM order statuses that trigger the action, e.g. [4, 9]."))
    warehouse_ref = models.UUIDField(
        _("warehouse"), null=True, blank=True,
        help_text=_("Ref_Key of the warehouse for the sales invoice or the return; empty: the "
                    "order's own (reserve) warehouse."))
    cancel_reason_ref = models.UUIDField(
        _("cancellation reason"), null=True, blank=True,
        help_text=_("BAS Small Business: Ref_Key of Catalog_ПричиныОтменыЗаказа, required to "
                    "close an order as cancelled."))
    post_documents = models.BooleanField(_("post documents"), default=True)

    class Meta:
        verbose_name = _("document rule")
        verbose_name_plural = _("document rules")
        ordering = ["account", "action"]
        constraints = [
            models.UniqueConstraint(fields=["account", "action"], name="document_rule_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.account}: {self.get_action_display()}"

    def triggered_by(self, status_id: int | None) -> bool:
        return self.enabled and status_id is not None and \
            int(status_id) in {int(s) for s in self.keycrm_status_ids or ()}


class ActionOutcome(models.TextChoices):
    STARTED = "started", _("Started (not finished)")
    DONE = "done", _("Done")
    SKIPPED = "skipped", _("Not needed")
    WAITING = "waiting", _("Waiting for a person")
    RETRY = "retry", _("Will be retried")


class DocumentAction(models.Model):
    """One follow-up of one order: what it did or why it did not. ``key`` names the occasion
    (e.g. ``ship:<order>``, ``payment:<payment id>``, ``close:<order>:<status>@<time>``), so a
    repeated webhook finds the row instead of acting twice."""

    account = models.ForeignKey(KeyCrmAccount, on_delete=models.CASCADE,
                                related_name="document_actions", verbose_name=_("account"))
    keycrm_order_id = models.BigIntegerField(_("KeyCRM order"), db_index=True)
    key = models.CharField(_("occasion"), max_length=200)
    action = models.CharField(_("action"), max_length=24, choices=DocumentActionKind.choices)
    trigger = models.CharField(_("trigger"), max_length=200, blank=True,
                               help_text=_("The status or payment that caused it."))
    outcome = models.CharField(_("outcome"), max_length=16, choices=ActionOutcome.choices)
    reason = models.TextField(_("why"), blank=True)
    document_set = models.CharField(_("BAS document"), max_length=150, blank=True)
    document_ref = models.UUIDField(_("BAS reference"), null=True, blank=True)
    document_number = models.CharField(_("BAS number"), max_length=50, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("follow-up action")
        verbose_name_plural = _("follow-up actions")
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "key"], name="document_action_unique"),
        ]
        indexes = [models.Index(fields=["account", "action", "keycrm_order_id"],
                                name="document_action_by_order")]

    def __str__(self) -> str:
        return f"#{self.keycrm_order_id} {self.get_action_display()}: {self.get_outcome_display()}"
