"""A progress bar for management commands: done / total, rate and time left on one line that
rewrites itself (a plain line every 10 % when the output is not a terminal, e.g. a log)."""

from __future__ import annotations

import time
from typing import TextIO


class ProgressBar:
    WIDTH = 30

    def __init__(self, stream: TextIO, *, total: int | None = None, label: str = "") -> None:
        self.stream, self.total, self.label = stream, total, label
        self.done = 0
        self.started = time.monotonic()
        self._tty = getattr(stream, "isatty", lambda: False)()
        self._last_decile = -1
        self._last_draw = 0.0

    def update(self, *, done: int | None = None, add: int = 0, total: int | None = None) -> None:
        if done is not None:
            self.done = done
        self.done += add
        if total is not None:
            self.total = total
        now = time.monotonic()
        if self._tty and now - self._last_draw >= 0.1:
            self._last_draw = now
            self._write("\r" + self.line())
            self.stream.flush()
        elif not self._tty and self.total:
            decile = int(10 * self.done / self.total)
            if decile != self._last_decile:
                self._last_decile = decile
                self._write(self.line() + "\n")

    def finish(self) -> None:
        self._write(("\r" if self._tty else "") + self.line() + "\n")
        self.stream.flush()

    def _write(self, text: str) -> None:
        # A command's self.stdout (Django's OutputWrapper) ends every write with a newline
        # unless told otherwise, which would break the redraw in place.
        if hasattr(self.stream, "ending"):
            self.stream.write(text, ending="")
        else:
            self.stream.write(text)

    def line(self) -> str:
        elapsed = max(1e-9, time.monotonic() - self.started)
        rate = self.done / elapsed
        if self.total:
            filled = int(self.WIDTH * min(self.done, self.total) / self.total)
            bar = "#" * filled + "." * (self.WIDTH - filled)
            left = (self.total - self.done) / rate if rate else None
            eta = f" ~{left:.0f}s left" if left is not None else ""
            text = f"[{bar}] {self.done}/{self.total} {rate:.1f}/s{eta}"
        else:
            text = f"{self.done} done {rate:.1f}/s"
        return f"{self.label} {text}".strip()
