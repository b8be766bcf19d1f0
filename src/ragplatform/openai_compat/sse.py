"""The wire format of streamed completions: ``data: {chunk}`` lines, then ``data: [DONE]``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from ragplatform.api.problems import status_for
from ragplatform.errors import RagPlatformError
from ragplatform.observability.logging import get_logger
from ragplatform.openai_compat.errors import openai_error
from ragplatform.openai_compat.schemas import ChatCompletionChunk

_log = get_logger("ragplatform.openai_compat")
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
DONE = b"data: [DONE]\n\n"


def data_line(payload: dict[str, Any]) -> bytes:
    """One server-sent event carrying ``payload`` as JSON."""
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


async def chunk_events(chunks: AsyncIterator[ChatCompletionChunk]) -> AsyncIterator[bytes]:
    """The chunks as SSE; a failure mid-stream ends it with an OpenAI error object (no DONE)."""
    try:
        async for chunk in chunks:
            yield data_line(chunk.model_dump(mode="json"))
    except RagPlatformError as exc:
        _, body = openai_error(status_for(exc), exc.code, exc.detail)
        yield data_line(body)
        return
    except Exception:
        _log.exception("chat_stream_failed")
        _, body = openai_error(500, "internal_error", "the answer failed")
        yield data_line(body)
        return
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()
    yield DONE
