"""/api/v1/ask — a cited answer from the caller's collections, as JSON or Server-Sent Events."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from ragplatform.api.auth import TenantViewer
from ragplatform.api.deps import RequestIdDep, RetrievalDep, SessionDep
from ragplatform.api.sse import HEADERS, answer_events, primed
from ragplatform.retrieval import answer as service
from ragplatform.retrieval.schemas import AskRequest, AskResponse

router = APIRouter(prefix="/api/v1/ask", tags=["answers"])

_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON, or with `stream: true` Server-Sent Events: `citations` first, "
        "then `delta` text pieces, then `done` with usage (`error` if it fails mid-way)",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


@router.post(
    "",
    summary="Answer a question with citations",
    response_model=AskResponse,
    responses=_STREAM_DOC,
)
async def ask(
    body: AskRequest,
    principal: TenantViewer,
    session: SessionDep,
    runtime: RetrievalDep,
    request_id: RequestIdDep,
) -> AskResponse | StreamingResponse:
    """Every `[n]` in the answer is a returned citation; no relevant context → "I don't know"."""
    prepared = await service.prepare_ask(
        session, principal=principal, request=body, runtime=runtime
    )
    if not body.stream:
        return await service.collect(prepared)
    events = await primed(prepared.events())
    return StreamingResponse(
        answer_events(events, request_id=request_id),
        media_type="text/event-stream",
        headers=HEADERS,
    )
