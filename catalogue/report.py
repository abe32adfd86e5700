"""What one run of a catalogue flow did (or, in a dry run, would do)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext

PREVIEW_LIMIT = 200  # changes listed in a dry run's result; the counts cover all of them

Progress = Callable[..., None]  # progress(add=1) / progress(total=n); runs.services-compatible


@dataclasses.dataclass
class SyncReport:
    dry_run: bool = False
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    queued_messages: int = 0
    changes: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def change(self, action: str, what: str, **details: Any) -> None:
        if action == "create":
            self.created += 1
        elif action == "update":
            self.updated += 1
        if len(self.changes) < PREVIEW_LIMIT:
            self.changes.append({"action": action, "what": what, **details})

    def summary(self) -> str:
        counts = {"created": self.created, "updated": self.updated,
                  "unchanged": self.unchanged}
        text = (gettext("%(created)d created, %(updated)d updated, %(unchanged)d unchanged "
                        "(would be written)") if self.dry_run else
                gettext("%(created)d created, %(updated)d updated, %(unchanged)d unchanged "
                        "(were written)")) % counts
        if self.queued_messages:
            text += gettext("; %(count)d messages queued for KeyCRM") % {
                "count": self.queued_messages}
        return text

    def as_result(self) -> dict[str, Any]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "queued_messages": self.queued_messages, "changes": self.changes}


def no_progress(**_: Any) -> None:
    """The progress callback of a caller that does not follow progress."""
