"""LimitsRateLimiter against in-process memory and against the real Redis."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from ragplatform.adapters.rate_limiter import LimitsRateLimiter
from ragplatform.errors import Unavailable
from tests.support import require_service

REDIS_URL = "redis://127.0.0.1:6379/15"
UNREACHABLE_URL = "redis://127.0.0.1:1/0"


def _key() -> tuple[str, str]:
    """A key no other test (or earlier run against the same Redis) has used."""
    return ("test", uuid.uuid4().hex)


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[LimitsRateLimiter]:
    """The limiter on each storage; Redis skips locally when down, fails under CI=true."""
    if request.param == "redis":
        require_service("Redis", "127.0.0.1", 6379)
        request.applymarker(pytest.mark.redis)
        instance = LimitsRateLimiter.redis(REDIS_URL)
    else:
        instance = LimitsRateLimiter.in_memory()
    try:
        yield instance
    finally:
        await instance.close()


async def test_hits_until_denied_with_retry_after(limiter: LimitsRateLimiter) -> None:
    key = _key()
    decisions = [await limiter.hit("3/minute", *key) for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, True]
    assert [d.retry_after_s for d in decisions] == [0, 0, 0]
    assert [d.remaining for d in decisions] == [2, 1, 0]

    denied = await limiter.hit("3/minute", *key)
    assert denied.allowed is False
    assert denied.remaining == 0
    assert 1 <= denied.retry_after_s <= 60

    again = await limiter.hit("3/minute", *key)
    assert again.allowed is False and again.retry_after_s >= 1


async def test_keys_are_counted_separately(limiter: LimitsRateLimiter) -> None:
    first, second = _key(), _key()
    assert (await limiter.hit("1/minute", *first)).allowed
    assert not (await limiter.hit("1/minute", *first)).allowed
    fresh = await limiter.hit("1/minute", *second)
    assert fresh.allowed and fresh.remaining == 0


async def test_peek_does_not_count(limiter: LimitsRateLimiter) -> None:
    key = _key()
    for _ in range(5):
        peeked = await limiter.peek("2/minute", *key)
        assert peeked.allowed and peeked.remaining == 2 and peeked.retry_after_s == 0

    await limiter.hit("2/minute", *key)
    after_one = await limiter.peek("2/minute", *key)
    assert after_one.allowed and after_one.remaining == 1

    await limiter.hit("2/minute", *key)
    exhausted = await limiter.peek("2/minute", *key)
    assert exhausted.allowed is False
    assert exhausted.remaining == 0
    assert exhausted.retry_after_s >= 1
    # Peeking at an exhausted key did not push it further: still exactly at the limit.
    assert (await limiter.peek("2/minute", *key)).allowed is False


async def test_reset_clears_the_counter(limiter: LimitsRateLimiter) -> None:
    key = _key()
    await limiter.hit("2/minute", *key)
    await limiter.hit("2/minute", *key)
    assert not (await limiter.hit("2/minute", *key)).allowed

    await limiter.reset("2/minute", *key)

    cleared = await limiter.peek("2/minute", *key)
    assert cleared.allowed and cleared.remaining == 2
    assert (await limiter.hit("2/minute", *key)).allowed


async def test_reset_of_an_unknown_key_is_harmless(limiter: LimitsRateLimiter) -> None:
    key = _key()
    await limiter.reset("2/minute", *key)
    assert (await limiter.peek("2/minute", *key)).remaining == 2


async def test_ping_answers(limiter: LimitsRateLimiter) -> None:
    await limiter.ping()


async def test_close_releases_and_can_be_repeated(limiter: LimitsRateLimiter) -> None:
    await limiter.hit("5/minute", *_key())
    await limiter.close()
    await limiter.close()


@pytest.mark.redis
async def test_close_disconnects_from_redis() -> None:
    require_service("Redis", "127.0.0.1", 6379)
    import redis.asyncio as aioredis

    limiter = LimitsRateLimiter.redis(REDIS_URL)
    admin = aioredis.Redis.from_url(REDIS_URL)
    try:
        await limiter.hit("5/minute", *_key())
        # The connection the limiter uses (the same client its close() releases).
        client_id = await limiter.storage.bridge.storage.client_id()  # type: ignore[attr-defined]
        assert client_id in {int(c["id"]) for c in await admin.client_list()}

        await limiter.close()

        deadline = time.monotonic() + 5
        while client_id in {int(c["id"]) for c in await admin.client_list()}:
            assert time.monotonic() < deadline, "the limiter's connection is still open"
            await asyncio.sleep(0.02)
    finally:
        await limiter.close()
        await admin.aclose()


@pytest.mark.redis
async def test_two_redis_instances_share_counters() -> None:
    require_service("Redis", "127.0.0.1", 6379)
    first = LimitsRateLimiter.redis(REDIS_URL)
    second = LimitsRateLimiter.redis(REDIS_URL)
    key = _key()
    try:
        assert (await first.hit("3/minute", *key)).remaining == 2
        assert (await second.hit("3/minute", *key)).remaining == 1
        assert (await first.peek("3/minute", *key)).remaining == 1
        assert (await second.hit("3/minute", *key)).allowed
        denied = await first.hit("3/minute", *key)
        assert denied.allowed is False and denied.retry_after_s >= 1
        assert (await second.peek("3/minute", *key)).allowed is False

        await second.reset("3/minute", *key)
        assert (await first.peek("3/minute", *key)).remaining == 3
    finally:
        await first.close()
        await second.close()


@pytest.mark.redis
async def test_redis_counters_are_not_shared_with_memory() -> None:
    require_service("Redis", "127.0.0.1", 6379)
    shared = LimitsRateLimiter.redis(REDIS_URL)
    local = LimitsRateLimiter.in_memory()
    key = _key()
    try:
        await shared.hit("2/minute", *key)
        await shared.hit("2/minute", *key)
        assert (await local.peek("2/minute", *key)).remaining == 2
    finally:
        await shared.close()
        await local.close()


@pytest.mark.parametrize(
    "call",
    [
        lambda lim, key: lim.hit("3/minute", *key),
        lambda lim, key: lim.peek("3/minute", *key),
        lambda lim, key: lim.reset("3/minute", *key),
    ],
    ids=["hit", "peek", "reset"],
)
async def test_unreachable_redis_raises_unavailable(
    call: Callable[[LimitsRateLimiter, tuple[str, str]], Awaitable[object]],
) -> None:
    limiter = LimitsRateLimiter.redis(UNREACHABLE_URL)
    try:
        with pytest.raises(Unavailable) as info:
            await call(limiter, _key())
        assert info.value.code == "rate_limiter_unavailable"
        assert info.value.retry_after >= 1
        assert info.value.__cause__ is not None
    finally:
        await limiter.close()


async def test_unreachable_redis_fails_ping() -> None:
    limiter = LimitsRateLimiter.redis(UNREACHABLE_URL)
    try:
        with pytest.raises(ConnectionError, match="did not answer"):
            await limiter.ping()
    finally:
        await limiter.close()
