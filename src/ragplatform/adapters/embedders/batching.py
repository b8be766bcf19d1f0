"""Coalesces concurrent embedding requests into full batches.

While the model encodes one batch, new requests queue up; the next batch takes them together
(up to ``batch_size`` texts). Small documents ingested in parallel therefore reach the model in
large batches, which is several times faster on a CPU, without adding any waiting time.
Queries (``urgent``) go ahead of queued document batches.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

V = TypeVar("V")


@dataclass
class _Request(Generic[V]):
    texts: list[str]
    future: asyncio.Future[list[V]]
    taken: int = 0
    results: list[V] = field(default_factory=list)


class Coalescer(Generic[V]):
    """Up to ``concurrency`` encodings at a time; each takes as many queued texts as fit."""

    def __init__(
        self,
        encode: Callable[[list[str]], Awaitable[list[V]]],
        batch_size: int,
        *,
        concurrency: int = 1,
    ) -> None:
        self._encode = encode
        self._batch_size = max(1, batch_size)
        self._concurrency = max(1, concurrency)
        self._urgent: deque[_Request[V]] = deque()
        self._normal: deque[_Request[V]] = deque()
        self._workers: set[asyncio.Task[None]] = set()
        self.batches = 0

    async def embed(self, texts: list[str], *, urgent: bool = False) -> list[V]:
        """The vectors of ``texts``, in order, encoded together with concurrent requests."""
        if not texts:
            return []
        request: _Request[V] = _Request(list(texts), asyncio.get_running_loop().create_future())
        (self._urgent if urgent else self._normal).append(request)
        # A worker that has returned is done at once, but leaves the set only when its
        # done-callback runs: prune first, or this request could wait for no worker at all.
        self._workers = {w for w in self._workers if not w.done()}
        if len(self._workers) < self._concurrency:
            worker = asyncio.create_task(self._drain(), name="embedding-batches")
            self._workers.add(worker)
            worker.add_done_callback(self._workers.discard)
        return await request.future

    def _take(self) -> list[tuple[_Request[V], int, int]]:
        """Slices (request, start, end) filling one batch, urgent requests first."""
        batch: list[tuple[_Request[V], int, int]] = []
        room = self._batch_size
        for queue in (self._urgent, self._normal):
            while queue and room:
                request = queue[0]
                if request.future.done():  # the caller went away
                    queue.popleft()
                    continue
                end = min(len(request.texts), request.taken + room)
                batch.append((request, request.taken, end))
                room -= end - request.taken
                request.taken = end
                if end == len(request.texts):
                    queue.popleft()
        return batch

    async def _drain(self) -> None:
        while batch := self._take():
            texts = [t for request, start, end in batch for t in request.texts[start:end]]
            try:
                vectors = await self._encode(texts)
            except Exception as exc:
                for request, _, _ in batch:
                    self._fail(request, exc)
                continue
            self.batches += 1
            offset = 0
            for request, start, end in batch:
                request.results += vectors[offset : offset + end - start]
                offset += end - start
                if len(request.results) == len(request.texts) and not request.future.done():
                    request.future.set_result(request.results)

    def _fail(self, request: _Request[V], exc: Exception) -> None:
        with contextlib.suppress(ValueError):
            self._urgent.remove(request)
        with contextlib.suppress(ValueError):
            self._normal.remove(request)
        if not request.future.done():
            request.future.set_exception(exc)

    async def close(self) -> None:
        """Stop the workers; queued requests fail."""
        for worker in list(self._workers):
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        for queue in (self._urgent, self._normal):
            while queue:
                request = queue.popleft()
                if not request.future.done():
                    request.future.set_exception(RuntimeError("the embedder is closed"))
