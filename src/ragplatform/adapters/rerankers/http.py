"""Scores from a remote ``POST {base_url}/rerank``: TEI, or Cohere-style (Jina, vLLM, Infinity).

Requests (``RAG_RERANK__PROTOCOL``):

- ``tei``: ``{"query", "texts", "truncate": true}`` (Hugging Face text-embeddings-inference);
- ``cohere``: ``{"model", "query", "documents", "top_n"}`` (Cohere, Jina, vLLM, Infinity).

Either response shape is understood: TEI's ``[{"index", "score"}]`` and the
``{"results": [{"index", "relevance_score"}]}`` of the others. Scores come back in input order.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import httpx

from ragplatform.adapters.http_retry import (
    CONFIG_STATUSES,
    RetryPolicy,
    one_line,
    post_with_retries,
    upstream_message,
)
from ragplatform.answer_settings import RerankSettings
from ragplatform.errors import StartupError, Unavailable

PING_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 10.0
DEFAULT_RETRY_AFTER_S = 5
# Retried: the same request may succeed a moment later.
RETRY_STATUSES = frozenset({408, 425, 429})


def parse_scores(body: Any, count: int) -> list[float]:
    """Scores in input order from a TEI list or a ``{"results": [...]}`` object.

    Raises ``ValueError`` unless every input index appears exactly once with a finite score.
    """
    items = body.get("results") if isinstance(body, dict) else body
    if not isinstance(items, list):
        raise ValueError("neither a list nor an object with 'results'")
    scores: list[float | None] = [None] * count
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("a result is not an object")
        index = item.get("index")
        value = item.get("relevance_score", item.get("score"))
        if type(index) is not int or not 0 <= index < count or scores[index] is not None:
            raise ValueError(f"bad or repeated index {index!r}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"score {value!r} is not a number")
        if not math.isfinite(value):
            raise ValueError("score is not finite")
        scores[index] = float(value)
    if any(score is None for score in scores):
        raise ValueError("some inputs have no score")
    return [score for score in scores if score is not None]


class HttpReranker:
    """A client of ``POST {base_url}/rerank`` with batching, retries, timeouts and a cap.

    Connection errors, timeouts, 408/425/429 and 5xx are retried with backoff and full jitter
    (``Retry-After`` honoured); every failure reaches the caller as :class:`Unavailable` (503).
    Counter for metrics: ``retries``.
    """

    def __init__(
        self,
        *,
        settings: RerankSettings,
        retry: RetryPolicy | None = None,
        ping_timeout_s: float = PING_TIMEOUT_S,
    ) -> None:
        if not settings.base_url:
            raise StartupError("RAG_RERANK__BASE_URL: required when RAG_RERANK__PROVIDER=http")
        self._settings = settings
        self._url = settings.base_url.rstrip("/") + "/rerank"
        url = httpx.URL(self._url)
        self.host = f"{url.host}:{url.port}" if url.port else url.host
        self._secret = settings.api_key.get_secret_value() if settings.api_key else None
        headers = {"Authorization": f"Bearer {self._secret}"} if self._secret else {}
        timeout = httpx.Timeout(
            settings.timeout_s, connect=min(CONNECT_TIMEOUT_S, settings.timeout_s)
        )
        self._client = httpx.AsyncClient(timeout=timeout, headers=headers)
        self._retry = retry or RetryPolicy()
        self._ping_timeout_s = min(ping_timeout_s, settings.timeout_s)
        self._limit = asyncio.Semaphore(settings.max_concurrency)
        self._closed = False
        self.name = settings.model or f"rerank@{self.host}"
        self.retries = 0

    def _body(self, query: str, texts: list[str]) -> dict[str, Any]:
        if self._settings.protocol == "tei":
            return {"query": query, "texts": texts, "truncate": True}
        body: dict[str, Any] = {"query": query, "documents": texts, "top_n": len(texts)}
        if self._settings.model:
            body["model"] = self._settings.model
        return body

    def _unavailable(self, reason: str, retry_after: float | None = None) -> Unavailable:
        return Unavailable(
            f"the re-ranker at {self.host} is unavailable ({one_line(reason, self._secret)})",
            retry_after=math.ceil(retry_after) if retry_after else DEFAULT_RETRY_AFTER_S,
            code="rerank_unavailable",
        )

    def _rejected(self, response: httpx.Response) -> Unavailable:
        message = upstream_message(response, self._secret)
        status = response.status_code
        if status in CONFIG_STATUSES:
            return Unavailable(
                f"the re-ranker at {self.host} refused the request (HTTP {status}: {message}); "
                "check RAG_RERANK__BASE_URL, RAG_RERANK__MODEL and RAG_RERANK__API_KEY",
                code="rerank_misconfigured",
            )
        return Unavailable(
            f"the re-ranker at {self.host} rejected the request (HTTP {status}: {message}); "
            "check RAG_RERANK__PROTOCOL and RAG_RERANK__BATCH_SIZE",
            code="rerank_rejected",
        )

    async def _request(
        self, query: str, texts: list[str], *, retries: int, timeout_s: float | None = None
    ) -> list[float]:
        """POST one batch; retry transport errors, 408/425/429 and 5xx with backoff."""
        if self._closed:
            raise Unavailable("the re-ranker client is closed", code="reranker_closed")
        response = await post_with_retries(
            self._client,
            self._url,
            self._body(query, texts),
            retries=retries,
            policy=self._retry,
            retry_statuses=RETRY_STATUSES,
            rejected=self._rejected,
            unavailable=self._unavailable,
            timeout_s=timeout_s,
            on_retry=self._count_retry,
        )
        try:
            return parse_scores(response.json(), len(texts))
        except ValueError as exc:
            raise Unavailable(
                f"the re-ranker at {self.host} returned an unexpected response "
                f"({one_line(str(exc))})",
                code="rerank_bad_response",
            ) from None

    def _count_retry(self) -> None:
        self.retries += 1

    async def _batch(self, query: str, texts: list[str]) -> list[float]:
        async with self._limit:  # held across backoffs: a failing upstream is not flooded
            return await self._request(query, texts, retries=self._settings.max_retries)

    async def rerank(self, query: str, texts: Sequence[str]) -> list[float]:
        """One score per text, in order; batches of ``batch_size`` are posted concurrently."""
        if self._closed:
            raise Unavailable("the re-ranker client is closed", code="reranker_closed")
        size = self._settings.batch_size
        batches = [list(texts[i : i + size]) for i in range(0, len(texts), size)]
        tasks = [asyncio.ensure_future(self._batch(query, batch)) for batch in batches]
        try:
            results = await asyncio.gather(*tasks)
        except BaseException:  # one failed batch fails the query: stop posting the others
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)  # reaped, none left pending
            raise
        return [score for batch in results for score in batch]

    async def ping(self) -> None:
        """Score one tiny pair once, with a short timeout and no retries."""
        await self._request("ping", ["ping"], retries=0, timeout_s=self._ping_timeout_s)

    async def close(self) -> None:
        """Close the HTTP client; later calls raise :class:`Unavailable`."""
        self._closed = True
        await self._client.aclose()
