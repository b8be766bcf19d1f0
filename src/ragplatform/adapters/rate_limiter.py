"""Rate limiting on the ``limits`` library: in-memory, or shared through Redis."""

from __future__ import annotations

import functools
import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from ragplatform.errors import Unavailable
from ragplatform.ports import RateDecision

KEY_PREFIX = "ragplatform"


@functools.lru_cache(maxsize=64)
def _item(rate: str) -> RateLimitItem:
    return parse(rate)


def _unavailable(exc: Exception) -> Unavailable:
    error = Unavailable("the rate-limit store is unavailable", code="rate_limiter_unavailable")
    error.__cause__ = exc
    return error


class LimitsRateLimiter:
    """A moving-window limiter; the storage decides whether limits are per process or shared."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.strategy = MovingWindowRateLimiter(storage)

    @classmethod
    def in_memory(cls) -> LimitsRateLimiter:
        """Per-process counters (single node)."""
        return cls(MemoryStorage())

    @classmethod
    def redis(cls, url: str) -> LimitsRateLimiter:
        """Counters shared by every replica through Redis."""
        return cls(
            RedisStorage(
                f"async+{url}",
                implementation="redispy",
                key_prefix=KEY_PREFIX,
                wrap_exceptions=True,
                socket_timeout=2,
                socket_connect_timeout=2,
            )
        )

    async def _decision(
        self, item: RateLimitItem, allowed: bool, key: tuple[str, ...]
    ) -> RateDecision:
        stats = await self.strategy.get_window_stats(item, *key)
        retry = 0 if allowed else max(1, math.ceil(stats.reset_time - time.time()))
        return RateDecision(allowed=allowed, retry_after_s=retry, remaining=stats.remaining)

    async def hit(self, rate: str, *key: str) -> RateDecision:
        """Count one hit."""
        item = _item(rate)
        try:
            allowed = await self.strategy.hit(item, *key)
            return await self._decision(item, allowed, key)
        except Exception as exc:
            raise _unavailable(exc) from exc

    async def peek(self, rate: str, *key: str) -> RateDecision:
        """Test without counting."""
        item = _item(rate)
        try:
            allowed = await self.strategy.test(item, *key)
            return await self._decision(item, allowed, key)
        except Exception as exc:
            raise _unavailable(exc) from exc

    async def reset(self, rate: str, *key: str) -> None:
        """Clear the counter."""
        try:
            await self.strategy.clear(_item(rate), *key)
        except Exception as exc:
            raise _unavailable(exc) from exc

    async def ping(self) -> None:
        """Raise when the store does not answer."""
        if not await self.storage.check():
            raise ConnectionError("rate-limit store did not answer")

    async def close(self) -> None:
        """Close the Redis connection pool (nothing to release in memory)."""
        if isinstance(self.storage, RedisStorage):
            client = getattr(getattr(self.storage, "bridge", None), "storage", None)
            if client is not None and hasattr(client, "aclose"):
                await client.aclose()
