"""Builds the configured re-ranker (``RAG_RERANK__PROVIDER``); vendor modules load lazily."""

from __future__ import annotations

from ragplatform.answer_settings import RerankSettings
from ragplatform.ports import Reranker


async def build_reranker(settings: RerankSettings) -> Reranker | None:
    """The re-ranker for ``settings.provider``, loaded and ready; None when it is ``off``."""
    match settings.provider:
        case "off":
            return None
        case "local":
            from ragplatform.adapters.rerankers.cross_encoder import CrossEncoderReranker

            return await CrossEncoderReranker.load(settings)
        case "http":
            from ragplatform.adapters.rerankers.http import HttpReranker

            return HttpReranker(settings=settings)
