"""Citation markers in generated text: only ``[n]`` that name a real passage survive.

Models sometimes cite passages that do not exist (``[7]`` of five) or group them (``[1, 2]``).
:class:`CitationFilter` rewrites a text stream as it arrives: valid markers become ``[n]``,
invalid ones are dropped, and a marker split across deltas (``"[1"`` + ``"]"``) is held back
until it is complete.
"""

from __future__ import annotations

import re
from collections.abc import Collection

_MARKER = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
_OPEN_TAIL = re.compile(r"\[[\d,\s]{0,16}$")


def cited_numbers(text: str) -> list[int]:
    """The passage numbers ``text`` cites, in order of first appearance."""
    seen: dict[int, None] = {}
    for match in _MARKER.finditer(text):
        for part in match.group(1).split(","):
            seen.setdefault(int(part), None)
    return list(seen)


class CitationFilter:
    """Rewrites citation markers of a streamed text against the valid passage numbers."""

    def __init__(self, valid: Collection[int]) -> None:
        self._valid = set(valid)
        self._pending = ""

    def _rewrite(self, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            numbers = [int(p) for p in match.group(1).split(",")]
            return "".join(f"[{n}]" for n in dict.fromkeys(numbers) if n in self._valid)

        return _MARKER.sub(replace, text)

    def feed(self, delta: str) -> str:
        """The text that can be released after ``delta`` (a possible marker start is held)."""
        text = self._pending + delta
        tail = _OPEN_TAIL.search(text)
        if tail is not None:
            self._pending, text = text[tail.start() :], text[: tail.start()]
        else:
            self._pending = ""
        return self._rewrite(text)

    def flush(self) -> str:
        """Whatever is still held back, rewritten."""
        text, self._pending = self._pending, ""
        return self._rewrite(text)
