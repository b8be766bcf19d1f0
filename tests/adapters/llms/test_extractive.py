"""The extractive answer model with the real MiniLM embedder."""

from __future__ import annotations

import uuid

import pytest

from ragplatform.adapters.llms.extractive import ExtractiveModel, select, split_sentences
from ragplatform.ports import ChatDelta, ChatPrompt, Passage
from ragplatform.retrieval.prompt import NO_ANSWER
from ragplatform.settings import EmbeddingSettings
from tests.support import shared_embedder

PASSAGES = [
    "Remote work policy. Employees may work from home up to three days per week. "
    "Remote days must be recorded in the HR portal.",
    "The cafeteria serves vegetarian lunch options every weekday at noon.",
    "Working from home requires the approval of your manager. Equipment is provided by IT.",
]


def _prompt(question: str, texts: list[str]) -> ChatPrompt:
    passages = [Passage(n=i + 1, chunk_id=uuid.uuid4(), text=t) for i, t in enumerate(texts)]
    return ChatPrompt(question=question, passages=passages, messages=[], max_tokens=200)


@pytest.fixture
async def model() -> ExtractiveModel:
    embedder = await shared_embedder(EmbeddingSettings())
    return ExtractiveModel(embedder, min_relevance=0.3, max_sentences=3, context_tokens=4096)


def test_split_sentences_drops_fragments_and_truncates() -> None:
    text = "Short. This is a real sentence! And another one? ok\n\n- a bullet point item here"
    parts = [s.text for s in split_sentences(2, text)]
    assert parts == [
        "This is a real sentence!",
        "And another one? ok",
        "- a bullet point item here",
    ]
    long = split_sentences(1, "word " * 400)
    assert len(long) == 1 and long[0].text.endswith("…") and len(long[0].text) <= 600


def test_select_prefers_relevant_and_diverse() -> None:
    vectors = [[1.0, 0.0], [1.0, 0.0], [0.6, 0.8], [0.0, 1.0]]
    relevance = [0.9, 0.9, 0.7, 0.1]
    assert select(relevance, vectors, floor=0.3, limit=3) == [0, 2]
    assert select(relevance, vectors, floor=0.95, limit=3) == []


async def test_answers_with_cited_relevant_sentences(model: ExtractiveModel) -> None:
    deltas = [
        d async for d in model.stream(_prompt("How many days can I work from home?", PASSAGES))
    ]
    text = "".join(d.text for d in deltas)
    assert "three days per week [1]" in text
    assert "cafeteria" not in text
    assert deltas[-1].usage is not None and deltas[-1].usage.completion_tokens > 0
    assert all(d.usage is None for d in deltas[:-1])
    assert model.mode == "extractive" and model.name.startswith("extractive/")


async def test_nothing_relevant_means_no_answer(model: ExtractiveModel) -> None:
    deltas: list[ChatDelta] = [
        d async for d in model.stream(_prompt("What is the capital of Peru?", PASSAGES))
    ]
    assert "".join(d.text for d in deltas) == NO_ANSWER
    empty = [d async for d in model.stream(_prompt("anything", ["ok"]))]
    assert "".join(d.text for d in empty) == NO_ANSWER
    await model.ping()
    await model.close()
