"""A local sentence-transformers ``CrossEncoder`` on the CPU, loaded from disk, never downloaded."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ragplatform.answer_settings import RerankSettings
from ragplatform.errors import StartupError, Unavailable

PING_TIMEOUT_S = 10.0
_SEQUENCE_CLASSIFIER = "ForSequenceClassification"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def check_cross_encoder_dir(path: Path) -> str:
    """The classifier architecture in ``path``; :class:`StartupError` unless a one-score one.

    A bi-encoder (e.g. the embedding model) would load with a fresh, random head: refused here
    instead of scoring nonsense.
    """
    hint = f"RAG_RERANK__MODEL_PATH: {path}"
    if not path.is_dir():
        raise StartupError(f"{hint} is not a directory with a cross-encoder model")
    config = _read_json(path / "config.json")
    if not config:
        raise StartupError(f"{hint} has no readable config.json (not a transformers model)")
    st_type = _read_json(path / "config_sentence_transformers.json").get("model_type")
    architectures = [str(a) for a in config.get("architectures") or []]
    classifier = next((a for a in architectures if a.endswith(_SEQUENCE_CLASSIFIER)), None)
    if st_type not in (None, "CrossEncoder") or classifier is None:
        kind = st_type or ", ".join(architectures) or "an unknown architecture"
        raise StartupError(
            f"{hint} is not a cross-encoder ({kind}); expected a sequence-classification model "
            "such as cross-encoder/ms-marco-MiniLM-L6-v2 or BAAI/bge-reranker-base"
        )
    labels = config.get("num_labels") or len(config.get("id2label") or {}) or 1
    if labels != 1:
        raise StartupError(
            f"{hint} is a {labels}-label classifier; a re-ranker outputs one relevance score"
        )
    return classifier


def load_cross_encoder(settings: RerankSettings) -> Any:
    """Load the cross-encoder from ``settings.model_path`` (blocking; seconds): offline, CPU."""
    if settings.model_path is None:
        raise StartupError("RAG_RERANK__MODEL_PATH: required when RAG_RERANK__PROVIDER=local")
    path = settings.model_path
    check_cross_encoder_dir(path)
    # Never reach the Hugging Face Hub: the model is local or the start fails.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from sentence_transformers import CrossEncoder
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - both are core dependencies
        raise StartupError(
            "the local re-ranker needs sentence-transformers and torch: pip install ragplatform"
        ) from None
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        return CrossEncoder(str(path), device="cpu", local_files_only=True)
    except Exception as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise StartupError(
            f"RAG_RERANK__MODEL_PATH: cannot load the cross-encoder from {path}: {reason}"
        ) from None


class CrossEncoderReranker:
    """Scores (query, passage) pairs with an in-process cross-encoder, in threads.

    One call runs the model over its pairs in batches of ``batch_size``; at most
    ``max_concurrency`` calls run at once. Counters for metrics: ``pairs_scored``, ``calls``.
    """

    def __init__(
        self, *, model: Any, settings: RerankSettings, ping_timeout_s: float = PING_TIMEOUT_S
    ) -> None:
        self._model: Any = model
        self._settings = settings
        self._ping_timeout_s = ping_timeout_s
        self._limit = asyncio.Semaphore(settings.max_concurrency)
        path = settings.model_path
        self.name = settings.model or (path.name if path is not None else "cross-encoder")
        self.pairs_scored = 0
        self.calls = 0

    @classmethod
    async def load(cls, settings: RerankSettings) -> CrossEncoderReranker:
        """Load the model once, in a thread so the event loop keeps serving."""
        model = await asyncio.to_thread(load_cross_encoder, settings)
        return cls(model=model, settings=settings)

    def _require_model(self) -> Any:
        if self._model is None:
            raise Unavailable("the re-ranking model is closed", code="reranker_closed")
        return self._model

    def _predict(self, model: Any, query: str, texts: list[str]) -> list[float]:
        scores = model.predict(
            [(query, text) for text in texts],
            batch_size=self._settings.batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return [float(score) for score in scores.reshape(len(texts))]

    async def rerank(self, query: str, texts: Sequence[str]) -> list[float]:
        """One relevance score per text (the model's activation, sigmoid for one label)."""
        model = self._require_model()
        if not texts:
            return []
        async with self._limit:
            scores = await asyncio.to_thread(self._predict, model, query, list(texts))
        self.pairs_scored += len(texts)
        self.calls += 1
        return scores

    async def ping(self) -> None:
        """Score one tiny pair, bounded by a deadline."""
        model = self._require_model()
        try:
            await asyncio.wait_for(
                asyncio.to_thread(self._predict, model, "ping", ["ping"]), self._ping_timeout_s
            )
        except TimeoutError:
            raise Unavailable(
                f"the re-ranking model did not answer within {self._ping_timeout_s:g} s",
                code="reranker_unavailable",
            ) from None

    async def close(self) -> None:
        """Drop the model; later calls raise :class:`Unavailable`."""
        self._model = None
