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

from django.core.exceptions import ValidationError
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


class FiscalTarget(models.TextChoices):
    PAYMENT_DOCUMENT = "payment", _("Attributes of the payment document")
    RETAIL_RECEIPT = "retail_receipt", _("A retail receipt document (BAS Small Business)")


# The retail receipt document of each BAS configuration that has one. BAS Бухгалтерія has
# none: its retail sales are a daily report (Document_ОтчетОРозничныхПродажах), not one
# document per fiscal receipt, so the receipt target is refused there.
RETAIL_RECEIPT_SETS: dict[str, str] = {"small_business": "Document_ЧекККМ"}


def retail_receipt_set(configuration: str) -> str | None:
    return RETAIL_RECEIPT_SETS.get(configuration)


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
    # Where fiscal receipt data goes lives here, next to the payment-document attributes: it is
    # one choice per account (KeyCRM fiscalises through one integration per account), and the
    # fiscal register is the shop's, not a payment method's.
    fiscal_target = models.CharField(
        _("fiscal receipt data goes to"), max_length=16, choices=FiscalTarget.choices,
        default=FiscalTarget.PAYMENT_DOCUMENT,
        help_text=_("Retail receipt: each paid KeyCRM payment that KeyCRM fiscalised becomes a "
                    "posted retail receipt (Document_ЧекККМ) based on the order, carrying the "
                    "receipt number, date and link. Not available in BAS Accounting, which has "
                    "no retail receipt document."))
    receipt_number_attribute = models.CharField(
        _("receipt attribute for the fiscal number"), max_length=150, blank=True,
        default="НомерЧекаККМ", help_text=_("A text attribute of Document_ЧекККМ."))
    receipt_date_attribute = models.CharField(
        _("receipt attribute for the fiscal date"), max_length=150, blank=True,
        default="Date", help_text=_("Date: the receipt's own date becomes the fiscal date."))
    receipt_link_attribute = models.CharField(
        _("receipt attribute for the fiscal link"), max_length=150, blank=True,
        default="СсылкаНаЧек", help_text=_("A text attribute; empty: not written."))
    receipt_cash_register_ref = models.UUIDField(
        _("fiscal cash register"), null=True, blank=True,
        help_text=_("Ref_Key of the cash register (Catalog_КассыККМ) the receipts are punched "
                    "on; required for retail receipts."))
    receipt_store_ref = models.UUIDField(
        _("retail unit"), null=True, blank=True,
        help_text=_("Ref_Key of the retail structural unit (Catalog_СтруктурныеЕдиницы) the "
                    "goods leave; empty: the order's reserve warehouse."))
    post_receipts = models.BooleanField(_("post retail receipts"), default=True)

    class Meta:
        verbose_name = _("payment settings")
        verbose_name_plural = _("payment settings")

    def __str__(self) -> str:
        return str(self.account)

    def clean(self) -> None:
        if self.fiscal_target != FiscalTarget.RETAIL_RECEIPT or self.account_id is None:
            return
        connection = self.account.bas_connection
        if connection is None or retail_receipt_set(connection.configuration) is None:
            name = connection.get_configuration_display() if connection else _("no BAS base")
            raise ValidationError({"fiscal_target": _(
                "Retail receipts are not available for %(conf)s: that configuration has no "
                "retail receipt document. Write fiscal data to the payment document instead.")
                % {"conf": name}})
        if self.payments_to_bas:
            # A posted retail receipt books the money taken as well as the sale; a payment
            # document for the same KeyCRM payment would book that money a second time.
            raise ValidationError({"fiscal_target": _(
                "Retail receipts cannot be combined with “KeyCRM payments → BAS”: a retail "
                "receipt already records the money received, so the payment document would "
                "count the same payment twice. Switch one of them off.")})
        if self.receipt_cash_register_ref is None:
            raise ValidationError({"receipt_cash_register_ref": _(
                "Choose the fiscal cash register the retail receipts are punched on.")})


class DocumentActionKind(models.TextChoices):
    PAYMENT = "payment", _("Incoming payment into BAS")
    PAYMENT_CANCEL = "payment_cancel", _("Payment cancelled")
    FISCAL = "fiscal", _("Fiscal receipt data")
    RETAIL_RECEIPT = "retail_receipt", _("Retail receipt into BAS")
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

    def clean(self) -> None:
        # Read as a set of ints for every order of the account: a typo here would otherwise
        # break all of its follow-ups, not just this rule.
        if self.keycrm_status_ids is None:
            self.keycrm_status_ids = []
        ids = self.keycrm_status_ids
        if not isinstance(ids, list) or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise ValidationError({"keycrm_status_ids": _(
                "Write the KeyCRM status ids as a list of whole numbers, e.g. [4, 9].")})

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
