"""Chunk context headers: the document title and section headings every chunk is indexed with.

A chunk cut from the middle of a document no longer says what the document is about; its first
chunk alone carries the title. Measured on SciFact train (benchmarks/RESULTS.md, "Document
representation variants"): indexing every chunk as ``title\\n\\nchunk`` raised hybrid nDCG@10.
"""

from __future__ import annotations

from collections.abc import Sequence

# Headers stay short: they ride along with every chunk into a 256-token embedding window.
MAX_PART_CHARS = 120
MAX_HEADER_CHARS = 240
SEPARATOR = " > "


def context_header(title: str | None, heading_path: Sequence[str]) -> str:
    """``title > heading > sub-heading``, without repeats (a Markdown H1 is often the title)."""
    parts: list[str] = []
    for raw in (title or "", *heading_path):
        part = " ".join(raw.split())
        if len(part) > MAX_PART_CHARS:
            part = part[: MAX_PART_CHARS - 1].rstrip() + "…"
        if part and part.casefold() not in {p.casefold() for p in parts}:
            parts.append(part)
    header = SEPARATOR.join(parts)
    if len(header) > MAX_HEADER_CHARS:
        header = header[: MAX_HEADER_CHARS - 1].rstrip() + "…"
    return header
