"""/api/v1/admin — platform backups and tenant moves (platform admins only).

The archives stream while they are written; the import takes the archive as the request body.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, status
from fastapi.responses import StreamingResponse

from ragplatform.api.auth import PlatformAdmin
from ragplatform.api.deps import JobQueueDep, RequestIdDep
from ragplatform.backup import service
from ragplatform.backup.deployment import Deployment, backend_name
from ragplatform.backup.manifest import EmbeddingInfo
from ragplatform.backup.schemas import TenantImported

router = APIRouter(prefix="/api/v1/admin", tags=["backup"])
IMPORT_PATH = "/api/v1/admin/tenants/import"
MAX_IMPORT_BYTES = 1 << 40  # platform admins only; the body is read after authentication
_ARCHIVE = {
    200: {
        "description": "The archive (tar, or gzip-compressed tar), streamed as it is written",
        "content": {"application/x-tar": {}, "application/gzip": {}},
    }
}


async def get_deployment(request: Request) -> Deployment:
    """The serving process's own stores."""
    state = request.state
    return Deployment(
        db=state.db,
        vectors=state.vectors,
        originals=state.originals,
        embedding=EmbeddingInfo(
            model=state.embedder.model_name, dimension=state.embedder.dimension
        ),
        vector_backend=backend_name(state.settings),
        max_attempts=state.settings.ingestion.max_attempts,
    )


DeploymentDep = Annotated[Deployment, Depends(get_deployment)]
GzipQuery = Annotated[bool, Query(description="gzip-compress the archive")]
SlugPath = Annotated[str, Path(min_length=1, max_length=63, description="The tenant's slug")]


def _response(stream: service.ArchiveStream) -> StreamingResponse:
    return StreamingResponse(
        stream.chunks,
        media_type=stream.media_type,
        headers={"Content-Disposition": f'attachment; filename="{stream.filename}"'},
    )


@router.get(
    "/backup",
    summary="Stream a backup of the platform",
    response_class=StreamingResponse,
    responses=_ARCHIVE,  # type: ignore[arg-type]
)
async def backup(
    principal: PlatformAdmin,
    deployment: DeploymentDep,
    request_id: RequestIdDep,
    gzip: GzipQuery = False,
) -> StreamingResponse:
    """Every tenant's rows, chunks (with vectors) and originals, from one consistent snapshot."""
    stream = await service.backup_stream(
        deployment, principal=principal, compress=gzip, request_id=request_id
    )
    return _response(stream)


@router.get(
    "/tenants/{slug}/export",
    summary="Stream one tenant's archive",
    response_class=StreamingResponse,
    responses=_ARCHIVE,  # type: ignore[arg-type]
)
async def export_tenant(
    slug: SlugPath,
    principal: PlatformAdmin,
    deployment: DeploymentDep,
    request_id: RequestIdDep,
    gzip: GzipQuery = False,
) -> StreamingResponse:
    """The tenant's rows, chunks and originals, to import into another deployment."""
    stream = await service.tenant_export_stream(
        deployment, principal=principal, slug=slug, compress=gzip, request_id=request_id
    )
    return _response(stream)


@router.post(
    "/tenants/import", status_code=status.HTTP_201_CREATED, summary="Import a tenant archive"
)
async def import_tenant(
    request: Request,
    principal: PlatformAdmin,
    deployment: DeploymentDep,
    queue: JobQueueDep,
    request_id: RequestIdDep,
) -> TenantImported:
    """The body is the archive; its slug and ids must be new here. Vectors are not re-embedded."""
    summary = await service.import_uploaded_tenant(
        deployment,
        principal=principal,
        body=request.stream(),
        queue=queue,
        request_id=request_id,
    )
    return TenantImported.of(summary)
