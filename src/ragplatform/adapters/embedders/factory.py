"""Builds the configured embedder (``RAG_EMBEDDING__PROVIDER``); vendor modules load lazily."""

from __future__ import annotations

from ragplatform.ports import Embedder
from ragplatform.settings import EmbeddingSettings


async def build_embedder(settings: EmbeddingSettings) -> Embedder:
    """The embedder for ``settings.provider``, loaded and ready (model on disk or endpoint)."""
    match settings.provider:
        case "local":
            from ragplatform.adapters.embedders.sentence_transformers import LocalEmbedder

            return await LocalEmbedder.load(settings)
        case "openai":
            from ragplatform.adapters.embedders.openai import OpenAIEmbedder

            return await OpenAIEmbedder.load(settings)
