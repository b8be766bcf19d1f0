"""What parsers produce and chunkers consume."""

from __future__ import annotations

from dataclasses import dataclass, field

from ragplatform.errors import RagPlatformError


class UnreadableDocument(RagPlatformError):
    """The file cannot be turned into text (corrupt, encrypted, empty, image-only, hostile)."""

    code = "unreadable_document"


@dataclass(frozen=True)
class Section:
    """A run of text with where it sits in the document."""

    text: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None


@dataclass(frozen=True)
class ParsedDocument:
    """A document's text in reading order, split into sections."""

    sections: list[Section]
    title: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    """A piece of a document sized for the embedder."""

    index: int
    text: str
    token_count: int
    heading_path: tuple[str, ...] = ()
    page: int | None = None
