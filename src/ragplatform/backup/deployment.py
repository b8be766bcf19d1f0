"""What a backup reads from and a restore or import writes to: database, vectors, originals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import select

from ragplatform.adapters.vectorstores.factory import build_vector_store
from ragplatform.backup.manifest import EmbeddingInfo
from ragplatform.db.engine import Database
from ragplatform.db.preflight import check_database
from ragplatform.documents.models import Collection
from ragplatform.documents.storage import OriginalStore
from ragplatform.errors import Conflict
from ragplatform.ports import VectorStore
from ragplatform.settings import Settings


@dataclass(frozen=True)
class Deployment:
    """One platform's stores, opened by the server (its own) or by a command (offline)."""

    db: Database
    vectors: VectorStore | None
    originals: OriginalStore
    embedding: EmbeddingInfo
    vector_backend: str
    max_attempts: int = 5


def backend_name(settings: Settings) -> str:
    """The vector backend in words, as recorded in a manifest."""
    vector = settings.vector
    if vector.backend == "qdrant":
        return "qdrant-server" if vector.qdrant_url else "qdrant-edge"
    return "milvus-server" if vector.milvus_uri else "milvus-lite"


async def embedding_in_use(db: Database, settings: Settings) -> EmbeddingInfo:
    """The model and size the collections were embedded with (the configured model's)."""
    model = settings.embedding.model
    async with db.session() as session:
        rows = (
            await session.execute(
                select(Collection.embedding_model, Collection.embedding_dim).distinct()
            )
        ).all()
    dimensions = sorted({int(dim) for name, dim in rows if name == model})
    others = sorted({str(name) for name, _ in rows if name != model})
    if others:
        raise Conflict(
            f"collections were embedded with {others[0]}, but RAG_EMBEDDING__MODEL is {model}",
            code="embedding_mismatch",
        )
    if len(dimensions) > 1:
        raise Conflict(
            f"collections hold {model} vectors of several sizes: {dimensions}",
            code="embedding_mismatch",
        )
    dimension = dimensions[0] if dimensions else settings.embedding.dimension
    return EmbeddingInfo(model=model, dimension=dimension)


@asynccontextmanager
async def open_deployment(
    settings: Settings, *, embedding: EmbeddingInfo | None = None
) -> AsyncIterator[Deployment]:
    """The deployment of ``settings`` opened in this process, closed afterwards.

    Without ``embedding`` the database must be at head and the collections tell the vector
    size. Opening embedded vector data a running server holds raises StartupError ("in use").
    """
    db = Database(settings.database_url, settings.database)
    vectors: VectorStore | None = None
    try:
        if embedding is None:
            await check_database(db)
            embedding = await embedding_in_use(db, settings)
        if embedding.dimension is not None:
            vectors = await build_vector_store(
                settings, model=embedding.model, dimension=embedding.dimension
            )
        yield Deployment(
            db=db,
            vectors=vectors,
            originals=OriginalStore(settings.data_dir),
            embedding=embedding,
            vector_backend=backend_name(settings),
            max_attempts=settings.ingestion.max_attempts,
        )
    finally:
        try:
            if vectors is not None:
                await vectors.close()
        finally:
            await db.dispose()
