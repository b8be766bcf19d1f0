"""Embeddings from any OpenAI-compatible ``/v1/embeddings`` endpoint (TEI, vLLM, Ollama, OpenAI)."""

from __future__ import annotations

import asyncio
import math
from array import array
from collections.abc import Sequence
from typing import Any

import httpx

from ragplatform.adapters.embedders.batching import Coalescer
from ragplatform.adapters.embedders.cache import EmbeddingCache
from ragplatform.adapters.http_retry import (
    CONFIG_STATUSES,
    MESSAGE_LIMIT,
    RetryPolicy,
    parse_retry_after,
    post_with_retries,
    upstream_message,
)
from ragplatform.errors import InvalidInput, StartupError, Unavailable
from ragplatform.settings import EmbeddingSettings

DEFAULT_MAX_TOKENS = 512
PING_TIMEOUT_S = 5.0
DEFAULT_RETRY_AFTER_S = 5
BYTES_PER_TOKEN = 3

__all__ = [  # the retry helpers moved to http_retry; re-exported for existing importers
    "CONFIG_STATUSES",
    "MESSAGE_LIMIT",
    "OpenAIEmbedder",
    "RetryPolicy",
    "approximate_tokens",
    "parse_retry_after",
    "upstream_message",
]


def approximate_tokens(text: str) -> int:
    """A conservative token count: one token per 3 UTF-8 bytes, rounded up.

    No remote tokenizer is available; BPE/WordPiece vocabularies average ~4 bytes a token on
    English text, so this overestimates and chunks sized by it stay within the model's limit.
    """
    return math.ceil(len(text.encode("utf-8", "surrogatepass")) / BYTES_PER_TOKEN)


def _normalised(values: Any) -> array[float]:
    """Unit-length float32 copy of a vector (some servers, e.g. Ollama, do not normalise)."""
    if not isinstance(values, list) or not values:
        raise TypeError("embedding is not a non-empty list")
    norm = math.hypot(*values)
    if not math.isfinite(norm):
        raise ValueError("embedding is not finite")
    if norm == 0:
        return array("f", values)
    return array("f", (value / norm for value in values))


