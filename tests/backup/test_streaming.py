"""An archive written into a file object, read as an async stream of bytes."""

from __future__ import annotations

import asyncio
from typing import BinaryIO

import pytest

from ragplatform.backup.streaming import stream_archive


async def test_bytes_arrive_in_order_and_in_blocks() -> None:
    async def produce(sink: BinaryIO) -> None:
        for i in range(2000):
            await asyncio.to_thread(sink.write, f"{i:08d}".encode() * 64)

    blocks = [block async for block in stream_archive(produce)]
    data = b"".join(blocks)
    assert data == b"".join(f"{i:08d}".encode() * 64 for i in range(2000))
    assert len(blocks) < 2000 / 100, "small writes are gathered into blocks"


async def test_a_failing_writer_ends_the_stream_with_its_error() -> None:
    async def produce(sink: BinaryIO) -> None:
        await asyncio.to_thread(sink.write, b"x" * (1 << 19))
        raise RuntimeError("the disk is on fire")

    received: list[bytes] = []

    async def drain() -> None:
        async for block in stream_archive(produce):
            received.append(block)

    with pytest.raises(RuntimeError, match="on fire"):
        await drain()
    assert sum(map(len, received)) == 1 << 19


async def test_a_reader_that_goes_away_stops_the_writer() -> None:
    stopped = asyncio.Event()
    failures: list[BaseException] = []

    async def produce(sink: BinaryIO) -> None:
        try:
            while True:
                await asyncio.to_thread(sink.write, b"y" * (1 << 18))
        except BaseException as exc:
            failures.append(exc)
            raise
        finally:
            stopped.set()

    stream = stream_archive(produce)
    assert await anext(stream)
    await stream.aclose()
    await asyncio.wait_for(stopped.wait(), timeout=10)
    assert failures and isinstance(failures[0], BrokenPipeError | asyncio.CancelledError)
