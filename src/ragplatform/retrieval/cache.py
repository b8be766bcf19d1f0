"""Search and answer results cached by tenant, collections at their versions and the request.

A key hashes everything that decides the result: the tenant, each collection with its version
(bumped by every document change, so an upload or deletion makes older entries unreachable),
and the normalised request. Entries are JSON; a broken entry counts as a miss.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ragplatform.observability.metrics import Metrics
from ragplatform.ports import Cache
from ragplatform.retrieval.scope import CollectionRef

M = TypeVar("M", bound=BaseModel)
KEY_VERSION = "v1"


def normalise_text(text: str) -> str:
    """Whitespace collapsed: ``"  a   b "`` and ``"a b"`` are the same request."""
    return " ".join(text.split())


def cache_key(
    kind: str,
    *,
    tenant_id: str,
    collections: Sequence[CollectionRef],
    request: Mapping[str, Any],
    config: str = "",
) -> str:
    """``<kind>:<tenant>:<sha256>`` over the collections' versions, the request and ``config``.

    ``config`` fingerprints the settings that shape results (fusion, models, answer settings,
    the re-ranker),
    so entries kept in Redis across a restart never answer for another configuration.
    """
    material = {
        "collections": sorted((c.id, c.version) for c in collections),
        "request": request,
        "config": config,
    }
    digest = hashlib.sha256(
        json.dumps(material, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()
    return f"{KEY_VERSION}:{kind}:{tenant_id}:{digest}"


class ResultCache:
    """Typed get/set of response models over a :class:`Cache`, with hit/miss metrics."""

    def __init__(
        self, cache: Cache, *, ttl_s: int, enabled: bool = True, metrics: Metrics | None = None
    ) -> None:
        self._cache = cache
        self.ttl_s = ttl_s
        self.enabled = enabled
        self._metrics = metrics

    async def get(self, kind: str, key: str, model: type[M]) -> M | None:
        """The cached response under ``key``, or None (counted as a miss)."""
        if not self.enabled:
            return None
        raw = await self._cache.get(key)
        result = None
        if raw is not None:
            try:
                result = model.model_validate_json(raw)
            except ValidationError:
                result = None
        if self._metrics is not None:
            self._metrics.count_cache(kind, hit=result is not None)
        return result

    async def set(self, key: str, value: BaseModel) -> None:
        """Store ``value`` under ``key`` for the configured time to live."""
        if self.enabled:
            await self._cache.set(key, value.model_dump_json().encode(), ttl_s=self.ttl_s)
