from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from ragplatform.errors import InvalidInput
from ragplatform.ports import ChatDelta, ChatMessage, ChatPrompt, VectorHit
from ragplatform.retrieval.packing import pack_context
from ragplatform.retrieval.prompt import PromptTemplate


class WordModel:
    """A ChatModel whose token count is the word count (only counting is used here)."""

    name = "words"
    mode = "generative"

    def __init__(self, context_tokens: int) -> None:
        self.context_tokens = context_tokens

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    async def stream(self, prompt: ChatPrompt) -> AsyncIterator[ChatDelta]:
        raise NotImplementedError("not used by packing")
        yield ChatDelta()

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None


def _hit(words: int, title: str) -> VectorHit:
    payload = {"text": " ".join(["w"] * words), "title": title}
    return VectorHit(id=uuid.uuid4(), score=1.0, payload=payload)


def test_best_ranked_passages_first_while_they_fit() -> None:
    template = PromptTemplate.load()
    hits = [_hit(100, "a"), _hit(400, "b"), _hit(100, "c")]
    base = pack_context(
        [], question="q", history=[], chat=WordModel(10_000), template=template, max_answer_tokens=0
    )
    assert base.passages == []
    overhead = 10_000  # find the fixed cost: a model with room for exactly a+c
    fixed = WordModel(overhead).count_tokens(template.overhead("q")) + 16 + 32 + 100
    model = WordModel(fixed + 2 * 105)
    packed = pack_context(
        hits, question="q", history=[], chat=model, template=template, max_answer_tokens=100
    )
    assert [p.title for p in packed.passages] == ["a", "c"]
    assert [p.n for p in packed.passages] == [1, 2]
    assert packed.hits == [hits[0], hits[2]]


def test_oldest_turns_are_dropped_first() -> None:
    template = PromptTemplate.load()
    history = [ChatMessage("user", "old " * 300), ChatMessage("assistant", "recent answer")]
    packed = pack_context(
        [],
        question="q",
        history=history,
        chat=WordModel(800),
        template=template,
        max_answer_tokens=100,
    )
    assert packed.history == [history[1]]


def test_a_question_beyond_the_window_is_refused() -> None:
    with pytest.raises(InvalidInput, match="does not fit") as info:
        pack_context(
            [],
            question="long " * 500,
            history=[],
            chat=WordModel(300),
            template=PromptTemplate.load(),
            max_answer_tokens=100,
        )
    assert info.value.code == "question_too_long"
