"""A real ``/rerank`` server for tests on a local cross-encoder, with switchable failures.

``POST /rerank`` answers like Hugging Face TEI (``[{"index", "score"}]``, best first);
``POST /v1/rerank`` like Cohere, Jina and vLLM (``{"results": [{"index", "relevance_score"}]}``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class RerankState:
    """Switchable behaviour of the test server, and what it received."""

    fail_times: int = 0
    fail_status: int = 503
    fail_message: str = "overloaded"
    retry_after: str | None = None
    delay_s: float = 0.0
    override: Any = None
    requests: list[dict[str, Any]] = field(default_factory=list)

    def reset(self) -> None:
        """Back to a healthy server with no recorded requests."""
        self.fail_times, self.fail_status, self.fail_message = 0, 503, "overloaded"
        self.retry_after, self.delay_s, self.override = None, 0.0, None
        self.requests.clear()


def rerank_app(model: Any, state: RerankState) -> Starlette:
    """Both ``/rerank`` shapes on ``model`` (a sentence-transformers ``CrossEncoder``)."""

    async def score(request: Request, *, tei: bool) -> Response:
        body = await request.json()
        state.requests.append({"path": request.url.path, "headers": dict(request.headers), **body})
        # Decided on arrival: a request still sleeping when the next test starts uses none of
        # that test's failures.
        canned: Response | None = None
        if state.fail_times > 0:
            state.fail_times -= 1
            headers = {"Retry-After": state.retry_after} if state.retry_after else {}
            canned = JSONResponse(
                {"error": state.fail_message}, status_code=state.fail_status, headers=headers
            )
        elif isinstance(state.override, str):
            canned = Response(state.override, media_type="application/json")
        elif state.override is not None:
            canned = JSONResponse(state.override)
        if state.delay_s:
            await asyncio.sleep(state.delay_s)
        if canned is not None:
            return canned
        texts = body["texts"] if tei else body["documents"]
        pairs = [(body["query"], text) for text in texts]
        scores = await asyncio.to_thread(model.predict, pairs, show_progress_bar=False)
        ranked = sorted(enumerate(scores.tolist()), key=lambda item: -item[1])  # best first
        if tei:
            return JSONResponse([{"index": i, "score": s} for i, s in ranked])
        top = ranked[: body.get("top_n") or len(ranked)]
        results = [{"index": i, "relevance_score": s} for i, s in top]
        return JSONResponse({"id": "rerank-test", "model": body.get("model"), "results": results})

    async def tei(request: Request) -> Response:
        return await score(request, tei=True)

    async def cohere(request: Request) -> Response:
        return await score(request, tei=False)

    return Starlette(
        routes=[
            Route("/rerank", tei, methods=["POST"]),
            Route("/v1/rerank", cohere, methods=["POST"]),
        ]
    )
