"""/api/v1/search — hybrid, dense or keyword search over the caller's collections."""

from __future__ import annotations

from fastapi import APIRouter

from ragplatform.api.auth import TenantViewer
from ragplatform.api.deps import RetrievalDep, SessionDep
from ragplatform.retrieval import search as service
from ragplatform.retrieval.schemas import SearchRequest, SearchResponse

router = APIRouter(prefix="/api/v1/search", tags=["search"])


@router.post("", summary="Search chunks (hybrid = dense + BM25 fused in the engine)")
async def search(
    body: SearchRequest, principal: TenantViewer, session: SessionDep, runtime: RetrievalDep
) -> SearchResponse:
    """Collection scopes of API keys apply; another tenant's collection ids are 404."""
    return await service.search(session, principal=principal, request=body, runtime=runtime)
