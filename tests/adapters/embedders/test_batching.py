from __future__ import annotations

import asyncio

import pytest

from ragplatform.adapters.embedders.batching import Coalescer


class Model:
    """Records the batches it was asked to encode; each 'vector' is the text's length."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_on: str | None = None

    async def encode(self, texts: list[str]) -> list[int]:
        self.batches.append(list(texts))
        await self.gate.wait()
        if self.fail_on and self.fail_on in texts:
            raise RuntimeError("model exploded")
        return [len(t) for t in texts]


async def test_requests_queued_during_a_batch_share_the_next_one() -> None:
    model = Model()
    coalescer = Coalescer(model.encode, batch_size=8)
    model.gate.clear()
    first = asyncio.create_task(coalescer.embed(["a"]))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(coalescer.embed(["bb", "ccc"])) for _ in range(3)]
    await asyncio.sleep(0)
    model.gate.set()
    assert await first == [1]
    assert [await r for r in rest] == [[2, 3]] * 3
    assert model.batches == [["a"], ["bb", "ccc", "bb", "ccc", "bb", "ccc"]]
    assert coalescer.batches == 2


async def test_large_requests_are_split_and_reassembled_in_order() -> None:
    model = Model()
    coalescer = Coalescer(model.encode, batch_size=3)
    texts = ["x" * i for i in range(1, 8)]
    assert await coalescer.embed(texts) == list(range(1, 8))
    assert [len(b) for b in model.batches] == [3, 3, 1]


async def test_urgent_requests_go_first() -> None:
    model = Model()
    coalescer = Coalescer(model.encode, batch_size=2)
    model.gate.clear()
    busy = asyncio.create_task(coalescer.embed(["busy"]))
    await asyncio.sleep(0)
    normal = asyncio.create_task(coalescer.embed(["n1", "n2"]))
    urgent = asyncio.create_task(coalescer.embed(["query"], urgent=True))
    await asyncio.sleep(0)
    model.gate.set()
    await asyncio.gather(busy, normal, urgent)
    assert model.batches[1][0] == "query"


async def test_a_failure_reaches_only_the_requests_of_that_batch() -> None:
    model = Model()
    model.fail_on = "bad"
    coalescer = Coalescer(model.encode, batch_size=2)
    model.gate.clear()
    doomed = asyncio.create_task(coalescer.embed(["bad", "x"]))
    await asyncio.sleep(0)
    fine = asyncio.create_task(coalescer.embed(["ok", "ok"]))
    await asyncio.sleep(0)
    model.gate.set()
    with pytest.raises(RuntimeError, match="exploded"):
        await doomed
    assert await fine == [2, 2]


async def test_a_cancelled_caller_is_skipped_and_close_fails_the_queue() -> None:
    model = Model()
    coalescer = Coalescer(model.encode, batch_size=4)
    model.gate.clear()
    running = asyncio.create_task(coalescer.embed(["run"]))
    await asyncio.sleep(0)
    gone = asyncio.create_task(coalescer.embed(["gone"]))
    await asyncio.sleep(0)
    gone.cancel()
    model.gate.set()
    assert await running == [3]
    await asyncio.sleep(0)
    assert ["gone"] not in model.batches
    assert await coalescer.embed([]) == []
    model.gate.clear()
    blocked = asyncio.create_task(coalescer.embed(["a"]))
    queued = asyncio.create_task(coalescer.embed(["b"]))
    await asyncio.sleep(0)
    await coalescer.close()
    for task in (blocked, queued):
        with pytest.raises((RuntimeError, asyncio.CancelledError)):
            await task


async def test_a_request_right_after_a_worker_finishes_is_served() -> None:
    model = Model()
    coalescer = Coalescer(model.encode, batch_size=2)
    for i in range(20):  # back-to-back calls: each lands as the previous worker returns
        assert await coalescer.embed([f"t{i}"]) == [len(f"t{i}")]


async def test_concurrency_runs_batches_in_parallel() -> None:
    model = Model()
    coalescer = Coalescer(model.encode, batch_size=1, concurrency=3)
    model.gate.clear()
    tasks = [asyncio.create_task(coalescer.embed([f"x{i}"])) for i in range(3)]
    await asyncio.sleep(0.01)
    assert len(model.batches) == 3  # all three started before any finished
    model.gate.set()
    await asyncio.gather(*tasks)
