"""The CLI's HTTP client against a real local server: retries, problems, SSE answers."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ragplatform.client import ApiClient, ApiError
from ragplatform.query_cli import parse_filter_option, print_hits, stream_answer
from tests.adapters.llms.server import serve

calls: dict[str, int] = {}


async def busy_once(request: Request) -> Response:
    calls["busy"] = calls.get("busy", 0) + 1
    if calls["busy"] == 1:
        return JSONResponse({"code": "database_unavailable"}, 503, {"Retry-After": "0"})
    return JSONResponse({"ok": True, "files": len((await request.form()).getlist("files"))})


async def always_limited(request: Request) -> Response:
    calls["limited"] = calls.get("limited", 0) + 1
    return JSONResponse({"code": "rate_limited", "detail": "slow down"}, 429, {"Retry-After": "0"})


async def answer(request: Request) -> Response:
    async def events() -> AsyncIterator[bytes]:
        citation = '{"n": 1, "title": "Doc", "document_id": "d", "page": 2}'
        yield f'event: citations\ndata: {{"citations": [{citation}]}}\n\n'.encode()
        yield b'event: delta\ndata: {"text": "Yes [1]."}\n\n'
        yield b'event: done\ndata: {"usage": {}}\n\n'

    return StreamingResponse(events(), media_type="text/event-stream")


async def broken(request: Request) -> Response:
    async def events() -> AsyncIterator[bytes]:
        yield b'event: error\ndata: {"code": "llm_unavailable", "detail": "down"}\n\n'

    return StreamingResponse(events(), media_type="text/event-stream")


APP = Starlette(
    routes=[
        Route("/busy", busy_once, methods=["GET", "POST"]),
        Route("/limited", always_limited, methods=["GET"]),
        Route("/api/v1/ask", answer, methods=["POST"]),
        Route("/broken/api/v1/ask", broken, methods=["POST"]),
    ]
)


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with serve(APP) as url:
        yield url.removesuffix("/v1")


def test_503_is_retried_after_retry_after(base: str, tmp_path: Path) -> None:
    calls.clear()
    client = ApiClient(base, "k")
    try:
        file = tmp_path / "a.txt"
        file.write_text("hello")
        assert client.upload("/busy", file) == {"ok": True, "files": 1}
        assert calls["busy"] == 2
    finally:
        client.close()


def test_persistent_429_becomes_an_api_error(base: str) -> None:
    calls.clear()
    client = ApiClient(base, "k")
    with pytest.raises(ApiError, match=r"slow down \(429 rate_limited\)"):
        client.get("/limited")
    client.close()
    assert calls["limited"] == 6


def test_answers_stream_to_the_terminal(base: str) -> None:
    client = ApiClient(base, "k")
    out = io.StringIO()
    stream_answer(client, {"question": "q"}, out)
    assert out.getvalue() == "Yes [1].\n\nSources:\n  [1] Doc, p.2\n"
    client.close()
    failing = ApiClient(base + "/broken", "k")
    with pytest.raises(ApiError, match="down"):
        stream_answer(failing, {"question": "q"}, io.StringIO())
    failing.close()


def test_filter_option_and_hits() -> None:
    assert parse_filter_option(None) is None
    assert parse_filter_option('{"field": "a", "eq": 1}') == {"field": "a", "eq": 1}
    with pytest.raises(ValueError, match="must be a JSON object"):
        parse_filter_option("[1]")
    out = io.StringIO()
    print_hits({"hits": []}, out)
    assert out.getvalue() == "no results\n"
