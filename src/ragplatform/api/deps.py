"""Typed dependency aliases shared by every router."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from ragplatform.db.engine import Database
from ragplatform.documents.storage import OriginalStore
from ragplatform.ports import Embedder, JobQueue, VectorStore
from ragplatform.retrieval.runtime import Retrieval
from ragplatform.settings import Settings


async def get_settings(request: Request) -> Settings:
    """The app's settings (from the lifespan state)."""
    settings: Settings = request.state.settings
    return settings


async def get_database(request: Request) -> Database:
    """The app's database."""
    db: Database = request.state.db
    return db


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; services commit, errors roll back."""
    db: Database = request.state.db
    async with db.session() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_request_id(request: Request) -> str | None:
    """The request id set by the middleware."""
    rid = request.scope.get("state", {}).get("request_id")
    return rid if isinstance(rid, str) else None


async def get_job_queue(request: Request) -> JobQueue:
    """Where committed jobs are announced."""
    queue: JobQueue = request.state.jobs
    return queue


RequestIdDep = Annotated[str | None, Depends(get_request_id)]
JobQueueDep = Annotated[JobQueue, Depends(get_job_queue)]


async def get_vectors(request: Request) -> VectorStore:
    """The vector store."""
    store: VectorStore = request.state.vectors
    return store


async def get_embedder(request: Request) -> Embedder:
    """The embedder."""
    embedder: Embedder = request.state.embedder
    return embedder


async def get_originals(request: Request) -> OriginalStore:
    """Where uploaded originals are kept."""
    originals: OriginalStore = request.state.originals
    return originals


VectorsDep = Annotated[VectorStore, Depends(get_vectors)]
EmbedderDep = Annotated[Embedder, Depends(get_embedder)]
OriginalsDep = Annotated[OriginalStore, Depends(get_originals)]


async def get_retrieval(request: Request) -> Retrieval:
    """The read path's collaborators (store, embeddings, chat model, caches)."""
    retrieval: Retrieval = request.state.retrieval
    return retrieval


RetrievalDep = Annotated[Retrieval, Depends(get_retrieval)]
