"""Small async ports the domain depends on; adapters implement them per vendor."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from ragplatform.retrieval.filters import MetadataFilter


@dataclass(frozen=True)
class RateDecision:
    """The outcome of counting one hit against a rate."""

    allowed: bool
    retry_after_s: int
    remaining: int


class RateLimiter(Protocol):
    """Counts hits per key against a rate such as ``"600/minute"``."""

    async def hit(self, rate: str, *key: str) -> RateDecision:
        """Count one hit; ``allowed`` is False once the rate is exceeded."""
        ...

    async def peek(self, rate: str, *key: str) -> RateDecision:
        """Whether one more hit would be allowed, without counting it."""
        ...

    async def reset(self, rate: str, *key: str) -> None:
        """Forget the hits of ``key`` (e.g. after a successful login)."""
        ...

    async def ping(self) -> None:
        """Raise when the backing store is unreachable."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class JobQueue(Protocol):
    """Where new jobs are announced to workers (in-process runner, later Redis)."""

    def notify(self) -> None:
        """Wake a worker: a job was committed."""
        ...


class Embedder(Protocol):
    """Turns text into dense vectors; counts tokens the way the model does (for chunking)."""

    model_name: str
    dimension: int
    max_tokens: int

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` occupies for this model (no special tokens)."""
        ...

    async def embed_documents(
        self, texts: Sequence[str], *, cached: bool = True
    ) -> list[list[float]]:
        """One normalised vector per text, in order; off the event loop, batched.

        ``cached=False`` bypasses the process-wide cache (texts a caller sent, which must not
        reveal by timing what other tenants embedded).
        """
        ...

    async def embed_query(self, text: str) -> list[float]:
        """The vector of a search query."""
        ...

    async def ping(self) -> None:
        """Raise when the model or the upstream cannot embed."""
        ...

    async def close(self) -> None:
        """Release the model or connections."""
        ...


CONTEXT_KEY = "context"


@dataclass(frozen=True)
class ChunkRecord:
    """One chunk as stored in a vector store (ARCHITECTURE §4 payload layout)."""

    id: uuid.UUID
    tenant_id: str
    collection_id: str
    document_id: str
    document_version: int
    chunk_index: int
    text: str
    dense: Sequence[float]
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def indexed_text(self) -> str:
        """What the embedder and the keyword index read: the context header, then the text.

        The header (``payload["context"]``: the document title and the section's headings) gives
        every chunk of a document what its first chunk alone would otherwise carry.
        """
        context = self.payload.get(CONTEXT_KEY)
        return f"{context}\n\n{self.text}" if context else self.text


@dataclass(frozen=True)
class VectorHit:
    """A stored chunk returned by a read: its id, score (0 for plain reads) and payload."""

    id: uuid.UUID
    score: float
    payload: dict[str, Any]


SearchMode = Literal["hybrid", "dense", "keyword"]


class VectorStore(Protocol):
    """Chunks with dense + BM25 vectors. Every call is scoped by an explicit ``tenant_id``."""

    async def upsert(self, *, tenant_id: str, chunks: Sequence[ChunkRecord]) -> None:
        """Insert or replace chunks by id (idempotent)."""
        ...

    async def delete_document(
        self, *, tenant_id: str, document_id: str, except_version: int | None = None
    ) -> None:
        """Delete a document's chunks (all, or all but those of ``except_version``)."""
        ...

    async def delete_collection(self, *, tenant_id: str, collection_id: str) -> None:
        """Delete every chunk of a collection."""
        ...

    async def delete_tenant(self, *, tenant_id: str) -> None:
        """Delete every chunk of a tenant."""
        ...

    async def set_document_metadata(
        self, *, tenant_id: str, document_id: str, metadata: dict[str, Any]
    ) -> None:
        """Replace the ``metadata`` payload of a document's chunks."""
        ...

    async def count(
        self, *, tenant_id: str, collection_id: str | None = None, document_id: str | None = None
    ) -> int:
        """Chunks of the tenant, optionally of one collection or document."""
        ...

    async def list_chunks(
        self, *, tenant_id: str, document_id: str, version: int, offset: int, limit: int
    ) -> list[VectorHit]:
        """A document version's chunks ordered by ``chunk_index``, from ``offset``."""
        ...

    async def search(
        self,
        *,
        tenant_id: str,
        collection_ids: Sequence[str],
        query_text: str,
        query_dense: Sequence[float] | None,
        mode: SearchMode,
        limit: int,
        filter: MetadataFilter | None = None,
    ) -> list[VectorHit]:
        """Best chunks of the given collections matching ``filter`` on document metadata.

        Hybrid fuses dense and BM25 in the engine.
        """
        ...

    def export_chunks(
        self, *, tenant_id: str, batch_size: int = 256
    ) -> AsyncIterator[list[ChunkRecord]]:
        """Every stored chunk of the tenant, in batches, as upserted: dense vector and payload.

        For backups and moving a tenant between deployments without re-embedding; feeding
        the records back to ``upsert`` (of any adapter) restores the same points.
        """
        ...

    async def ping(self) -> None:
        """Raise when the store cannot serve."""
        ...

    async def close(self) -> None:
        """Flush and release."""
        ...


class Reranker(Protocol):
    """Re-scores retrieved passages against the query (a cross-encoder, local or remote)."""

    name: str

    async def rerank(self, query: str, texts: Sequence[str]) -> list[float]:
        """One relevance score per text, in order (higher = more relevant); off the loop."""
        ...

    async def ping(self) -> None:
        """Raise when the model or the upstream cannot score."""
        ...

    async def close(self) -> None:
        """Release the model or connections."""
        ...


ChatRole = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    """One turn of a conversation."""

    role: ChatRole
    content: str


@dataclass(frozen=True)
class Passage:
    """A numbered context chunk an answer may cite as ``[n]``."""

    n: int
    chunk_id: uuid.UUID
    text: str
    title: str | None = None
    score: float = 0.0


@dataclass(frozen=True)
class ChatPrompt:
    """What a chat model answers: the question, its numbered passages and the rendered messages.

    ``messages`` is the full conversation to send to an LLM (system prompt with the numbered
    context, earlier turns, the question); the extractive model reads ``question`` and
    ``passages`` instead.
    """

    question: str
    passages: Sequence[Passage]
    messages: Sequence[ChatMessage]
    max_tokens: int
    temperature: float = 0.1


@dataclass(frozen=True)
class ChatUsage:
    """Tokens read and generated by one answer."""

    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class ChatDelta:
    """A piece of generated text; the last delta of a stream carries ``usage``."""

    text: str = ""
    usage: ChatUsage | None = None


class ChatModel(Protocol):
    """Generates an answer from a prompt, as a stream of text deltas."""

    name: str
    mode: Literal["extractive", "generative"]
    context_tokens: int

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` occupies for this model (an upper-bound estimate is fine)."""
        ...

    def stream(self, prompt: ChatPrompt) -> AsyncIterator[ChatDelta]:
        """Text deltas, the last one with usage; closing the iterator stops generation."""
        ...

    async def ping(self) -> None:
        """Raise when the model cannot answer."""
        ...

    async def close(self) -> None:
        """Release the model or connections."""
        ...


class Cache(Protocol):
    """Bytes by key with a time to live (in memory, or Redis shared by replicas)."""

    async def get(self, key: str) -> bytes | None:
        """The value under ``key``, or None when absent or expired."""
        ...

    async def set(self, key: str, value: bytes, *, ttl_s: int) -> None:
        """Store ``value`` under ``key`` for ``ttl_s`` seconds."""
        ...

    async def ping(self) -> None:
        """Raise when the backing store is unreachable."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