class OpenAIEmbedder:
    """A client of ``POST {base_url}/embeddings`` with retries, timeouts and a concurrency cap.

    Counters for metrics: ``cache_hits``, ``cache_misses``, ``texts_embedded``,
    ``batches_embedded`` (successful requests) and ``retries``.
    """

    def __init__(
        self,
        *,
        settings: EmbeddingSettings,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        retry: RetryPolicy | None = None,
        ping_timeout_s: float = PING_TIMEOUT_S,
    ) -> None:
        if not settings.base_url:
            raise StartupError(
                "RAG_EMBEDDING__BASE_URL: required when RAG_EMBEDDING__PROVIDER=openai"
            )
        self._settings = settings
        self._url = settings.base_url.rstrip("/") + "/embeddings"
        url = httpx.URL(self._url)
        self.host = f"{url.host}:{url.port}" if url.port else url.host
        self._secret = settings.api_key.get_secret_value() if settings.api_key else None
        headers = {"Authorization": f"Bearer {self._secret}"} if self._secret else {}
        self._client = httpx.AsyncClient(timeout=settings.timeout_s, headers=headers)
        self._retry = retry or RetryPolicy()
        self._ping_timeout_s = min(ping_timeout_s, settings.timeout_s)
        self._cache = EmbeddingCache(settings.cache_size)
        self._batches: Coalescer[array[float]] = Coalescer(
            self._embed_batch, settings.batch_size, concurrency=settings.max_concurrency
        )
        self._limit = asyncio.Semaphore(settings.max_concurrency)
        self._closed = False
        self.model_name = settings.model
        self.dimension = settings.dimension or 0
        self.max_tokens = max_tokens
        self.texts_embedded = 0
        self.batches_embedded = 0
        self.retries = 0

    @classmethod
    async def load(
        cls, settings: EmbeddingSettings, *, retry: RetryPolicy | None = None
    ) -> OpenAIEmbedder:
        """Build the client; without ``settings.dimension``, probe it by embedding one string."""
        embedder = cls(settings=settings, retry=retry)
        if embedder.dimension:
            return embedder
        try:
            vectors = await embedder._request(["dimension probe"], retries=settings.max_retries)
        except (Unavailable, InvalidInput) as exc:
            await embedder.close()
            raise StartupError(
                f"RAG_EMBEDDING__DIMENSION is unset and probing it failed: {exc.detail}"
            ) from None
        embedder.dimension = len(vectors[0])
        return embedder

    @property
    def cache_hits(self) -> int:
        """Texts answered from the cache."""
        return self._cache.hits

    @property
    def cache_misses(self) -> int:
        """Distinct texts that had to be embedded."""
        return self._cache.misses

    def count_tokens(self, text: str) -> int:
        """An upper-bound estimate (see :func:`approximate_tokens`); no remote tokenizer exists."""
        return approximate_tokens(text)

    def _unavailable(self, reason: str, retry_after: float | None = None) -> Unavailable:
        return Unavailable(
            f"the embedding service at {self.host} is unavailable ({reason})",
            retry_after=math.ceil(retry_after) if retry_after else DEFAULT_RETRY_AFTER_S,
            code="embedding_unavailable",
        )

    def _rejected(self, response: httpx.Response) -> Exception:
        message = upstream_message(response, self._secret)
        status = response.status_code
        if status in CONFIG_STATUSES or not 400 <= status < 500:
            return Unavailable(
                f"the embedding service at {self.host} refused the request "
                f"(HTTP {status}: {message}); check RAG_EMBEDDING__BASE_URL, __MODEL, __API_KEY",
                code="embedding_misconfigured",
            )
        return InvalidInput(
            f"the embedding service rejected the input (HTTP {status}): {message}",
            code="embedding_rejected",
        )

    def _parse(self, response: httpx.Response, count: int) -> list[array[float]]:
        try:
            items = sorted(response.json()["data"], key=lambda item: int(item["index"]))
            if [int(item["index"]) for item in items] != list(range(count)):
                raise ValueError("indexes do not match the inputs")
            vectors = [_normalised(item["embedding"]) for item in items]
        except (ValueError, KeyError, TypeError, OverflowError):
            raise Unavailable(
                f"the embedding service at {self.host} returned an unexpected response",
                code="embedding_bad_response",
            ) from None
        for vector in vectors:
            if self.dimension and len(vector) != self.dimension:
                raise Unavailable(
                    f"the embedding service at {self.host} returned {len(vector)}-dimensional "
                    f"vectors, expected {self.dimension} (RAG_EMBEDDING__DIMENSION)",
                    code="embedding_dimension_mismatch",
                )
        return vectors

    async def _request(
        self, texts: list[str], *, retries: int, timeout_s: float | None = None
    ) -> list[array[float]]:
        """POST one batch, retrying connection errors, timeouts, 429 and 5xx with backoff."""
        if self._closed:
            raise Unavailable("the embedding client is closed", code="embedder_closed")
        body = {"model": self.model_name, "input": texts}
        response = await post_with_retries(
            self._client,
            self._url,
            body,
            retries=retries,
            policy=self._retry,
            retry_statuses=(429,),
            rejected=self._rejected,
            unavailable=self._unavailable,
            timeout_s=timeout_s,
            on_retry=self._count_retry,
        )
        return self._parse(response, len(texts))

    def _count_retry(self) -> None:
        self.retries += 1

    async def _embed_batch(self, texts: list[str]) -> list[array[float]]:
        async with self._limit:  # held across backoffs: a failing upstream is not flooded
            vectors = await self._request(texts, retries=self._settings.max_retries)
        self.texts_embedded += len(texts)
        self.batches_embedded += 1
        return vectors

    async def embed_documents(
        self, texts: Sequence[str], *, cached: bool = True
    ) -> list[list[float]]:
        """One unit-length vector per text, in order; cache misses are posted in batches."""
        return await self._cache.embed(
            texts,
            batch_size=self._settings.batch_size,
            embed_batch=self._batches.embed,
            use_cache=cached,
        )

    async def embed_query(self, text: str) -> list[float]:
        """The vector of a search query, ahead of queued batches.

        Not from the shared cache: a hit would tell one tenant what another embedded. Callers
        cache per tenant (``retrieval.runtime.QueryEmbeddings``).
        """
        vectors = await self._batches.embed([text], urgent=True)
        return vectors[0].tolist()

    async def ping(self) -> None:
        """Embed a tiny string once, with a short timeout and no retries."""
        try:
            await self._request(["ping"], retries=0, timeout_s=self._ping_timeout_s)
        except InvalidInput as exc:
            raise Unavailable(exc.detail, code="embedding_unavailable") from None

    async def close(self) -> None:
        """Close the HTTP client; later calls raise :class:`Unavailable`."""
        self._closed = True
        await self._client.aclose()
        self._cache.clear()
        await self._batches.close()
