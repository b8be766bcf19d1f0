"""/api/v1/jobs — status, progress and error of background work."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from ragplatform.api.auth import AnyCaller, TenantEditor
from ragplatform.api.deps import SessionDep
from ragplatform.jobs import service
from ragplatform.tenancy.schemas import JobOut

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


@router.get("/{job_id}", summary="Get a job")
async def get_job(job_id: uuid.UUID, principal: AnyCaller, session: SessionDep) -> JobOut:
    """Jobs of the caller's tenant; platform admins see platform jobs too."""
    return JobOut.model_validate(await service.get_job(session, principal=principal, job_id=job_id))


@router.post("/{job_id}/cancel", summary="Cancel a queued or running job")
async def cancel_job(job_id: uuid.UUID, principal: TenantEditor, session: SessionDep) -> JobOut:
    """A running job stops at its next step; its document is marked failed."""
    return JobOut.model_validate(await service.cancel(session, principal=principal, job_id=job_id))
