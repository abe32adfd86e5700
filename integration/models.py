from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class RateSlot(models.Model):
    """One of the N request slots of a shared rate budget (N = requests per window).

    A request may go out when it takes a slot that has been free for a whole window; taking it
    is one conditional UPDATE, so any number of processes on one database share the budget
    without a lock table. Only used when no Redis is configured.
    """

    bucket = models.CharField(max_length=64)
    slot = models.PositiveIntegerField()
    used_at = models.FloatField(default=0.0)  # Unix time of the last grant

    class Meta:
        verbose_name = _("rate budget slot")
        constraints = [
            models.UniqueConstraint(fields=["bucket", "slot"], name="rate_slot_unique"),
        ]
        indexes = [models.Index(fields=["bucket", "used_at"], name="rate_slot_free")]

    def __str__(self) -> str:
        return f"{self.bucket}#{self.slot}"


class BasChangesSettings(models.Model):
    """How and how often an account's BAS documents are checked for changes to send back to
    KeyCRM (statuses, orders created in BAS), and how the last check went."""

    account = models.OneToOneField("accounts.KeyCrmAccount", on_delete=models.CASCADE,
                                   related_name="bas_changes_settings",
                                   verbose_name=_("account"))
    enabled = models.BooleanField(_("check BAS for changes"), default=True)
    interval_seconds = models.PositiveIntegerField(_("every, seconds"), default=300)
    lookback_days = models.PositiveIntegerField(
        _("look back, days"), default=14,
        help_text=_("Documents dated within this many days are read on every check, plus "
                    "every document linked to a KeyCRM order changed in that time."))
    create_orders = models.BooleanField(
        _("create orders made in BAS in KeyCRM"), default=False,
        help_text=_("Customer orders entered in BAS with no KeyCRM counterpart become KeyCRM "
                    "orders."))
    keycrm_source_id = models.BigIntegerField(
        _("KeyCRM source for such orders"), null=True, blank=True,
        help_text=_("The id of the KeyCRM source (sales channel) orders from BAS get."))
    last_started_at = models.DateTimeField(_("last check started"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last successful check"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    last_summary = models.CharField(_("last result"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("BAS changes check")
        verbose_name_plural = _("BAS changes checks")

    def __str__(self) -> str:
        return str(self.account)


class BasDocumentState(models.Model):
    """What the portal last knew of one BAS document: the DataVersion it saw, the state the
    document holds (read, or written by the portal), its KeyCRM order, and the echo marker of
    the portal's last write to KeyCRM. A change is one the portal did not make itself only when
    the DataVersion moved AND the state differs from this row's."""

    account = models.ForeignKey("accounts.KeyCrmAccount", on_delete=models.CASCADE,
                                related_name="bas_document_states", verbose_name=_("account"))
    entity_set = models.CharField(_("BAS document"), max_length=150)
    bas_ref = models.UUIDField(_("BAS reference (Ref_Key)"))
    number = models.CharField(_("number"), max_length=50, blank=True)
    keycrm_order_id = models.BigIntegerField(_("KeyCRM order"), null=True, blank=True)
    data_version = models.CharField(_("DataVersion seen"), max_length=64, blank=True)
    state_value = models.CharField(_("state in BAS"), max_length=150, blank=True)
    written_by_portal_at = models.DateTimeField(_("written to BAS by the portal"), null=True,
                                                blank=True)
    written_hash = models.CharField(
        _("what the portal wrote, except the state"), max_length=64, blank=True,
        help_text=_("A hash of the last document body the portal wrote without its state: a "
                    "KeyCRM change whose only difference is a status BAS already has is not "
                    "written."))
    exported_at = models.DateTimeField(
        _("created in KeyCRM"), null=True, blank=True,
        help_text=_("When the portal created the KeyCRM order of a document made in BAS."))
    echo_updated_at = models.DateTimeField(
        _("KeyCRM updated_at after our write"), null=True, blank=True,
        help_text=_("A KeyCRM change with exactly this updated_at is the portal's own write "
                    "coming back and is not written to BAS."))
    echo_status_id = models.BigIntegerField(_("KeyCRM status written"), null=True, blank=True)
    seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("BAS document state")
        verbose_name_plural = _("BAS document states")
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(fields=["account", "entity_set", "bas_ref"],
                                    name="bas_document_state_unique"),
        ]
        indexes = [models.Index(fields=["account", "keycrm_order_id"],
                                name="bas_document_state_order")]

    def __str__(self) -> str:
        return f"{self.entity_set} {self.number or self.bas_ref}"
