"""Fit numbered passages, earlier turns and the question into the chat model's context window."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ragplatform.errors import InvalidInput
from ragplatform.ports import ChatMessage, ChatModel, Passage, VectorHit
from ragplatform.retrieval.prompt import PromptTemplate, format_passage

# Chat formats add a few tokens per message (role markers); keep a margin for them.
MESSAGE_OVERHEAD = 8
MARGIN = 32


@dataclass(frozen=True)
class PackedContext:
    """The passages that fit (renumbered 1..n), their hits, and the turns kept."""

    passages: list[Passage]
    hits: list[VectorHit]
    history: list[ChatMessage]


def pack_context(
    hits: Sequence[VectorHit],
    *,
    question: str,
    history: Sequence[ChatMessage],
    chat: ChatModel,
    template: PromptTemplate,
    max_answer_tokens: int,
) -> PackedContext:
    """Best-ranked passages first while they fit; the oldest turns go first when space is short."""
    fixed = (
        max_answer_tokens
        + chat.count_tokens(template.overhead(question))
        + 2 * MESSAGE_OVERHEAD
        + MARGIN
    )
    budget = chat.context_tokens - fixed
    if budget <= 0:
        raise InvalidInput(
            f"the question does not fit the answer model's context of {chat.context_tokens} "
            "tokens; shorten it",
            code="question_too_long",
        )
    turns = list(history)
    cost = [chat.count_tokens(m.content) + MESSAGE_OVERHEAD for m in turns]
    while turns and sum(cost) > budget // 2:
        turns.pop(0)
        cost.pop(0)
    budget -= sum(cost)
    passages: list[Passage] = []
    kept: list[VectorHit] = []
    for hit in hits:
        passage = Passage(
            n=len(passages) + 1,
            chunk_id=hit.id,
            text=str(hit.payload.get("text", "")),
            title=hit.payload.get("title"),
            score=hit.score,
        )
        tokens = chat.count_tokens(format_passage(passage)) + 2
        if tokens > budget:
            continue
        budget -= tokens
        passages.append(passage)
        kept.append(hit)
    return PackedContext(passages, kept, turns)
