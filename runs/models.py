"""One row per long piece of work (a backfill, a directory sync, a stock push, a bulk
re-process…): how far it got, so that a person can leave its page and come back to it."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import KeyCrmAccount


class RunState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


FINISHED_STATES = (RunState.DONE, RunState.FAILED)


class Run(models.Model):
    kind = models.CharField(_("kind"), max_length=50, db_index=True)
    title = models.CharField(_("what"), max_length=255)
    account = models.ForeignKey(KeyCrmAccount, on_delete=models.CASCADE, null=True, blank=True,
                                related_name="runs", verbose_name=_("account"))
    state = models.CharField(_("state"), max_length=16, choices=RunState.choices,
                             default=RunState.QUEUED)
    dry_run = models.BooleanField(_("dry run"), default=False)
    total = models.PositiveIntegerField(_("total"), null=True, blank=True)
    done = models.PositiveIntegerField(_("done"), default=0)
    message = models.TextField(_("message"), blank=True)
    result = models.JSONField(_("result"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("run")
        verbose_name_plural = _("runs")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.title} ({self.get_state_display()})"

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    def elapsed_seconds(self) -> float:
        if self.started_at is None:
            return 0.0
        end = self.finished_at or timezone.now()
        return max(0.0, (end - self.started_at).total_seconds())

    def rate(self) -> float | None:
        """Items per second so far."""
        elapsed = self.elapsed_seconds()
        return self.done / elapsed if elapsed > 0 and self.done else None

    def seconds_left(self) -> float | None:
        rate = self.rate()
        if self.finished or not rate or self.total is None:
            return None
        return max(0.0, (self.total - self.done) / rate)

    def percent(self) -> float | None:
        if not self.total:
            return 100.0 if self.finished else None
        return min(100.0, 100.0 * self.done / self.total)
