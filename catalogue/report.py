"""What one run of a catalogue flow did (or, in a dry run, would do)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

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
        verb = "would be" if self.dry_run else "were"
        text = (f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged "
                f"({verb} written)")
        if self.queued_messages:
            text += f"; {self.queued_messages} messages queued for KeyCRM"
        return text

    def as_result(self) -> dict[str, Any]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "queued_messages": self.queued_messages, "changes": self.changes}


def no_progress(**_: Any) -> None:
    """The progress callback of a caller that does not follow progress."""
