"""Builds the configured vector store (``RAG_VECTOR__*``); vendor modules load lazily."""

from __future__ import annotations

import asyncio

from ragplatform.adapters.vectorstores.layout import physical_name
from ragplatform.observability.logging import get_logger
from ragplatform.ports import VectorStore
from ragplatform.settings import Settings

_log = get_logger("ragplatform.vectors")


async def build_vector_store(settings: Settings, *, model: str, dimension: int) -> VectorStore:
    """Qdrant Edge under the data dir, or a Qdrant server when ``qdrant_url`` is set.

    ``backend=milvus``: a Milvus Lite file under the data dir, or a Milvus server when
    ``milvus_uri`` is set. Milvus fuses hybrid results by RRF whatever ``fusion`` says.
    """
    vector = settings.vector
    match vector.backend:
        case "milvus":
            from ragplatform.adapters.vectorstores.milvus import MilvusStore

            if vector.fusion != "rrf":
                _log.info("milvus_fuses_by_rrf", configured=vector.fusion)
            if vector.milvus_uri:
                token = vector.milvus_token.get_secret_value() if vector.milvus_token else None
                return await MilvusStore.connect(
                    vector.milvus_uri,
                    token=token,
                    timeout_s=vector.timeout_s,
                    collection_prefix=vector.collection_prefix,
                    model=model,
                    dimension=dimension,
                )
            return await asyncio.to_thread(
                MilvusStore.open_lite,
                MilvusStore.path_for(settings.data_dir, collection_prefix=vector.collection_prefix),
                collection_name=physical_name(vector.collection_prefix, model, dimension),
                dimension=dimension,
            )
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
