"""Token-aware chunking: sections apart; paragraphs, sentences and words whole where they fit."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from ragplatform.documents.parsed import Chunk, ParsedDocument

CHUNK_NAMESPACE: Final = uuid.UUID("5b0d7c6e-2f4a-5d1b-9a7e-3c8f1e6d4b20")

# The strength of the boundary before a unit: where a chunk may end, strongest first.
PARAGRAPH: Final = 3
SENTENCE: Final = 2
WORD: Final = 1
PIECE: Final = 0
# A better boundary is taken unless the chunk would hold less than this share of its room.
_MIN_FILL_DIVISOR: Final = 3
# Whole-group shortcut: only count a group at once when it is plausibly small.
_CHARS_PER_TOKEN_CEILING: Final = 8

_PARAGRAPH_BREAK = re.compile(r"\n[ \t\f\v]*\n")
_SENTENCE_END = re.compile(
    r"[.!?\u2026]+[\"'\u201d\u2019)\]]*\s+(?=[^\sa-z])|[\u3002\uff01\uff1f]+\s*"
)

CountTokens = Callable[[str], int]


def chunk_id(document_id: str, version: int, index: int) -> uuid.UUID:
    """The stable id of a chunk: the same document, version and index give the same id."""
    return uuid.uuid5(CHUNK_NAMESPACE, f"{document_id}:{version}:{index}")


@dataclass(frozen=True, slots=True)
class _Unit:
    """An indivisible run of text with its token count and the boundary before it."""

    text: str
    tokens: int
    strength: int
    sep: str


def chunk_document(
    doc: ParsedDocument, *, count_tokens: CountTokens, size: int, overlap: int
) -> list[Chunk]:
    """Split a document into chunks of at most ``size`` tokens overlapping by ~``overlap``."""
    if size < 1:
        raise ValueError("chunk size must be at least 1 token")
    if not 0 <= overlap < size:
        raise ValueError("chunk overlap must be at least 0 and smaller than the chunk size")
    chunker = _Chunker(count_tokens, size, overlap)
    chunks: list[Chunk] = []
    for (heading_path, page), paragraphs in _groups(doc):
        for text, tokens in chunker.chunk(paragraphs):
            chunks.append(Chunk(len(chunks), text, tokens, heading_path, page))
    return chunks


def _groups(doc: ParsedDocument) -> Iterator[tuple[tuple[tuple[str, ...], int | None], list[str]]]:
    """Consecutive sections with the same heading path and page, as lists of paragraphs."""
    key: tuple[tuple[str, ...], int | None] | None = None
    paragraphs: list[str] = []
    for section in doc.sections:
        parts = [p.strip() for p in _PARAGRAPH_BREAK.split(section.text) if p.strip()]
        if not parts:
            continue
        here = (tuple(section.heading_path), section.page)
        if here != key and paragraphs and key is not None:
            yield key, paragraphs
            paragraphs = []
        key = here
        paragraphs.extend(parts)
    if paragraphs and key is not None:
        yield key, paragraphs


def split_sentences(paragraph: str) -> Iterator[tuple[str, str]]:
    """Yield (separator before it, sentence) for each line and sentence of a paragraph."""
    first_line = True
    for line in paragraph.split("\n"):
        start, sep = 0, "" if first_line else "\n"
        for match in _SENTENCE_END.finditer(line):
            yield sep, line[start : match.end()].strip()  # never empty: it holds the stop
            start, sep, first_line = match.end(), " ", False
        tail = line[start:].strip()
        if tail:
            yield sep, tail
            first_line = False


class _Chunker:
    """Packs the units of one group into chunks; the tokenizer is called once per unit."""

    def __init__(self, count_tokens: CountTokens, size: int, overlap: int) -> None:
        self.count = count_tokens
        self.size = size
        self.overlap = overlap
        self.additive = False

    def chunk(self, paragraphs: list[str]) -> list[tuple[str, int]]:
        """Chunk one group of paragraphs that share a heading path and page."""
        whole = "\n\n".join(paragraphs)
        tokens = -1
        if len(whole) <= self.size * _CHARS_PER_TOKEN_CEILING:
            tokens = self.count(whole)
            if tokens <= self.size:
                return [(whole, tokens)]
        units = self._units(paragraphs)
        # When the parts add up to the whole, the tokenizer is additive over these joins
        # (WordPiece is) and a chunk's count is the sum of its units: no need to recount.
        # Pieces of a hard-split word are glued without a space, so they are always recounted.
        self.additive = tokens == sum(unit.tokens for unit in units) and all(
            unit.strength != PIECE for unit in units
        )
        return self._pack(units)

    def _units(self, paragraphs: list[str]) -> list[_Unit]:
        """Sentences (or words, or pieces of words) of every paragraph, each counted once."""
        units: list[_Unit] = []
        for paragraph in paragraphs:
            strength, first_sep = PARAGRAPH, "\n\n"
            for line_sep, sentence in split_sentences(paragraph):
                sep = first_sep if strength == PARAGRAPH else line_sep
                tokens = self.count(sentence)
                if tokens <= self.size:
                    units.append(_Unit(sentence, tokens, strength, sep))
                else:
                    units.extend(self._words(sentence, strength, sep))
                strength = SENTENCE
        return units

    def _words(self, sentence: str, strength: int, sep: str) -> Iterator[_Unit]:
        """The words of an over-long sentence; an over-long word is hard-split."""
        for word in sentence.split():
            tokens = self.count(word)
            if tokens <= self.size:
                yield _Unit(word, tokens, strength, sep)
            else:
                for number, (piece, count) in enumerate(self._pieces(word, tokens)):
                    yield _Unit(piece, count, strength if number == 0 else PIECE,
                                sep if number == 0 else "")  # fmt: skip
            strength, sep = WORD, " "

    def _pieces(self, word: str, tokens: int) -> Iterator[tuple[str, int]]:
        """Hard-split a word into pieces of at most ``size`` tokens (by estimated length)."""
        step = max(1, len(word) * self.size // tokens)
        rest = word
        while rest:
            cut = min(step, len(rest))
            piece = rest[:cut]
            count = self.count(piece)
            while count > self.size and cut > 1:
                cut = max(1, cut * 4 // 5)
                piece = rest[:cut]
                count = self.count(piece)
            yield piece, count
            rest = rest[cut:]

    def _pack(self, units: list[_Unit]) -> list[tuple[str, int]]:
        """Greedily fill chunks, ending each at the strongest boundary that keeps it full enough."""
        prefix = [0]
        for unit in units:
            prefix.append(prefix[-1] + unit.tokens)
        out: list[tuple[str, int]] = []
        lead: list[_Unit] = []
        start = 0
        while start < len(units):
            lead_tokens = sum(unit.tokens for unit in lead)
            end = start + 1
            while end < len(units) and lead_tokens + prefix[end + 1] - prefix[start] <= self.size:
                end += 1
            cut = (
                end if end == len(units) else self._best_cut(units, prefix, start, end, lead_tokens)
            )
            text, tokens = self._render(lead, units[start:cut])
            while tokens > self.size and (cut - start > 1 or lead):
                if cut - start > 1:
                    cut -= 1
                else:
                    lead = []
                text, tokens = self._render(lead, units[start:cut])
            out.append((text, tokens))
            if cut < len(units):
                lead = self._overlap(units, start, cut)
            start = cut
        return out

    def _best_cut(
        self, units: Sequence[_Unit], prefix: list[int], start: int, end: int, lead_tokens: int
    ) -> int:
        """Where to end a chunk holding units[start:end]: the last strongest boundary in reach."""
        floor = (self.size - lead_tokens) // _MIN_FILL_DIVISOR
        for strength in (PARAGRAPH, SENTENCE, WORD):
            for cut in range(end, start, -1):
                if prefix[cut] - prefix[start] < floor:
                    break
                if units[cut].strength >= strength:
                    return cut
        return end

    def _overlap(self, units: Sequence[_Unit], start: int, cut: int) -> list[_Unit]:
        """The tail of units[start:cut] to repeat at the start of the next chunk."""
        budget = min(self.overlap, self.size - units[cut].tokens)
        if budget <= 0:
            return []
        total, any_start, sentence_start, sentence_tokens = 0, 0, 0, 0
        for k in range(cut - 1, start, -1):
            total += units[k].tokens
            if total > budget:
                break
            any_start = k
            if units[k].strength >= SENTENCE:
                sentence_start, sentence_tokens = k, total
        if sentence_start and sentence_tokens * 2 >= budget:
            return list(units[sentence_start:cut])
        if any_start:
            return list(units[any_start:cut])
        return self._tail(units[cut - 1], budget)

    def _tail(self, unit: _Unit, budget: int) -> list[_Unit]:
        """The longest run of trailing words of ``unit`` (not all) within ``budget`` tokens."""
        words = unit.text.split()
        best: list[_Unit] = []
        low, high = 1, len(words) - 1
        while low <= high:
            middle = (low + high) // 2
            text = " ".join(words[-middle:])
            tokens = self.count(text)
            if tokens <= budget:
                best, low = [_Unit(text, tokens, WORD, " ")], middle + 1
            else:
                high = middle - 1
        return best

    def _render(self, lead: list[_Unit], units: Sequence[_Unit]) -> tuple[str, int]:
        """Join units with their separators and count the result exactly."""
        parts: list[str] = []
        for unit in (*lead, *units):
            if parts:
                parts.append(unit.sep)
            parts.append(unit.text)
        text = "".join(parts).strip()
        if self.additive:
            return text, sum(unit.tokens for unit in (*lead, *units))
        return text, self.count(text)
