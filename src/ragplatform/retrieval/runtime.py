"""What the read path needs, built once by the app's lifespan and handed to every request."""

from __future__ import annotations

import hashlib
import time
from array import array
from dataclasses import dataclass

from ragplatform.answer_settings import AnswerSettings, LlmSettings
from ragplatform.observability.metrics import Metrics
from ragplatform.ports import Cache, ChatModel, Embedder, VectorStore
from ragplatform.retrieval.cache import ResultCache, normalise_text
from ragplatform.retrieval.prompt import PromptTemplate
from ragplatform.retrieval.rerank import Reranking


class QueryEmbeddings:
    """Query vectors through the shared cache (Redis when configured), then the embedder."""

    def __init__(
        self,
        embedder: Embedder,
        cache: Cache,
        *,
        ttl_s: int,
        enabled: bool = True,
        metrics: Metrics | None = None,
    ) -> None:
        self._embedder = embedder
        self._cache = cache
        self._ttl_s = ttl_s
        self._enabled = enabled
        self._metrics = metrics

    def _key(self, tenant_id: str, text: str) -> str:
        digest = hashlib.sha256(f"{self._embedder.model_name}\x1f{text}".encode()).hexdigest()
        return f"v1:qemb:{tenant_id}:{digest}"

    async def embed(self, text: str, *, tenant_id: str) -> list[float]:
        """The normalised query vector of ``text``, cached per tenant (stage ``embed_query``)."""
        text = normalise_text(text)
        started = time.perf_counter()
        key = self._key(tenant_id, text)
        raw = await self._cache.get(key) if self._enabled else None
        vector = None
        if raw is not None and len(raw) == 4 * self._embedder.dimension:
            vector = array("f", raw).tolist()
        if self._enabled and self._metrics is not None:
            self._metrics.count_cache("query_embedding", hit=vector is not None)
        if vector is None:
            vector = await self._embedder.embed_query(text)
            if self._enabled:
                await self._cache.set(key, array("f", vector).tobytes(), ttl_s=self._ttl_s)
        if self._metrics is not None:
            self._metrics.observe_stage("embed_query", time.perf_counter() - started)
        return vector


@dataclass(frozen=True)
class Retrieval:
    """The read path's collaborators: store, embeddings, chat model, caches and settings.

    ``reranking`` (None = off) re-scores the retrieved candidates; ``fingerprint`` must then
    include its configuration (``retrieval.rerank.rerank_fingerprint``).
    """

    embedder: Embedder
    vectors: VectorStore
    chat: ChatModel
    queries: QueryEmbeddings
    results: ResultCache
    template: PromptTemplate
    answer: AnswerSettings
    llm: LlmSettings
    metrics: Metrics | None = None
    fingerprint: str = ""
    reranking: Reranking | None = None

    def observe(self, stage: str, seconds: float) -> None:
        """Time a read stage (embed_query, retrieve, rerank, generate, ...)."""
        if self.metrics is not None:
            self.metrics.observe_stage(stage, seconds)
