"""The app factory: ``create_app(settings)``; the lifespan builds and closes every client."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Scope

from ragplatform import __version__
from ragplatform.adapters.cache.factory import build_cache
from ragplatform.adapters.embedders.factory import build_embedder
from ragplatform.adapters.llms.factory import build_chat_model
from ragplatform.adapters.rate_limiter import LimitsRateLimiter
from ragplatform.adapters.rerankers.factory import build_reranker
from ragplatform.adapters.vectorstores.factory import build_vector_store
from ragplatform.api.middleware import (
    BodySizeLimitMiddleware,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
)
from ragplatform.api.problems import declare_problem_responses, install_problem_handlers
from ragplatform.api.routes import (
    api_keys,
    ask,
    audit,
    auth,
    backup,
    collections,
    documents,
    health,
    jobs,
    search,
    tenants,
    users,
)
from ragplatform.db.engine import Database
from ragplatform.db.preflight import check_database
from ragplatform.documents.ingest import run_ingestion
from ragplatform.documents.service import INGEST_JOB
from ragplatform.documents.storage import OriginalStore
from ragplatform.health import DatabaseCheck, PingCheck, ReadinessCheck
from ragplatform.jobs.runner import JobContext, JobRunner
from ragplatform.observability.logging import configure_logging, get_logger
from ragplatform.observability.metrics import Metrics
from ragplatform.openai_compat import routes as openai_routes
from ragplatform.ports import Embedder, Reranker, VectorStore
from ragplatform.retrieval.cache import ResultCache
from ragplatform.retrieval.prompt import PromptTemplate
from ragplatform.retrieval.rerank import Reranking, rerank_fingerprint
from ragplatform.retrieval.runtime import QueryEmbeddings, Retrieval
from ragplatform.settings import Settings
from ragplatform.tenancy.bootstrap import admin_key_banner, ensure_platform_admin_key
from ragplatform.tenancy.tenants import DELETE_JOB, run_tenant_deletion

_log = get_logger("ragplatform.app")
_UPLOAD_PATH = re.compile(r"^/api/v1/collections/[^/]+/documents/?$")


async def _retrieval(
    settings: Settings,
    *,
    stack: AsyncExitStack,
    embedder: Embedder,
    vectors: VectorStore,
    metrics: Metrics,
    checks: list[ReadinessCheck],
) -> Retrieval:
    """The read path: caches, the answer model and the prompt template."""
    cache = build_cache(settings)
    stack.push_async_callback(cache.close)
    chat = await build_chat_model(settings, embedder=embedder)
    stack.push_async_callback(chat.close)
    if settings.llm.provider != "extractive":
        checks.append(PingCheck("llm", chat.ping, model=chat.name))
    reranker = await build_reranker(settings.rerank)
    reranking = None
    if reranker is not None:
        stack.push_async_callback(reranker.close)
        checks.append(PingCheck("reranker", reranker.ping, model=reranker.name))
        rerank = settings.rerank
        reranking = Reranking(reranker, depth=rerank.depth, with_title=rerank.with_title)
    ttl, enabled = settings.cache.ttl_s, settings.cache.enabled
    return Retrieval(
        embedder=embedder,
        vectors=vectors,
        chat=chat,
        queries=QueryEmbeddings(embedder, cache, ttl_s=ttl, enabled=enabled, metrics=metrics),
        results=ResultCache(cache, ttl_s=ttl, enabled=enabled, metrics=metrics),
        template=PromptTemplate.load(settings.answer.prompt_template),
        answer=settings.answer,
        llm=settings.llm,
        metrics=metrics,
        fingerprint=_fingerprint(settings, embedder.model_name, chat.name, reranker),
        reranking=reranking,
    )


def _fingerprint(
    settings: Settings, embedding_model: str, chat_model: str, reranker: Reranker | None = None
) -> str:
    """A digest of the settings that shape search results and answers (cache keys use it)."""
    shaping: dict[str, Any] = {
        "vector": [settings.vector.backend, settings.vector.fusion, settings.vector.qdrant_url],
        "models": [embedding_model, chat_model],
        "llm": settings.llm.model_dump(include={"context_tokens", "max_answer_tokens"}),
        "answer": settings.answer.model_dump(mode="json"),
    }
    if reranker is not None:  # absent when off: the keys of a deployment without one stay put
        shaping["rerank"] = rerank_fingerprint(settings.rerank, reranker.name)
    return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]


def _lifespan(settings: Settings, metrics: Metrics, embedder: Embedder | None) -> Any:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        db = Database(settings.database_url, settings.database)
        stack = AsyncExitStack()
        try:
            revision = await check_database(db)
            env_key = settings.admin_api_key.get_secret_value() if settings.admin_api_key else None
            async with db.session() as session:
                created = await ensure_platform_admin_key(session, env_key=env_key)
            if created:
                sys.stdout.write(admin_key_banner(created))
                sys.stdout.flush()
                _log.warning("platform_admin_key_created", prefix=created[:12])
            checks: list[ReadinessCheck] = [DatabaseCheck(db)]
            if settings.redis.url:
                limiter = LimitsRateLimiter.redis(settings.redis.url)
                checks.append(PingCheck("redis", limiter.ping))
            else:
                limiter = LimitsRateLimiter.in_memory()
            stack.push_async_callback(limiter.close)
            if embedder is None:
                model = await build_embedder(settings.embedding, data_dir=settings.data_dir)
                stack.push_async_callback(model.close)
            else:
                model = embedder  # handed in (tests, benchmarks): its owner closes it
            vectors = await build_vector_store(
                settings, model=model.model_name, dimension=model.dimension
            )
            stack.push_async_callback(vectors.close)
            checks.append(PingCheck("embedder", model.ping, model=model.model_name))
            checks.append(PingCheck("vector_store", vectors.ping, backend=settings.vector.backend))
            retrieval = await _retrieval(
                settings,
                stack=stack,
                embedder=model,
                vectors=vectors,
                metrics=metrics,
                checks=checks,
            )
            originals = OriginalStore(settings.data_dir)
            context = JobContext(
                db=db,
                settings=settings,
                embedder=model,
                vectors=vectors,
                originals=originals,
                metrics=metrics,
            )
            runner = JobRunner(
                context,
                {DELETE_JOB: run_tenant_deletion, INGEST_JOB: run_ingestion},
                concurrency=settings.ingestion.workers,
            )
            await runner.start()
            stack.push_async_callback(runner.stop)
            _log.info(
                "started",
                env=settings.env,
                database=db.backend,
                revision=revision,
                embedding=_describe_embedding(settings, model.model_name),
            )
            yield {
                "settings": settings,
                "db": db,
                "metrics": metrics,
                "checks": checks,
                "limiter": limiter,
                "jobs": runner,
                "embedder": model,
                "vectors": vectors,
                "retrieval": retrieval,
                "originals": originals,
            }
        finally:
            await stack.aclose()
            await db.dispose()
            _log.info("stopped")

    return lifespan


def body_limit(settings: Settings) -> Any:
    """Uploads may carry ``max_files_per_request`` files of ``max_file_bytes``; others less."""
    ingestion = settings.ingestion
    upload_limit = ingestion.max_file_bytes * ingestion.max_files_per_request + (1 << 20)

    def limit_for(scope: Scope) -> int:
        if scope.get("method") == "POST" and _UPLOAD_PATH.match(str(scope.get("path", ""))):
            return upload_limit
        if scope.get("method") == "POST" and scope.get("path") == backup.IMPORT_PATH:
            return backup.MAX_IMPORT_BYTES
        return settings.limits.max_request_bytes

    return limit_for


def _describe_embedding(settings: Settings, model: str) -> str:
    """``model (runtime)`` for the startup log: onnx/torch in-process, or the remote provider."""
    embedding = settings.embedding
    where = embedding.runtime if embedding.provider == "local" else embedding.provider
    return f"{model} ({where})"


def create_app(settings: Settings, *, embedder: Embedder | None = None) -> FastAPI:
    """Build the ASGI app for ``settings``; nothing connects until the lifespan starts.

    ``embedder`` lets a caller share one loaded model between apps (tests, benchmarks).
    """
    configure_logging(settings.log.level, settings.log_format)
    metrics = Metrics()
    app = FastAPI(
        title="ragplatform",
        version=__version__,
        summary="Multi-tenant retrieval-augmented generation: hybrid search and cited answers.",
        lifespan=_lifespan(settings, metrics, embedder),
    )
    install_problem_handlers(app)
    app.include_router(health.router)
    for module in (
        auth,
        tenants,
        users,
        api_keys,
        audit,
        jobs,
        collections,
        documents,
        search,
        ask,
        backup,
        openai_routes,
    ):
        app.include_router(module.router)

    app.add_middleware(BodySizeLimitMiddleware, limit_for=body_limit(settings))
    if settings.cors.allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors.allow_origins,
            allow_credentials=settings.cors.allow_credentials,
            allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
            max_age=settings.cors.max_age_s,
        )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            app.openapi_schema = declare_problem_responses(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
