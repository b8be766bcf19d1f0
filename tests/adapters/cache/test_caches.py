"""The Cache port on memory and on the real Redis: same behaviour, Redis shared by replicas."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ragplatform.adapters.cache.factory import build_cache
from ragplatform.adapters.cache.memory import MemoryCache
from ragplatform.adapters.cache.redis import RedisCache
from ragplatform.errors import Unavailable
from ragplatform.ports import Cache
from tests.support import make_settings, require_service

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    """Each cache adapter; Redis skips locally when down and fails under CI=true."""
    instance: Cache
    if request.param == "redis":
        require_service("Redis", "127.0.0.1", 6379)
        instance = RedisCache.from_url(REDIS_URL)
    else:
        instance = MemoryCache(100)
    try:
        yield instance
    finally:
        await instance.close()


def _key() -> str:
    return f"test:{uuid.uuid4().hex}"


async def test_set_get_and_absent(cache: Cache) -> None:
    key = _key()
    assert await cache.get(key) is None
    await cache.set(key, b"\x00value\xff", ttl_s=60)
    assert await cache.get(key) == b"\x00value\xff"
    await cache.set(key, b"new", ttl_s=60)
    assert await cache.get(key) == b"new"
    await cache.ping()


async def test_entries_expire(cache: Cache) -> None:
    key = _key()
    await cache.set(key, b"short", ttl_s=1)
    assert await cache.get(key) == b"short"
    await asyncio.sleep(1.3)
    assert await cache.get(key) is None


async def test_memory_cache_evicts_least_recently_used() -> None:
    cache = MemoryCache(2)
    await cache.set("a", b"1", ttl_s=60)
    await cache.set("b", b"2", ttl_s=60)
    assert await cache.get("a") == b"1"  # a is now the most recent
    await cache.set("c", b"3", ttl_s=60)
    assert await cache.get("b") is None
    assert await cache.get("a") == b"1" and await cache.get("c") == b"3"
    assert len(cache) == 2
    with pytest.raises(ValueError, match="at least 1"):
        MemoryCache(0)


async def test_two_redis_clients_share_entries() -> None:
    require_service("Redis", "127.0.0.1", 6379)
    first, second = RedisCache.from_url(REDIS_URL), RedisCache.from_url(REDIS_URL)
    try:
        key = _key()
        await first.set(key, b"shared", ttl_s=60)
        assert await second.get(key) == b"shared"
    finally:
        await first.close()
        await second.close()


async def test_unreachable_redis_degrades_to_misses() -> None:
    cache = RedisCache.from_url("redis://127.0.0.1:1/0", timeout_s=0.2)
    try:
        await cache.set("k", b"v", ttl_s=60)  # logged, not raised
        assert await cache.get("k") is None
        with pytest.raises(Unavailable):
            await cache.ping()
    finally:
        await cache.close()


def test_factory_picks_redis_only_when_configured(tmp_path: Path) -> None:
    memory = make_settings(tmp_path / "m")
    assert isinstance(build_cache(memory), MemoryCache)
    shared = make_settings(tmp_path / "r", redis={"url": REDIS_URL})
    assert isinstance(build_cache(shared), RedisCache)
