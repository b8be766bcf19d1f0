"""A cache in Redis, shared by every API replica; entries expire with Redis' own TTLs."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ragplatform.errors import Unavailable
from ragplatform.observability.logging import get_logger

_log = get_logger("ragplatform.cache")


class RedisCache:
    """Bytes by key under ``prefix``; a Redis outage degrades to cache misses, never errors."""

    def __init__(self, client: Redis, *, prefix: str = "rag:cache:") -> None:
        self._client = client
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str, *, timeout_s: float = 1.0) -> RedisCache:
        """A client of ``url`` (connects lazily) with short socket timeouts."""
        client = Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        return cls(client)

    async def get(self, key: str) -> bytes | None:
        """The value under ``key``; None when absent, expired or Redis is unreachable."""
        try:
            value = await self._client.get(self._prefix + key)
        except (RedisError, OSError) as exc:
            _log.warning("cache_unavailable", op="get", error=type(exc).__name__)
            return None
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, *, ttl_s: int) -> None:
        """Store ``value`` for ``ttl_s`` seconds (skipped, with a warning, when Redis is down)."""
        try:
            await self._client.set(self._prefix + key, value, ex=ttl_s)
        except (RedisError, OSError) as exc:
            _log.warning("cache_unavailable", op="set", error=type(exc).__name__)

    async def ping(self) -> None:
        """Raise Unavailable when Redis does not answer."""
        try:
            await self._client.ping()
        except (RedisError, OSError) as exc:
            raise Unavailable("the cache is unavailable", code="cache_unavailable") from exc

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()
