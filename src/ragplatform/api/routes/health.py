"""Operations endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from ragplatform.api.problems import problem_response, request_id_from_scope
from ragplatform.health import run_checks
from ragplatform.observability.metrics import Metrics

router = APIRouter(tags=["operations"])

READINESS_TIMEOUT_S = 3.0


@router.get("/healthz", summary="Liveness: the process answers (touches nothing)")
async def healthz() -> dict[str, str]:
    """Always 200 while the event loop runs."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: every dependency answers",
    responses={503: {"description": "A dependency failed; `checks` names it"}},
)
async def readyz(request: Request) -> Any:
    """200 with each check's result, or a 503 problem naming what failed."""
    results = await run_checks(request.state.checks, READINESS_TIMEOUT_S)
    checks = {name: r.as_dict() for name, r in results.items()}
    failed = sorted(name for name, r in results.items() if not r.ok)
    if failed:
        return problem_response(
            503,
            "not_ready",
            f"not ready: {', '.join(failed)} failed",
            request_id_from_scope(request.scope),
            headers={"Retry-After": "5"},
            extra={"checks": checks},
        )
    return {"status": "ready", "checks": checks}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """The exposition text of this app's registry."""
    registry: Metrics = request.state.metrics
    return Response(registry.render(), media_type=registry.content_type)
