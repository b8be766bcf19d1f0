"""The local model on ONNX Runtime, int8 (``RAG_EMBEDDING__RUNTIME=onnx``, the default).

The model is exported from the same local weights at first use and cached under the data dir
or ``RAG_EMBEDDING__EXPORT_DIR`` (:mod:`.onnx_export`). Inference mirrors sentence-transformers:
the model's own fast tokenizer with its maximum sequence length and truncation, mean pooling
over the attention mask, L2 normalisation. Everything else (token counting, batching, the
embedding cache, threads, ping, close) is :class:`LocalEmbedder`'s, so both runtimes behave the
same.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ragplatform.adapters.embedders.onnx_export import (
    INSTALL_HINT,
    META_FILE,
    MODEL_FILE,
    TOKENIZER_FILE,
    ExportInfo,
    cache_dir,
    discard,
    export_model,
)
from ragplatform.adapters.embedders.sentence_transformers import (
    LocalEmbedder,
    packaged_model_path,
)
from ragplatform.errors import StartupError
from ragplatform.observability.logging import get_logger
from ragplatform.settings import EmbeddingSettings

DEFAULT_DATA_DIR = Path("data")

_log = get_logger("ragplatform.embedder")


def _runtime() -> Any:
    try:
        import onnxruntime  # type: ignore[import-untyped]
    except ImportError:
        raise StartupError(
            f"RAG_EMBEDDING__RUNTIME=onnx needs ONNX Runtime: {INSTALL_HINT}, "
            "or set RAG_EMBEDDING__RUNTIME=torch"
        ) from None
    return onnxruntime


@dataclass(frozen=True)
class _TokenizerView:
    """What :class:`LocalEmbedder` reads of a transformers tokenizer (for counting)."""

    backend_tokenizer: Any


class OnnxModel:
    """The part of ``SentenceTransformer`` that :class:`LocalEmbedder` uses, on ONNX Runtime."""

    def __init__(self, *, session: Any, tokenizer: Any, info: ExportInfo) -> None:
        from tokenizers import Tokenizer

        self._session = session
        self._info = info
        self.tokenizer = _TokenizerView(tokenizer)
        self.max_seq_length = info.max_seq_length
        self._encoder = Tokenizer.from_str(tokenizer.to_str())
        self._encoder.enable_truncation(max_length=info.max_seq_length)
        self._encoder.enable_padding(pad_id=info.pad_token_id, pad_token=info.pad_token)

    @classmethod
    def open(cls, directory: Path) -> OnnxModel:
        """Load a cached export (blocking); any error means the cache entry is unusable."""
        from tokenizers import Tokenizer

        ort = _runtime()
        info = ExportInfo.from_json(json.loads((directory / META_FILE).read_text("utf-8")))
        tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only
        # Idle intra-op threads sleep instead of spinning: in a server the embedder shares
        # the cores with the event loop, request threads and the vector engine, and spinning
        # threads starve them (benchmarks/RESULTS.md, "ONNX thread spinning": ingestion
        # +13 %, search throughput at concurrency 8 +40 %, at the cost of ~1 ms on a lone
        # query embedding).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(
            str(directory / MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )
        names = tuple(node.name for node in session.get_inputs())
        if set(names) != set(info.inputs):
            raise ValueError(f"the graph takes {names}, the export recorded {info.inputs}")
        return cls(session=session, tokenizer=tokenizer, info=info)

    def get_embedding_dimension(self) -> int:
        """The vector size."""
        return self._info.dimension

    def _features(self, texts: list[str]) -> dict[str, Any]:
        if self._info.do_lower_case:
            texts = [text.lower() for text in texts]
        encodings = self._encoder.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        features = {
            "input_ids": ids,
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        return {name: features[name] for name in self._info.inputs}

    def _embed(self, texts: list[str], normalize: bool) -> Any:
        features = self._features(texts)
        hidden = self._session.run(["last_hidden_state"], features)[0]
        mask = features["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        if normalize:
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            pooled = pooled / np.clip(norms, 1e-12, None)
        return pooled.astype(np.float32)

    def encode(
        self,
        texts: list[str],
        *,
        batch_size: int = 32,
        normalize_embeddings: bool = False,
        convert_to_numpy: bool = True,
        show_progress_bar: bool = False,
    ) -> Any:
        """A float32 matrix, one row per text (``SentenceTransformer.encode``'s contract)."""
        del convert_to_numpy, show_progress_bar  # always numpy, never a progress bar
        if not texts:
            return np.zeros((0, self._info.dimension), dtype=np.float32)
        # Longest first, as sentence-transformers does: each pass pads to its own longest text.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        step = max(1, batch_size)
        parts = [
            self._embed([texts[i] for i in order[start : start + step]], normalize_embeddings)
            for start in range(0, len(texts), step)
        ]
        matrix = np.empty((len(texts), self._info.dimension), dtype=np.float32)
        matrix[order] = np.concatenate(parts)
        return matrix


def load_onnx_model(settings: EmbeddingSettings, data_dir: Path) -> OnnxModel:
    """The cached int8 export of the configured model, exported first when missing or broken."""
    _runtime()
    source = settings.model_path if settings.model_path is not None else packaged_model_path()
    if not source.is_dir():
        raise StartupError(
            f"RAG_EMBEDDING__MODEL_PATH: {source} is not a directory with a sentence-transformers "
            "model"
        )
    target = cache_dir(data_dir, settings.model, source)
    if settings.export_dir is not None:
        target = settings.export_dir / target.name
    if target.exists():
        try:
            return OnnxModel.open(target)
        except Exception as exc:
            _log.warning("onnx_cache_unusable", path=str(target), error=type(exc).__name__)
            discard(target)
    _log.info("onnx_export_started", model=settings.model, path=str(target))
    export_model(settings, target)
    try:
        model = OnnxModel.open(target)
    except Exception as exc:
        raise StartupError(
            f"RAG_EMBEDDING__RUNTIME=onnx: the exported model in {target} does not load "
            f"({type(exc).__name__}); set RAG_EMBEDDING__RUNTIME=torch"
        ) from None
    _log.info("onnx_export_finished", model=settings.model, path=str(target))
    return model


class OnnxEmbedder(LocalEmbedder):
    """:class:`LocalEmbedder` on the int8 ONNX export: same tokens, limits, batching, cache."""

    # One text per pass: the fastest measured, and int8 activations are scaled per pass
    # (padding included), so only a pass of one makes a text's vector independent of the
    # texts embedded beside it.
    MICRO_BATCH = 1

    @classmethod
    async def load(
        cls, settings: EmbeddingSettings, *, data_dir: Path = DEFAULT_DATA_DIR
    ) -> OnnxEmbedder:
        """Open (or first export) the model in a thread so the event loop keeps serving."""
        model = await asyncio.to_thread(load_onnx_model, settings, data_dir)
        return cls(model=model, settings=settings)
