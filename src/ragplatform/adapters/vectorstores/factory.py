"""Builds the configured vector store (``RAG_VECTOR__*``); vendor modules load lazily."""

from __future__ import annotations

import asyncio

from ragplatform.ports import VectorStore
from ragplatform.settings import Settings


async def build_vector_store(settings: Settings, *, model: str, dimension: int) -> VectorStore:
    """Qdrant Edge under the data dir, or a Qdrant server when ``qdrant_url`` is set."""
    vector = settings.vector
    match vector.backend:
        case "qdrant" if vector.qdrant_url:
            from ragplatform.adapters.vectorstores.qdrant_server import QdrantServerStore

            key = vector.qdrant_api_key.get_secret_value() if vector.qdrant_api_key else None
            return await QdrantServerStore.connect(
                vector.qdrant_url,
                api_key=key,
                timeout_s=vector.timeout_s,
                collection_prefix=vector.collection_prefix,
                model=model,
                dimension=dimension,
                fusion=vector.fusion,
            )
        case "qdrant":
            from ragplatform.adapters.vectorstores.qdrant_edge import QdrantEdgeStore

            path = QdrantEdgeStore.path_for(
                settings.data_dir,
                collection_prefix=vector.collection_prefix,
                model=model,
                dimension=dimension,
            )
            return await asyncio.to_thread(
                QdrantEdgeStore.open,
                path,
                dimension=dimension,
                indexing_threshold_kb=vector.indexing_threshold_kb,
                fusion=vector.fusion,
            )
