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
