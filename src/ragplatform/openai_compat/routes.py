"""/v1 — the OpenAI-compatible API: models, chat completions (answers) and embeddings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from ragplatform.api.auth import TenantViewer
from ragplatform.api.deps import EmbedderDep, RetrievalDep, SessionDep
from ragplatform.openai_compat import service
from ragplatform.openai_compat.schemas import (
    ChatCompletion,
    ChatCompletionRequest,
    EmbeddingList,
    EmbeddingRequest,
    Model,
    ModelList,
)
from ragplatform.openai_compat.sse import HEADERS, chunk_events

router = APIRouter(prefix="/v1", tags=["openai-compatible"])

_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A `chat.completion`, or with `stream: true` Server-Sent Events: "
        "`data: {chat.completion.chunk}` lines (citations on the first), then `data: [DONE]`",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


@router.get("/models", summary="List the models this credential may use")
async def list_models(
    principal: TenantViewer, session: SessionDep, embedder: EmbedderDep
) -> ModelList:
    """`rag` (every readable collection), `rag/<collection name>` each, and the embedder."""
    return await service.list_models(session, principal=principal, embedder=embedder)


@router.get("/models/{model:path}", summary="Retrieve a model")
async def get_model(
    model: str, principal: TenantViewer, session: SessionDep, embedder: EmbedderDep
) -> Model:
    """Unknown models and other tenants' collections are 404 `model_not_found`."""
    return await service.get_model(session, principal=principal, embedder=embedder, model=model)


@router.post(
    "/chat/completions",
    summary="Answer with citations",
    response_model=ChatCompletion,
    responses=_STREAM_DOC,
)
async def chat_completions(
    body: ChatCompletionRequest, principal: TenantViewer, session: SessionDep, runtime: RetrievalDep
) -> ChatCompletion | StreamingResponse:
    """The last user message is the question; `citations` maps each `[n]` in the answer."""
    result = await service.chat_completion(
        session, principal=principal, request=body, runtime=runtime
    )
    if isinstance(result, ChatCompletion):
        return result
    return StreamingResponse(chunk_events(result), media_type="text/event-stream", headers=HEADERS)


@router.post("/embeddings", summary="Embed texts with the platform's embedding model")
async def create_embeddings(
    body: EmbeddingRequest, principal: TenantViewer, embedder: EmbedderDep
) -> EmbeddingList:
    """Unit-length vectors; `encoding_format: base64` is little-endian float32."""
    return await service.create_embeddings(request=body, embedder=embedder)
