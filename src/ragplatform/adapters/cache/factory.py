"""Builds the cache: Redis when ``RAG_REDIS__URL`` is set, otherwise in process."""

from __future__ import annotations

from ragplatform.ports import Cache
from ragplatform.settings import Settings


def build_cache(settings: Settings) -> Cache:
    """The cache for ``settings`` (connects lazily)."""
    if settings.redis.url:
        from ragplatform.adapters.cache.redis import RedisCache

        return RedisCache.from_url(settings.redis.url)
    from ragplatform.adapters.cache.memory import MemoryCache

    return MemoryCache(settings.cache.max_entries)
