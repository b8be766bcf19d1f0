"""How long-running backup work reports progress (the CLI draws bars; the server logs)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Phases with an optional total, advanced step by step."""

    def start(self, phase: str, total: int | None) -> None:
        """A new phase begins (``total`` None: unknown)."""
        ...

    def advance(self, amount: int = 1) -> None:
        """``amount`` more steps of the current phase are done."""
        ...


class NoProgress:
    """Reports nothing."""

    def start(self, phase: str, total: int | None) -> None:
        """Ignore the phase."""

    def advance(self, amount: int = 1) -> None:
        """Ignore the steps."""


NO_PROGRESS = NoProgress()
