"""Answers: retrieve, gate on relevance, pack numbered passages, generate, keep citations honest."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from ragplatform.errors import InvalidInput
from ragplatform.ports import ChatMessage, ChatPrompt, ChatUsage, VectorHit
from ragplatform.retrieval.cache import cache_key, normalise_text
from ragplatform.retrieval.citations import CitationFilter
from ragplatform.retrieval.filters import MetadataFilter
from ragplatform.retrieval.packing import pack_context
from ragplatform.retrieval.prompt import NO_ANSWER
from ragplatform.retrieval.runtime import Retrieval
from ragplatform.retrieval.schemas import AskRequest, AskResponse, Citation, Usage
from ragplatform.retrieval.scope import current_hits, readable_collections
from ragplatform.retrieval.search import OVERFETCH, origin, retrieve
from ragplatform.tenancy.principal import Principal

QUOTE_CHARS = 300


@dataclass(frozen=True)
class AnswerStart:
    """The first event: what the answer may cite, and which model answers."""

    citations: list[Citation]
    mode: Literal["extractive", "generative"]
    model: str


@dataclass(frozen=True)
class AnswerText:
    """A piece of the answer text."""

    text: str


@dataclass(frozen=True)
class AnswerDone:
    """The last event: token usage, and whether the answer came from the cache."""

    usage: Usage
    cached: bool = False


AnswerEvent = AnswerStart | AnswerText | AnswerDone


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1].rsplit(" ", 1)[0] + "…"


def _citation(n: int, hit: VectorHit) -> Citation:
    quote = _quote(str(hit.payload.get("text", "")))
    return Citation(n=n, chunk_id=hit.id, quote=quote, **origin(hit.payload))


def _usage(prompt_tokens: int, completion_tokens: int) -> Usage:
    return Usage(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        total_tokens=prompt_tokens + completion_tokens,
    )


@dataclass
class PreparedAnswer:
    """Everything decided before generation; :meth:`events` streams the answer."""

    start: AnswerStart
    prompt: ChatPrompt | None
    runtime: Retrieval
    key: str | None = None
    cached: AskResponse | None = None

    async def _generate(self, prompt: ChatPrompt) -> AsyncIterator[AnswerText | ChatUsage]:
        chat = self.runtime.chat
        citations = CitationFilter({p.n for p in prompt.passages})
        stream = chat.stream(prompt)
        parts: list[str] = []
        usage: ChatUsage | None = None
        try:
            async for delta in stream:
                if delta.usage is not None:
                    usage = delta.usage
                text = citations.feed(delta.text) if delta.text else ""
                if text:
                    parts.append(text)
                    yield AnswerText(text)
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()
        tail = citations.flush()
        if tail:
            parts.append(tail)
            yield AnswerText(tail)
        if not "".join(parts).strip():
            yield AnswerText(NO_ANSWER)
        if usage is None:
            read = sum(chat.count_tokens(m.content) for m in prompt.messages)
            usage = ChatUsage(read, chat.count_tokens("".join(parts)))
        yield usage

    async def events(self) -> AsyncIterator[AnswerEvent]:
        """``AnswerStart``, then ``AnswerText`` pieces, then ``AnswerDone``; cached on success."""
        runtime = self.runtime
        if self.cached is not None:
            yield AnswerStart(self.cached.citations, self.cached.mode, self.cached.model)
            yield AnswerText(self.cached.answer)
            yield AnswerDone(self.cached.usage, cached=True)
            return
        yield self.start
        if self.prompt is None:
            yield AnswerText(NO_ANSWER)
            yield AnswerDone(_usage(0, 0))
            return
        started = time.perf_counter()
        parts: list[str] = []
        usage = ChatUsage(0, 0)
        async for item in self._generate(self.prompt):
            if isinstance(item, AnswerText):
                parts.append(item.text)
                yield item
            else:
                usage = item
        runtime.observe("generate", time.perf_counter() - started)
        if runtime.metrics is not None:
            runtime.metrics.count_tokens(
                prompt=usage.prompt_tokens, completion=usage.completion_tokens
            )
        done = AnswerDone(_usage(usage.prompt_tokens, usage.completion_tokens))
        if self.key is not None:
            answer = AskResponse(
                answer="".join(parts),
                citations=self.start.citations,
                mode=self.start.mode,
                model=self.start.model,
                usage=done.usage,
            )
            await runtime.results.set(self.key, answer)
        yield done


async def _relevant(
    session: AsyncSession,
    *,
    tenant_id: str,
    collection_ids: list[str],
    question: str,
    dense: list[float],
    metadata_filter: MetadataFilter | None,
    runtime: Retrieval,
) -> bool:
    """Whether the closest current chunk is similar enough to the question to answer from."""
    closest = await runtime.vectors.search(
        tenant_id=tenant_id,
        collection_ids=collection_ids,
        query_text=question,
        query_dense=dense,
        mode="dense",
        limit=OVERFETCH,
        filter=metadata_filter,
    )
    best = await current_hits(session, closest)  # not a chunk of a replaced version
    return bool(best) and best[0].score >= runtime.answer.min_relevance


async def prepare_answer(
    session: AsyncSession,
    *,
    principal: Principal,
    question: str,
    collection_ids: Sequence[uuid.UUID] | None,
    top_k: int | None,
    filter: dict[str, Any] | None,
    metadata_filter: MetadataFilter | None,
    runtime: Retrieval,
    history: Sequence[ChatMessage] = (),
    max_tokens: int | None = None,
    temperature: float | None = None,
) -> PreparedAnswer:
    """Resolve collections, check the cache, retrieve and pack the context (all DB work)."""
    question = question.strip()
    if not question:
        raise InvalidInput("the question is empty", code="empty_question")
    collections = await readable_collections(session, principal=principal, wanted=collection_ids)
    await session.commit()  # nothing held while embedding, retrieving or generating
    chat = runtime.chat
    start = AnswerStart([], chat.mode, chat.name)
    if not collections:
        return PreparedAnswer(start, None, runtime)
    tenant_id = str(principal.tenant_id)
    k = top_k or runtime.answer.top_k
    budget = min(max_tokens or runtime.llm.max_answer_tokens, runtime.llm.max_answer_tokens)
    heat = runtime.llm.temperature if temperature is None else temperature
    key = cache_key(
        "ask",
        tenant_id=tenant_id,
        collections=collections,
        request={
            "question": normalise_text(question),
            "top_k": k,
            "filter": filter,
            "history": [(m.role, normalise_text(m.content)) for m in history],
            "model": chat.name,
            "max_tokens": budget,
            "temperature": heat,
            "template": runtime.template.version,
        },
        config=runtime.fingerprint,
    )
    cached = await runtime.results.get("ask", key, AskResponse)
    if cached is not None:
        return PreparedAnswer(start, None, runtime, key, cached)
    dense = await runtime.queries.embed(question, tenant_id=tenant_id)
    ids = [c.id for c in collections]
    relevant = await _relevant(
        session,
        tenant_id=tenant_id,
        collection_ids=ids,
        question=question,
        dense=dense,
        metadata_filter=metadata_filter,
        runtime=runtime,
    )
    hits: list[VectorHit] = []
    if relevant:
        hits = await retrieve(
            session,
            tenant_id=tenant_id,
            collections=collections,
            query=question,
            mode="hybrid",
            top_k=k,
            metadata_filter=metadata_filter,
            runtime=runtime,
            dense=dense,
        )
    packed = await asyncio.to_thread(
        pack_context,
        hits,
        question=question,
        history=history,
        chat=chat,
        template=runtime.template,
        max_answer_tokens=budget,
    )
    await session.commit()  # the version check above began a new transaction
    if not packed.passages:
        return PreparedAnswer(start, None, runtime, key)
    citations = [_citation(p.n, hit) for p, hit in zip(packed.passages, packed.hits, strict=True)]
    prompt = ChatPrompt(
        question=question,
        passages=packed.passages,
        messages=runtime.template.render(
            question=question, passages=packed.passages, history=packed.history
        ),
        max_tokens=budget,
        temperature=heat,
    )
    return PreparedAnswer(AnswerStart(citations, chat.mode, chat.name), prompt, runtime, key)


async def collect(prepared: PreparedAnswer) -> AskResponse:
    """The whole answer of a prepared request (no streaming)."""
    parts: list[str] = []
    start = prepared.start
    usage = _usage(0, 0)
    cached = False
    async for event in prepared.events():
        if isinstance(event, AnswerStart):
            start = event
        elif isinstance(event, AnswerText):
            parts.append(event.text)
        else:
            usage, cached = event.usage, event.cached
    return AskResponse(
        answer="".join(parts),
        citations=start.citations,
        mode=start.mode,
        model=start.model,
        usage=usage,
        cached=cached,
    )


async def prepare_ask(
    session: AsyncSession, *, principal: Principal, request: AskRequest, runtime: Retrieval
) -> PreparedAnswer:
    """:func:`prepare_answer` for an ``/ask`` request."""
    return await prepare_answer(
        session,
        principal=principal,
        question=request.question,
        collection_ids=request.collection_ids,
        top_k=request.top_k,
        filter=request.filter,
        metadata_filter=request.metadata_filter(),
        runtime=runtime,
    )
