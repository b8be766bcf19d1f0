"""EmbeddingCache: LRU by sha256, dedup within a call, batching of misses."""

from __future__ import annotations

from array import array

import pytest

from ragplatform.adapters.embedders.cache import EmbedBatch, EmbeddingCache, text_key, to_vector


def fake_batcher(calls: list[list[str]]) -> EmbedBatch:
    """An ``embed_batch`` that returns [len(text), index] and records its calls."""

    async def embed_batch(texts: list[str]) -> list[array[float]]:
        calls.append(list(texts))
        return [to_vector([float(len(t)), float(i)]) for i, t in enumerate(texts)]

    return embed_batch


async def test_misses_are_batched_and_hits_reused() -> None:
    calls: list[list[str]] = []
    cache = EmbeddingCache(10)
    texts = ["a", "bb", "a", "ccc", "dddd", "bb"]
    vectors = await cache.embed(texts, batch_size=2, embed_batch=fake_batcher(calls))
    assert calls == [["a", "bb"], ["ccc", "dddd"]]
    assert vectors == [[1, 0], [2, 1], [1, 0], [3, 0], [4, 1], [2, 1]]
    assert (cache.hits, cache.misses, len(cache)) == (0, 4, 4)
    again = await cache.embed(["dddd", "e"], batch_size=2, embed_batch=fake_batcher(calls))
    assert calls[-1] == ["e"]
    assert again == [[4, 1], [1, 0]]
    assert cache.hits == 1


async def test_size_bounds_and_eviction() -> None:
    cache = EmbeddingCache(2)
    for text in ("x", "y", "z"):
        cache.put(text_key(text), to_vector([1.0]))
    assert len(cache) == 2
    assert cache.get(text_key("x")) is None
    disabled = EmbeddingCache(0)
    disabled.put(text_key("x"), to_vector([1.0]))
    assert len(disabled) == 0


async def test_a_short_batch_is_an_error() -> None:
    async def short(texts: list[str]) -> list[array[float]]:
        return []

    with pytest.raises(RuntimeError, match="embedded 0 vectors for 1 texts"):
        await EmbeddingCache(1).embed(["x"], batch_size=1, embed_batch=short)


def test_keys_handle_lone_surrogates() -> None:
    assert text_key("\ud800") != text_key("")
    assert len(text_key("x")) == 32
