"""An LRU cache of embeddings keyed by the text's sha256, shared by every embedder adapter."""

from __future__ import annotations

import hashlib
from array import array
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence

EmbedBatch = Callable[[list[str]], Awaitable[list["array[float]"]]]


def text_key(text: str) -> bytes:
    """The cache key of ``text``: its sha256 digest."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def to_vector(values: Sequence[float]) -> array[float]:
    """Compact float32 storage of one vector (~4 bytes a dimension, not ~32 as a list)."""
    return array("f", values)


class EmbeddingCache:
    """Least-recently-used vectors by text; ``size`` 0 disables storage (dedup still applies)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[bytes, array[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes) -> array[float] | None:
        """The cached vector of ``key``, marked as recently used."""
        vector = self._entries.get(key)
        if vector is not None:
            self._entries.move_to_end(key)
        return vector

    def put(self, key: bytes, vector: array[float]) -> None:
        """Store a vector, evicting the least recently used beyond ``size``."""
        if self.size <= 0:
            return
        self._entries[key] = vector
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every vector."""
        self._entries.clear()

    async def embed(
        self,
        texts: Sequence[str],
        *,
        batch_size: int,
        embed_batch: EmbedBatch,
        use_cache: bool = True,
    ) -> list[list[float]]:
        """Vectors of ``texts`` in order: hits from the cache, each distinct miss embedded once.

        Misses go to ``embed_batch`` in batches of ``batch_size``, one batch after the other,
        so a concurrent caller (a search query) waits for at most one batch, not a whole call.
        ``use_cache=False`` neither reads nor fills the cache (duplicates are still shared).
        """
        keys = [text_key(text) for text in texts]
        found: dict[bytes, array[float]] = {}
        missing: dict[bytes, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key in found or key in missing:
                continue
            vector = self.get(key) if use_cache else None
            if vector is None:
                missing[key] = text
                self.misses += 1 if use_cache else 0
            else:
                found[key] = vector
                self.hits += 1
        todo = list(missing.items())
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            vectors = await embed_batch([text for _, text in batch])
            if len(vectors) != len(batch):
                raise RuntimeError(f"embedded {len(vectors)} vectors for {len(batch)} texts")
            for (key, _), vector in zip(batch, vectors, strict=True):
                found[key] = vector
                if use_cache:
                    self.put(key, vector)
        return [found[key].tolist() for key in keys]
