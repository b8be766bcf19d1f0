"""The default answer model: no LLM, the retrieved sentences that best answer the question.

Sentences of the numbered passages are embedded with the platform's embedder and chosen by
maximal marginal relevance (similar to the question, unlike each other), kept only above a
relevance floor, then ordered by passage rank and position and cited with their passage number.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ragplatform.ports import ChatDelta, ChatPrompt, ChatUsage, Embedder
from ragplatform.retrieval.prompt import NO_ANSWER

MMR_LAMBDA = 0.7
DUPLICATE = 0.95
MIN_SENTENCE_CHARS = 12
MAX_SENTENCE_CHARS = 600
MAX_ANSWER_WORDS = 160
_SPLIT = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n|\n(?=\s*[-*•]\s)")


@dataclass(frozen=True)
class Sentence:
    """A candidate sentence: its passage number, position and text."""

    n: int
    position: int
    text: str


def split_sentences(n: int, text: str) -> list[Sentence]:
    """The sentences of passage ``n`` worth quoting (very short fragments dropped)."""
    out: list[Sentence] = []
    for piece in _SPLIT.split(text):
        sentence = " ".join(piece.split())
        if len(sentence) < MIN_SENTENCE_CHARS:
            continue
        if len(sentence) > MAX_SENTENCE_CHARS:
            sentence = sentence[: MAX_SENTENCE_CHARS - 1].rsplit(" ", 1)[0] + "…"
        out.append(Sentence(n, len(out), sentence))
    return out


def select(
    relevance: Sequence[float],
    vectors: Sequence[Sequence[float]],
    *,
    floor: float,
    limit: int,
) -> list[int]:
    """Indexes chosen by maximal marginal relevance among those scoring at least ``floor``."""
    scores = np.asarray(relevance, dtype=np.float32)
    matrix = np.asarray(vectors, dtype=np.float32)
    similarity = matrix @ matrix.T  # unit vectors: cosine similarities, computed once
    redundancy = np.zeros(len(scores), dtype=np.float32)  # max similarity to a chosen one
    candidates = scores >= floor
    chosen: list[int] = []
    while candidates.any() and len(chosen) < limit:
        gain = np.where(candidates, MMR_LAMBDA * scores - (1 - MMR_LAMBDA) * redundancy, -np.inf)
        best = int(np.argmax(gain))
        candidates[best] = False
        if chosen and redundancy[best] > DUPLICATE:
            continue  # a near-duplicate of a chosen sentence adds nothing
        chosen.append(best)
        redundancy = np.maximum(redundancy, similarity[best])
    return chosen


def cite(sentence: Sentence) -> str:
    """The sentence with its marker before the final punctuation: ``"It is [2]."``."""
    text = sentence.text
    if text[-1] in ".!?":
        return f"{text[:-1]} [{sentence.n}]{text[-1]}"
    return f"{text} [{sentence.n}]"


class ExtractiveModel:
    """Answers with cited sentences from the passages; labelled ``mode: extractive``."""

    mode: Literal["extractive", "generative"] = "extractive"

    def __init__(
        self, embedder: Embedder, *, min_relevance: float, max_sentences: int, context_tokens: int
    ) -> None:
        self._embedder = embedder
        self.min_relevance = min_relevance
        self.max_sentences = max_sentences
        self.context_tokens = context_tokens
        self.name = f"extractive/{embedder.model_name}"

    def count_tokens(self, text: str) -> int:
        """Tokens as the embedding model counts them."""
        return self._embedder.count_tokens(text)

    async def answer(self, prompt: ChatPrompt) -> list[Sentence]:
        """The chosen sentences in reading order (empty: nothing answers the question)."""
        sentences = [s for p in prompt.passages for s in split_sentences(p.n, p.text)]
        if not sentences:
            return []
        query = await self._embedder.embed_query(prompt.question)
        vectors = await self._embedder.embed_documents([s.text for s in sentences])
        relevance = (np.asarray(vectors, dtype=np.float32) @ np.asarray(query)).tolist()
        chosen = select(relevance, vectors, floor=self.min_relevance, limit=self.max_sentences)
        rank = {p.n: i for i, p in enumerate(prompt.passages)}
        picked: list[Sentence] = []
        words = 0
        for i in sorted(chosen, key=lambda i: -relevance[i]):
            words += len(sentences[i].text.split())
            if picked and words > MAX_ANSWER_WORDS:
                break
            picked.append(sentences[i])
        return sorted(picked, key=lambda s: (rank[s.n], s.position))

    async def stream(self, prompt: ChatPrompt) -> AsyncIterator[ChatDelta]:
        """One delta per cited sentence, then the usage."""
        picked = await self.answer(prompt)
        pieces = [cite(s) for s in picked] or [NO_ANSWER]
        read = self.count_tokens(prompt.question) + sum(
            self.count_tokens(p.text) for p in prompt.passages
        )
        written = 0
        for i, piece in enumerate(pieces):
            text = piece if i == 0 else " " + piece
            written += self.count_tokens(text)
            yield ChatDelta(text=text)
        yield ChatDelta(usage=ChatUsage(prompt_tokens=read, completion_tokens=written))

    async def ping(self) -> None:
        """Ready when the embedder is."""
        await self._embedder.ping()

    async def close(self) -> None:
        """Nothing to release (the embedder belongs to the app)."""
