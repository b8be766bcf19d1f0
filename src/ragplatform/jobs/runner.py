"""The in-process job runner: claims queued jobs and runs their handlers with retries."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ragplatform.db.engine import Database
from ragplatform.errors import Unavailable
from ragplatform.jobs import service
from ragplatform.jobs.models import Job
from ragplatform.observability.logging import get_logger
from ragplatform.settings import Settings

_log = get_logger("ragplatform.jobs")
FINISH_ATTEMPTS = 8


class PermanentJobError(Exception):
    """A failure that retrying cannot fix; the message is shown to the user."""


class JobCancelled(Exception):
    """The job was cancelled while running; it stops without retry."""


@dataclass(frozen=True)
class JobContext:
    """What a handler may use (components are None where an app does not have them)."""

    db: Database
    settings: Settings
    embedder: Any = None
    vectors: Any = None
    originals: Any = None
    metrics: Any = None


Handler = Callable[[JobContext, Job], Awaitable[None]]


class JobRunner:
    """Runs jobs as tasks inside this process; ``notify`` wakes it when a job is committed."""

    def __init__(
        self,
        context: JobContext,
        handlers: dict[str, Handler],
        *,
        concurrency: int = 2,
        poll_interval_s: float = 2.0,
        base_backoff_s: float = 1.0,
    ) -> None:
        self.context = context
        self.handlers = handlers
        self.poll_interval_s = poll_interval_s
        self.base_backoff_s = base_backoff_s
        self._slots = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Resume interrupted jobs and start polling."""
        async with self.context.db.session() as session:
            resumed = await service.requeue_interrupted(session)
        if resumed:
            _log.warning("jobs_resumed", count=resumed)
        self._loop_task = asyncio.create_task(self._loop(), name="job-runner")

    def notify(self) -> None:
        """A job was committed: look now instead of at the next poll."""
        self._wake.set()

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Stop claiming; give running jobs ``timeout_s`` to finish (the rest resume later)."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        if self._running:
            _, pending = await asyncio.wait(self._running, timeout=timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            await self._slots.acquire()
            try:
                async with self.context.db.session() as session:
                    job = await service.claim_next(session)
            except Exception:
                self._slots.release()
                _log.exception("job_claim_failed")
                await asyncio.sleep(self.poll_interval_s)
                continue
            if job is None:
                self._slots.release()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_interval_s):
                        await self._wake.wait()
                self._wake.clear()
                continue
            task = asyncio.create_task(self._run(job), name=f"job-{job.id}")
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, job: Job) -> None:
        try:
            await self._execute(job)
        finally:
            self._slots.release()

    async def _finish(
        self, job: Job, *, status: str, error: str | None, retry: float | None, log: Any
    ) -> None:
        """Record the outcome, retrying while the database is briefly unavailable.

        Were it lost, the job would stay ``running`` until the next start resumes it.
        """
        for attempt in range(FINISH_ATTEMPTS):
            try:
                async with self.context.db.session() as session:
                    await service.finish(
                        session, job_id=job.id, status=status, error=error, retry_in_s=retry
                    )
                return
            except Unavailable:
                if attempt == FINISH_ATTEMPTS - 1:
                    log.exception("job_finish_failed")
                    return
                await asyncio.sleep(min(0.1 * 2**attempt, 5.0))

    async def _execute(self, job: Job) -> None:
        log = _log.bind(job_id=str(job.id), kind=job.kind, attempt=job.attempts)
        handler = self.handlers.get(job.kind)
        status, error, retry = "succeeded", None, None
        if handler is None:
            status, error = "failed", f"no handler for job kind {job.kind!r}"
        else:
            try:
                await handler(self.context, job)
            except asyncio.CancelledError:
                raise  # shutting down: the job stays running and resumes at next start
            except JobCancelled:
                log.info("job_cancelled")
                return
            except PermanentJobError as exc:
                status, error = "failed", str(exc)
            except Exception as exc:
                log.exception("job_attempt_failed")
                error = f"{type(exc).__name__}: attempt {job.attempts} failed"
                if job.attempts < job.max_attempts:
                    retry = self.base_backoff_s * 2 ** (job.attempts - 1) * random.uniform(0.8, 1.2)  # noqa: S311
                else:
                    status = "failed"
        await self._finish(job, status=status, error=error, retry=retry, log=log)
        if retry is not None:
            self._wake.set()
        log.info("job_finished" if retry is None else "job_retry_scheduled", status=status)
