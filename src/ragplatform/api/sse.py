"""Server-Sent Events for streamed answers: ``citations``, ``delta``…, ``done`` (or ``error``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from ragplatform.errors import RagPlatformError
from ragplatform.observability.logging import get_logger
from ragplatform.retrieval.answer import AnswerDone, AnswerEvent, AnswerStart, AnswerText

_log = get_logger("ragplatform.sse")
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse_event(event: str, data: Any) -> bytes:
    """One SSE message (``data`` as one JSON line)."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _encode(event: AnswerEvent) -> bytes:
    if isinstance(event, AnswerStart):
        citations = [c.model_dump(mode="json") for c in event.citations]
        return sse_event(
            "citations", {"citations": citations, "mode": event.mode, "model": event.model}
        )
    if isinstance(event, AnswerText):
        return sse_event("delta", {"text": event.text})
    return sse_event("done", {"usage": event.usage.model_dump(), "cached": event.cached})


async def answer_events(
    events: AsyncIterator[AnswerEvent], *, request_id: str | None
) -> AsyncIterator[bytes]:
    """The SSE bytes of an answer; a failure mid-stream becomes a final ``error`` event."""
    try:
        async for event in events:
            yield _encode(event)
    except RagPlatformError as exc:
        yield sse_event(
            "error",
            {"code": exc.code, "detail": exc.detail, "request_id": request_id},
        )
    except Exception:
        _log.exception("answer_stream_failed")
        yield sse_event(
            "error",
            {"code": "internal_error", "detail": "the answer failed", "request_id": request_id},
        )
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()


async def primed(events: AsyncIterator[AnswerEvent]) -> AsyncIterator[AnswerEvent]:
    """``events`` after pulling its first two so early failures still become HTTP errors."""
    head: list[AnswerEvent] = []
    async for event in events:
        head.append(event)
        if len(head) == 2 or isinstance(event, AnswerDone):
            break

    async def replay() -> AsyncIterator[AnswerEvent]:
        try:
            for event in head:
                yield event
            if not isinstance(head[-1], AnswerDone):
                async for event in events:
                    yield event
        finally:
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()

    return replay()
