"""OpenAI's models, chat completions and embeddings translated onto the platform's read path.

Model ids: ``rag`` answers from every collection the caller can read, ``rag/<collection name>``
from one collection of the caller's tenant, and the embedder's model name embeds. The last user
message is the question and earlier user/assistant turns are the conversation; system,
developer and tool messages are ignored, since the platform's versioned prompt sets the
grounding, citation and "I don't know" rules (and ignoring them keeps the answer cache shared).
"""

from __future__ import annotations

import asyncio
import base64
import struct
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ragplatform.documents.models import Collection
from ragplatform.openai_compat.errors import InvalidParam, ModelNotFound
from ragplatform.openai_compat.schemas import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    ChunkDelta,
    CompletionUsage,
    Embedding,
    EmbeddingList,
    EmbeddingRequest,
    EmbeddingUsage,
    Message,
    Model,
    ModelList,
)
from ragplatform.ports import ChatMessage, Embedder
from ragplatform.retrieval.answer import (
    AnswerEvent,
    AnswerStart,
    AnswerText,
    collect,
    prepare_answer,
)
from ragplatform.retrieval.runtime import Retrieval
from ragplatform.retrieval.schemas import MAX_QUESTION_CHARS, AskResponse, Citation, Usage
from ragplatform.tenancy.models import Tenant
from ragplatform.tenancy.principal import Principal
from ragplatform.tenancy.roles import Role

RAG_MODEL = "rag"
COLLECTION_MODEL_PREFIX = "rag/"
PLATFORM_OWNER = "ragplatform"
PRIMED_CHUNKS = 2
T = TypeVar("T")


@dataclass(frozen=True)
class _Readable:
    id: uuid.UUID
    name: str
    created: int


async def _readable(session: AsyncSession, principal: Principal) -> list[_Readable]:
    """The caller's readable collections with their creation times, by name."""
    tenant_id = principal.require_role(Role.VIEWER)
    rows = await session.execute(
        select(Collection.id, Collection.name, Collection.created_at)
        .where(Collection.tenant_id == tenant_id)
        .order_by(Collection.name)
    )
    return [
        _Readable(row.id, row.name, int(row.created_at.timestamp()))
        for row in rows.all()
        if principal.can_read_collection(str(row.id))
    ]


async def list_models(
    session: AsyncSession, *, principal: Principal, embedder: Embedder
) -> ModelList:
    """``rag``, one ``rag/<name>`` per readable collection, and the embedding model."""
    collections = await _readable(session, principal)
    tenant_created = await session.scalar(
        select(Tenant.created_at).where(Tenant.id == principal.require_tenant())
    )
    created = int(tenant_created.timestamp()) if tenant_created is not None else 0
    owner = principal.tenant_slug or PLATFORM_OWNER
    return ModelList(
        data=[
            Model(id=RAG_MODEL, created=created, owned_by=owner),
            *(
                Model(id=COLLECTION_MODEL_PREFIX + c.name, created=c.created, owned_by=owner)
                for c in collections
            ),
            Model(id=embedder.model_name, created=created, owned_by=PLATFORM_OWNER),
        ]
    )


async def get_model(
    session: AsyncSession, *, principal: Principal, embedder: Embedder, model: str
) -> Model:
    """One model the caller may use; unknown and foreign ones are ``model_not_found``."""
    models = await list_models(session, principal=principal, embedder=embedder)
    for candidate in models.data:
        if candidate.id == model:
            return candidate
    raise ModelNotFound(model)


async def _collection_ids(
    session: AsyncSession, *, principal: Principal, model: str
) -> list[uuid.UUID] | None:
    """The collections a chat model id answers from (None: every readable one)."""
    if model == RAG_MODEL:
        principal.require_role(Role.VIEWER)
        return None
    if model.startswith(COLLECTION_MODEL_PREFIX):
        name = model.removeprefix(COLLECTION_MODEL_PREFIX)
        for collection in await _readable(session, principal):
            if collection.name == name:
                return [collection.id]
    raise ModelNotFound(model)


def conversation(messages: Sequence[Message]) -> tuple[str, list[ChatMessage]]:
    """The question (the last user message) and the earlier user and assistant turns."""
    last = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
    if last is None:
        raise InvalidParam("messages must contain a user message", param="messages")
    question = messages[last].text().strip()
    where = f"messages[{last}].content"
    if not question:
        raise InvalidParam("the last user message has no text content", param=where)
    if len(question) > MAX_QUESTION_CHARS:
        raise InvalidParam(
            f"the last user message is limited to {MAX_QUESTION_CHARS} characters",
            param=where,
            code="question_too_long",
        )
    history: list[ChatMessage] = []
    for message in messages[:last]:
        text = message.text().strip()
        if text and message.role in ("user", "assistant"):
            history.append(ChatMessage("user" if message.role == "user" else "assistant", text))
    return question, history


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def _usage(usage: Usage) -> CompletionUsage:
    return CompletionUsage.model_validate(usage.model_dump())


