"""Job rows: enqueue, read, claim, finish. No assumption that workers live in the API process."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ragplatform.errors import Conflict, NotFound
from ragplatform.jobs.models import Job
from ragplatform.tenancy.principal import Principal


def enqueue(
    session: AsyncSession,
    *,
    kind: str,
    tenant_id: uuid.UUID | None,
    payload: dict[str, Any],
    max_attempts: int = 5,
) -> Job:
    """Add a queued job to the session (committed with the change that caused it)."""
    job = Job(
        id=uuid.uuid4(),
        kind=kind,
        tenant_id=tenant_id,
        payload=payload,
        status="queued",
        max_attempts=max_attempts,
    )
    session.add(job)
    return job


async def get_job(session: AsyncSession, *, principal: Principal, job_id: uuid.UUID) -> Job:
    """A job of the caller's tenant (platform admins: any job); 404 otherwise."""
    job = await session.get(Job, job_id)
    if job is None or (not principal.is_platform_admin and job.tenant_id != principal.tenant_id):
        raise NotFound("job not found")
    return job


async def claim_next(session: AsyncSession) -> Job | None:
    """Atomically move the oldest runnable queued job to running and return it."""
    now = datetime.now(UTC)
    candidates = (
        await session.scalars(
            select(Job.id)
            .where(Job.status == "queued", or_(Job.run_after.is_(None), Job.run_after <= now))
            .order_by(Job.created_at)
            .limit(5)
        )
    ).all()
    for job_id in candidates:
        claimed = await session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "queued")
            .values(status="running", attempts=Job.attempts + 1, started_at=now, updated_at=now)
        )
        await session.commit()
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            return await session.get(Job, job_id, populate_existing=True)
    return None


async def finish(
    session: AsyncSession,
    *,
    job_id: uuid.UUID,
    status: str,
    error: str | None = None,
    retry_in_s: float | None = None,
) -> None:
    """Record the outcome; with ``retry_in_s`` the job goes back to the queue."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {"error": error, "updated_at": now}
    if retry_in_s is not None:
        values |= {"status": "queued", "run_after": now + timedelta(seconds=retry_in_s)}
    else:
        values |= {"status": status, "finished_at": now}
        if status == "succeeded":
            values["progress"] = 1.0
    # Only a running job is finished: a cancellation in the meantime wins.
    await session.execute(
        update(Job).where(Job.id == job_id, Job.status == "running").values(**values)
    )
    await session.commit()


async def requeue_interrupted(session: AsyncSession) -> int:
    """Jobs left running by a crash go back to the queue (single-node start-up)."""
    result = await session.execute(
        update(Job)
        .where(Job.status == "running")
        .values(status="queued", run_after=None, updated_at=datetime.now(UTC))
    )
    await session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]


async def cancel(session: AsyncSession, *, principal: Principal, job_id: uuid.UUID) -> Job:
    """Cancel a queued or running job of the caller's tenant (running ones stop between steps)."""
    job = await get_job(session, principal=principal, job_id=job_id)
    if job.status not in ("queued", "running"):
        raise Conflict(f"the job is already {job.status}", code="job_finished")
    now = datetime.now(UTC)
    job.status, job.finished_at, job.error = "cancelled", now, "cancelled by request"
    await session.commit()
    return job


async def is_cancelled(session: AsyncSession, job_id: uuid.UUID) -> bool:
    """Whether a running job was cancelled."""
    status = await session.scalar(select(Job.status).where(Job.id == job_id))
    return status == "cancelled"


async def set_progress(session: AsyncSession, job_id: uuid.UUID, progress: float) -> None:
    """Record progress in [0, 1]."""
    await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "running")
        .values(progress=max(0.0, min(1.0, progress)), updated_at=datetime.now(UTC))
    )
    await session.commit()
