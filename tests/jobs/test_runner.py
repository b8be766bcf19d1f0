from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from ragplatform.db.engine import Database
from ragplatform.jobs import service
from ragplatform.jobs.models import Job
from ragplatform.jobs.runner import JobContext, JobRunner, PermanentJobError
from ragplatform.settings import Settings
from ragplatform.tenancy.principal import Principal
from ragplatform.tenancy.roles import Role


@pytest.fixture
async def db(migrated: Settings) -> AsyncIterator[Database]:
    database = Database(migrated.database_url, migrated.database)
    yield database
    await database.dispose()


async def _enqueue(db: Database, kind: str, **payload: object) -> uuid.UUID:
    async with db.session() as session:
        job = service.enqueue(
            session, kind=kind, tenant_id=None, payload=dict(payload), max_attempts=3
        )
        await session.commit()
        return job.id


async def _wait_done(db: Database, job_id: uuid.UUID, timeout_s: float = 10) -> Job:
    async with asyncio.timeout(timeout_s):
        while True:
            async with db.session() as session:
                job = await session.get(Job, job_id)
                assert job is not None
                if job.status in ("succeeded", "failed", "cancelled"):
                    return job
            await asyncio.sleep(0.02)


def _runner(db: Database, settings: Settings, handlers: dict, **kw: float) -> JobRunner:  # type: ignore[type-arg]
    return JobRunner(
        JobContext(db=db, settings=settings),
        handlers,
        poll_interval_s=kw.get("poll", 0.05),
        base_backoff_s=0.01,
    )


async def test_transient_failures_are_retried_until_success(
    db: Database, migrated: Settings
) -> None:
    calls: list[int] = []

    async def flaky(ctx: JobContext, job: Job) -> None:
        calls.append(job.attempts)
        if len(calls) < 3:
            raise ConnectionError("upstream blip")

    runner = _runner(db, migrated, {"flaky": flaky})
    await runner.start()
    job_id = await _enqueue(db, "flaky")
    runner.notify()
    job = await _wait_done(db, job_id)
    await runner.stop()
    assert job.status == "succeeded" and job.attempts == 3 and job.progress == 1.0
    assert calls == [1, 2, 3]


async def test_attempts_are_bounded(db: Database, migrated: Settings) -> None:
    async def broken(ctx: JobContext, job: Job) -> None:
        raise RuntimeError("always")

    runner = _runner(db, migrated, {"broken": broken})
    await runner.start()
    job = await _wait_done(db, await _enqueue(db, "broken"))
    await runner.stop()
    assert job.status == "failed" and job.attempts == 3
    assert job.error == "RuntimeError: attempt 3 failed"


async def test_permanent_errors_fail_at_once_with_their_message(
    db: Database, migrated: Settings
) -> None:
    async def corrupt(ctx: JobContext, job: Job) -> None:
        raise PermanentJobError("the PDF is encrypted")

    runner = _runner(db, migrated, {"corrupt": corrupt})
    await runner.start()
    job = await _wait_done(db, await _enqueue(db, "corrupt"))
    await runner.stop()
    assert (job.status, job.attempts, job.error) == ("failed", 1, "the PDF is encrypted")


async def test_unknown_kind_fails_clearly(db: Database, migrated: Settings) -> None:
    runner = _runner(db, migrated, {})
    await runner.start()
    job = await _wait_done(db, await _enqueue(db, "mystery"))
    await runner.stop()
    assert job.status == "failed" and "mystery" in (job.error or "")


async def test_jobs_interrupted_by_shutdown_resume_at_next_start(
    db: Database, migrated: Settings
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    runs: list[int] = []

    async def slow(ctx: JobContext, job: Job) -> None:
        runs.append(job.attempts)
        started.set()
        await release.wait()

    first = _runner(db, migrated, {"slow": slow})
    await first.start()
    job_id = await _enqueue(db, "slow")
    first.notify()
    await asyncio.wait_for(started.wait(), 10)
    await first.stop(timeout_s=0.05)  # the job is still running: cancelled, left 'running'
    async with db.session() as session:
        assert (await session.get(Job, job_id)).status == "running"  # type: ignore[union-attr]

    release.set()
    second = _runner(db, migrated, {"slow": slow})
    await second.start()  # like a restart after a crash
    job = await _wait_done(db, job_id)
    await second.stop()
    assert job.status == "succeeded" and runs == [1, 2]


async def test_get_job_is_tenant_scoped(db: Database) -> None:
    tenant_a, tenant_b = uuid.uuid4(), uuid.uuid4()
    async with db.session() as session:
        job = service.enqueue(session, kind="k", tenant_id=tenant_a, payload={})
        await session.commit()
        owner_a = Principal(kind="api_key", id=uuid.uuid4(), role=Role.VIEWER, tenant_id=tenant_a)
        owner_b = Principal(kind="api_key", id=uuid.uuid4(), role=Role.OWNER, tenant_id=tenant_b)
        platform = Principal(
            kind="api_key", id=uuid.uuid4(), role=Role.PLATFORM_ADMIN, tenant_id=None
        )
        assert (await service.get_job(session, principal=owner_a, job_id=job.id)).id == job.id
        assert (await service.get_job(session, principal=platform, job_id=job.id)).id == job.id
        from ragplatform.errors import NotFound

        with pytest.raises(NotFound):
            await service.get_job(session, principal=owner_b, job_id=job.id)


async def test_a_locked_database_does_not_lose_the_outcome(migrated: Settings) -> None:
    """The outcome is recorded once the lock is gone, not dropped (the job would hang)."""
    import sqlite3

    from sqlalchemy import make_url

    settings = migrated.model_copy(
        update={"database": migrated.database.model_copy(update={"busy_timeout_ms": 20})}
    )
    database = Database(settings.database_url, settings.database)
    path = make_url(settings.database_url).database
    assert path is not None
    locker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        job_id = await _enqueue(database, "locks")

        async def take_the_lock(ctx: JobContext, job: Job) -> None:
            locker.execute("BEGIN IMMEDIATE")  # another process writing for a while
            asyncio.get_running_loop().call_later(0.4, locker.rollback)

        runner = _runner(database, settings, {"locks": take_the_lock})
        await runner.start()
        try:
            job = await _wait_done(database, job_id)
        finally:
            await runner.stop()
        assert job.status == "succeeded" and job.attempts == 1
    finally:
        locker.close()
        await database.dispose()
