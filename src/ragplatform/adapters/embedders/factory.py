"""Builds the configured embedder (``RAG_EMBEDDING__PROVIDER``); vendor modules load lazily."""

from __future__ import annotations

from pathlib import Path

from ragplatform.ports import Embedder
from ragplatform.settings import EmbeddingSettings

DEFAULT_DATA_DIR = Path("data")


async def build_embedder(
    settings: EmbeddingSettings, *, data_dir: Path = DEFAULT_DATA_DIR
) -> Embedder:
    """The embedder for ``settings.provider``, loaded and ready (model on disk or endpoint).

    ``data_dir`` (``RAG_DATA_DIR``) holds the ONNX export when ``runtime`` is ``onnx``.
    """
    match settings.provider:
        case "local" if settings.runtime == "onnx":
            from ragplatform.adapters.embedders.onnx import OnnxEmbedder

            return await OnnxEmbedder.load(settings, data_dir=data_dir)
        case "local":
            from ragplatform.adapters.embedders.sentence_transformers import LocalEmbedder

            return await LocalEmbedder.load(settings)
        case "openai":
            from ragplatform.adapters.embedders.openai import OpenAIEmbedder

            return await OpenAIEmbedder.load(settings)
