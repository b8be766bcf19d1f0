"""Turning an archive written into a file object into an async stream of bytes (HTTP bodies).

The writer runs as a task whose blocking writes happen in worker threads; a bounded queue
carries the bytes to the consumer, so a slow client slows the writer instead of filling memory.
If the consumer goes away the writer's next write fails and the task ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import BinaryIO, cast

from ragplatform.observability.logging import get_logger

_log = get_logger("ragplatform.backup")
_BUFFER = 1 << 18
_DEPTH = 8
_EOF = b""


class _QueueSink:
    """A write-only file object that hands its bytes, in blocks, to a bounded queue."""

    def __init__(self, chunks: queue.Queue[bytes], gone: threading.Event) -> None:
        self._chunks = chunks
        self._gone = gone
        self._pending = bytearray()

    def write(self, data: bytes) -> int:
        self._pending += data
        if len(self._pending) >= _BUFFER:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self._pending:
            _put(self._chunks, bytes(self._pending), self._gone)
            self._pending.clear()


def _put(chunks: queue.Queue[bytes], chunk: bytes, gone: threading.Event) -> None:
    while True:
        if gone.is_set():
            raise BrokenPipeError("the reader of the archive went away")
        try:
            chunks.put(chunk, timeout=0.2)
            return
        except queue.Full:
            continue


async def stream_archive(produce: Callable[[BinaryIO], Awaitable[object]]) -> AsyncIterator[bytes]:
    """The bytes ``produce(sink)`` writes, as they are written; its error ends the stream."""
    chunks: queue.Queue[bytes] = queue.Queue(maxsize=_DEPTH)
    gone = threading.Event()
    sink = _QueueSink(chunks, gone)

    async def run() -> None:
        try:
            await produce(cast(BinaryIO, sink))
            await asyncio.to_thread(sink.flush)
        finally:
            with contextlib.suppress(BrokenPipeError):
                await asyncio.to_thread(_put, chunks, _EOF, gone)

    task = asyncio.create_task(run(), name="archive-writer")
    try:
        while (chunk := await asyncio.to_thread(chunks.get)) != _EOF:
            yield chunk
        await task
    except Exception:
        _log.exception("archive_stream_failed")
        raise
    finally:
        gone.set()
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
