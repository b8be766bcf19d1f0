from __future__ import annotations

from ragplatform.documents.context import MAX_HEADER_CHARS, MAX_PART_CHARS, context_header
from ragplatform.ports import ChunkRecord


def test_title_and_headings_joined_without_repeats() -> None:
    assert context_header("Handbook", ("Handbook", "Leave", "Parental leave")) == (
        "Handbook > Leave > Parental leave"
    )
    assert context_header(None, ("Setup", "setup", "Install")) == "Setup > Install"
    assert context_header("  Spaced\n title ", ()) == "Spaced title"
    assert context_header(None, ()) == ""
    assert context_header("", ("", "  ")) == ""


def test_long_parts_and_headers_are_cut() -> None:
    part = context_header("x" * 500, ())
    assert len(part) == MAX_PART_CHARS and part.endswith("…")
    many = context_header("t", [f"heading {i} " + "y" * 60 for i in range(10)])
    assert len(many) == MAX_HEADER_CHARS and many.endswith("…")


def test_indexed_text_puts_the_header_first() -> None:
    base = {
        "id": __import__("uuid").uuid4(),
        "tenant_id": "t",
        "collection_id": "c",
        "document_id": "d",
        "document_version": 1,
        "chunk_index": 2,
        "text": "The body.",
        "dense": (),
    }
    assert ChunkRecord(**base, payload={"context": "Guide > Setup"}).indexed_text == (  # type: ignore[arg-type]
        "Guide > Setup\n\nThe body."
    )
    assert ChunkRecord(**base).indexed_text == "The body."  # type: ignore[arg-type]
    assert ChunkRecord(**base, payload={"context": ""}).indexed_text == "The body."  # type: ignore[arg-type]
