"""The first stage: everything received from KeyCRM, stored as it came, and the queue that the
second stage (processing into BAS) works from.

A record is never edited after it is received except for its processing state; re-processing
queues it again. Every processing attempt leaves an ``Attempt`` row, every HTTP exchange an
``Exchange`` row.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.models import KeyCrmAccount


class RecordSource(models.TextChoices):
    WEBHOOK = "webhook", _("Webhook")
    POLL = "poll", _("Polling")
    BACKFILL = "backfill", _("Backfill")


class RecordState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    PROCESSING = "processing", _("Processing")
    RETRY = "retry", _("Will be retried")
    DONE = "done", _("Done")
    WAITING = "waiting", _("Waiting for a person")
    FAILED = "failed", _("Failed after retries")
    DUPLICATE = "duplicate", _("Duplicate")
    IGNORED = "ignored", _("Ignored")


PENDING_STATES = (RecordState.QUEUED, RecordState.RETRY)


class InboundRecord(models.Model):
    account = models.ForeignKey(KeyCrmAccount, on_delete=models.CASCADE,
                                related_name="inbound_records", verbose_name=_("account"))
    source = models.CharField(_("received by"), max_length=16, choices=RecordSource.choices)
    event = models.CharField(_("event"), max_length=64, blank=True)
    keycrm_order_id = models.BigIntegerField(_("KeyCRM order"), null=True, blank=True,
                                             db_index=True)
    # What identifies a repeat of the same event (webhook: event, order, status, status time;
    # polling: order and its updated_at). Unique among the records that are not duplicates.
    dedupe_key = models.CharField(_("dedupe key"), max_length=200, blank=True)
    duplicate_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="duplicates")
    headers = models.JSONField(_("headers"), default=dict, blank=True)
    body = models.TextField(_("body as received"), blank=True)
    payload = models.JSONField(_("payload"), null=True, blank=True)
    # When KeyCRM says the order last changed (for choosing the newest snapshot).
    order_updated_at = models.DateTimeField(_("order changed at"), null=True, blank=True)
    received_at = models.DateTimeField(_("received"), auto_now_add=True, db_index=True)

    state = models.CharField(_("state"), max_length=16, choices=RecordState.choices,
                             default=RecordState.QUEUED)
    message = models.TextField(_("what happened"), blank=True)
    problem_kind = models.CharField(_("kind of problem"), max_length=32, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    not_before = models.DateTimeField(_("not before"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("claimed"), null=True, blank=True)
    claimed_by = models.CharField(_("worker"), max_length=100, blank=True)
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True)

    bas_document_set = models.CharField(_("BAS document"), max_length=150, blank=True)
    bas_document_ref = models.UUIDField(_("BAS document reference"), null=True, blank=True)
    bas_document_number = models.CharField(_("BAS document number"), max_length=50, blank=True)

    class Meta:
        verbose_name = _("received record")
        verbose_name_plural = _("received records")
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "dedupe_key"], name="inbound_dedupe",
                condition=Q(duplicate_of__isnull=True) & ~Q(dedupe_key="")),
        ]
        indexes = [
            models.Index(fields=["state", "not_before"], name="inbound_due"),
            models.Index(fields=["account", "keycrm_order_id", "id"], name="inbound_order"),
        ]

    def __str__(self) -> str:
        order = f" order {self.keycrm_order_id}" if self.keycrm_order_id else ""
        return f"#{self.pk} {self.get_source_display()}{order} ({self.get_state_display()})"


class Attempt(models.Model):
    record = models.ForeignKey(InboundRecord, on_delete=models.CASCADE, related_name="attempt_set")
    worker = models.CharField(_("worker"), max_length=100, blank=True)
    started_at = models.DateTimeField(_("started"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=RecordState.choices,
                               blank=True)
    message = models.TextField(_("message"), blank=True)

    class Meta:
        verbose_name = _("processing attempt")
        verbose_name_plural = _("processing attempts")
        ordering = ["record", "started_at", "id"]

    def __str__(self) -> str:
        return f"{self.record_id} @ {self.started_at:%Y-%m-%d %H:%M:%S}: {self.outcome}"


class ProcessingLock(models.Model):
    """A named lock held by one worker, on any database: the row is the lock; an expired one
    (its worker was killed) can be taken over. Names: ``order:<id>`` (one worker per KeyCRM
    order), ``buyer:<id>`` (one counterparty per buyer, however many orders arrive at once)."""

    account = models.ForeignKey(KeyCrmAccount, on_delete=models.CASCADE)
    name = models.CharField(max_length=100)
    holder = models.CharField(max_length=100)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "name"],
                                               name="processing_lock_unique")]

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder}"


class Exchange(models.Model):
    """One HTTP call to KeyCRM or BAS, readable by an operator. Secrets are masked and bodies
    truncated before they are stored."""

    system = models.CharField(_("system"), max_length=16)
    method = models.CharField(_("method"), max_length=10)
    url = models.TextField(_("URL"))
    request_body = models.TextField(_("request"), blank=True)
    status = models.PositiveSmallIntegerField(_("status"), null=True, blank=True)
    response_body = models.TextField(_("response"), blank=True)
    duration_ms = models.FloatField(_("duration, ms"), default=0)
    error = models.CharField(_("error"), max_length=500, blank=True)
    record = models.ForeignKey(InboundRecord, on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="exchanges")
    outbox_message = models.ForeignKey("OutboxMessage", on_delete=models.SET_NULL, null=True,
                                       blank=True, related_name="exchanges")
    created_at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("exchange")
        verbose_name_plural = _("exchange log")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.system} {self.method} {self.status or self.error}"

    @property
    def ok(self) -> bool:
        return self.status is not None and self.status < 400


class PollCursor(models.Model):
    """Where polling of an account's orders stands; survives restarts."""

    account = models.OneToOneField(KeyCrmAccount, on_delete=models.CASCADE,
                                   related_name="poll_cursor")
    enabled = models.BooleanField(_("poll"), default=True)
    interval_seconds = models.PositiveIntegerField(_("every, seconds"), default=300)
    overlap_seconds = models.PositiveIntegerField(
        _("overlap, seconds"), default=120,
        help_text=_("Each poll reaches back this far before the last one, so an order changed "
                    "while the last poll ran is not missed."))
    polled_until = models.DateTimeField(_("polled up to"), null=True, blank=True)
    last_started_at = models.DateTimeField(_("last poll started"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last successful poll"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("polling")
        verbose_name_plural = _("polling")

    def __str__(self) -> str:
        return f"{self.account}: every {self.interval_seconds} s"


class BackfillJob(models.Model):
    """Pulling an account's order history page by page; resumable from ``next_page``."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    account = models.ForeignKey(KeyCrmAccount, on_delete=models.CASCADE,
                                related_name="backfills")
    since = models.DateTimeField(_("orders since"))
    until = models.DateTimeField(_("orders until"), null=True, blank=True,
                                 help_text=_("Fixed when the job starts, so pages stay stable."))
    next_page = models.PositiveIntegerField(_("next page"), default=1)
    last_page = models.PositiveIntegerField(_("last page"), null=True, blank=True)
    total = models.PositiveIntegerField(_("orders in KeyCRM"), null=True, blank=True)
    stored = models.PositiveIntegerField(_("orders stored"), default=0)
    state = models.CharField(_("state"), max_length=16, choices=State.choices,
                             default=State.QUEUED)
    message = models.TextField(_("message"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("backfill")
        verbose_name_plural = _("backfills")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.account} since {self.since:%Y-%m-%d}"


class OutboxState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    RETRY = "retry", _("Will be retried")
    SENT = "sent", _("Sent")
    WAITING = "waiting", _("Waiting for a person")
    FAILED = "failed", _("Failed after retries")
    SUPERSEDED = "superseded", _("Replaced by a newer message")


OUTBOX_PENDING = (OutboxState.QUEUED, OutboxState.RETRY)


class OutboxMessage(models.Model):
    """One write to KeyCRM, stored in the same transaction as the change that causes it and sent
    by a worker afterwards: a crash between the two loses nothing, and every write is visible
    and re-sendable.

    ``kind`` names the sender that knows how to make the call (``staging.services.outbox``);
    ``key`` names what the write is about (``order:123:status``): while a message waits, a newer
    one with the same key replaces it, since only the latest state matters.
    """

    account = models.ForeignKey(KeyCrmAccount, on_delete=models.CASCADE,
                                related_name="outbox_messages", verbose_name=_("account"))
    kind = models.CharField(_("kind"), max_length=50)
    key = models.CharField(_("about"), max_length=200)
    payload = models.JSONField(_("what to send"), default=dict, blank=True)
    cause = models.CharField(_("why"), max_length=500, blank=True)
    state = models.CharField(_("state"), max_length=16, choices=OutboxState.choices,
                             default=OutboxState.QUEUED)
    message = models.TextField(_("what happened"), blank=True)
    result = models.JSONField(_("answer kept"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    not_before = models.DateTimeField(_("not before"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("claimed"), null=True, blank=True)
    claimed_by = models.CharField(_("worker"), max_length=100, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("outgoing message")
        verbose_name_plural = _("outbox")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "key"], name="outbox_one_pending_per_key",
                                    condition=Q(state="queued")),
        ]
        indexes = [
            models.Index(fields=["state", "not_before"], name="outbox_due"),
            models.Index(fields=["account", "key", "id"], name="outbox_key"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.key} ({self.get_state_display()})"