def _completion(answer: AskResponse, *, model: str) -> ChatCompletion:
    return ChatCompletion(
        id=_completion_id(),
        created=int(time.time()),
        model=model,
        choices=[Choice(message=AssistantMessage(content=answer.answer))],
        usage=_usage(answer.usage),
        citations=answer.citations,
    )


async def _chunks(
    events: AsyncIterator[AnswerEvent], *, model: str, include_usage: bool
) -> AsyncGenerator[ChatCompletionChunk, None]:
    """The answer's events as ``chat.completion.chunk`` objects."""
    completion_id, created = _completion_id(), int(time.time())

    def chunk(
        delta: ChunkDelta,
        *,
        finish: Literal["stop"] | None = None,
        citations: list[Citation] | None = None,
    ) -> ChatCompletionChunk:
        return ChatCompletionChunk(
            id=completion_id,
            created=created,
            model=model,
            choices=[ChunkChoice(delta=delta, finish_reason=finish)],
            citations=citations,
        )

    try:
        async for event in events:
            if isinstance(event, AnswerStart):
                yield chunk(ChunkDelta(role="assistant", content=""), citations=event.citations)
            elif isinstance(event, AnswerText):
                yield chunk(ChunkDelta(content=event.text))
            else:
                yield chunk(ChunkDelta(), finish="stop")
                if include_usage:
                    yield ChatCompletionChunk(
                        id=completion_id,
                        created=created,
                        model=model,
                        choices=[],
                        usage=_usage(event.usage),
                    )
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()


async def _primed(items: AsyncGenerator[T, None]) -> AsyncIterator[T]:
    """``items`` after pulling its first few, so early failures still become HTTP errors."""
    head: list[T] = []
    async for item in items:
        head.append(item)
        if len(head) == PRIMED_CHUNKS:
            break

    async def replay() -> AsyncIterator[T]:
        try:
            for item in head:
                yield item
            async for item in items:
                yield item
        finally:
            await items.aclose()

    return replay()


async def chat_completion(
    session: AsyncSession,
    *,
    principal: Principal,
    request: ChatCompletionRequest,
    runtime: Retrieval,
) -> ChatCompletion | AsyncIterator[ChatCompletionChunk]:
    """A cited answer as a ``chat.completion``, or (``stream``) its started chunk stream."""
    collection_ids = await _collection_ids(session, principal=principal, model=request.model)
    question, history = conversation(request.messages)
    prepared = await prepare_answer(
        session,
        principal=principal,
        question=question,
        collection_ids=collection_ids,
        top_k=request.top_k,
        filter=request.filter,
        metadata_filter=request.metadata_filter(),
        runtime=runtime,
        history=history,
        max_tokens=request.answer_cap(),
        temperature=request.temperature,
    )
    if not request.stream:
        return _completion(await collect(prepared), model=request.model)
    chunks = _chunks(prepared.events(), model=request.model, include_usage=request.include_usage())
    return await _primed(chunks)


def _encode(vector: Sequence[float], encoding_format: str) -> list[float] | str:
    if encoding_format == "float":
        return list(vector)
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


async def create_embeddings(*, request: EmbeddingRequest, embedder: Embedder) -> EmbeddingList:
    """Unit-length vectors of the inputs from the platform's embedding model."""
    if request.model != embedder.model_name:
        raise ModelNotFound(request.model)
    if request.dimensions is not None and request.dimensions != embedder.dimension:
        raise InvalidParam(
            f"{embedder.model_name} only returns {embedder.dimension} dimensions",
            param="dimensions",
            code="unsupported_dimensions",
        )
    texts = request.texts()
    tokens = await asyncio.to_thread(lambda: [embedder.count_tokens(text) for text in texts])
    for i, count in enumerate(tokens):
        if count > embedder.max_tokens:
            raise InvalidParam(
                f"input[{i}] has {count} tokens; {embedder.model_name} reads at most "
                f"{embedder.max_tokens} per input: split it",
                param="input",
                code="context_length_exceeded",
            )
    vectors = await embedder.embed_documents(texts, cached=False)
    return EmbeddingList(
        data=[
            Embedding(index=i, embedding=_encode(v, request.encoding_format))
            for i, v in enumerate(vectors)
        ],
        model=embedder.model_name,
        usage=EmbeddingUsage(prompt_tokens=sum(tokens), total_tokens=sum(tokens)),
    )
