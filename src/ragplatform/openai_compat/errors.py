"""OpenAI's error object, rendered for every failure on the ``/v1`` routes (no HTTP here).

The status stays the platform's, except that 422 becomes 400 as OpenAI sends for every invalid
request. ``type`` follows OpenAI; ``code`` keeps the platform's code except where OpenAI has a
well-known one (``invalid_api_key``, ``rate_limit_exceeded``, ``service_unavailable``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from ragplatform.errors import InvalidInput, NotFound

OPENAI_PREFIX = "/v1"
MAX_LISTED_ERRORS = 5

_TYPE_FOR_STATUS = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


class OpenAIError(BaseModel):
    """What went wrong, in OpenAI's words."""

    message: str
    type: str = Field(examples=["invalid_request_error"])
    param: str | None = Field(default=None, examples=["model"])
    code: str | None = Field(default=None, examples=["model_not_found"])


class OpenAIErrorResponse(BaseModel):
    """The body of every error on the OpenAI-compatible routes."""

    error: OpenAIError


class InvalidParam(InvalidInput):
    """An invalid request parameter, named in the error's ``param``."""

    def __init__(self, detail: str, *, param: str, code: str | None = None) -> None:
        super().__init__(detail, code=code)
        self.param = param


class ModelNotFound(NotFound):
    """The model is unknown, or not one the caller may use."""

    code = "model_not_found"
    param = "model"

    def __init__(self, model: str) -> None:
        super().__init__(f"The model '{model}' does not exist or you do not have access to it.")


def is_openai_path(path: str) -> bool:
    """Whether a request path belongs to the OpenAI-compatible API."""
    return path == OPENAI_PREFIX or path.startswith(OPENAI_PREFIX + "/")


def _type_for(status: int) -> str:
    if status >= 500:
        return "api_error"
    return _TYPE_FOR_STATUS.get(status, "invalid_request_error")


def _code_for(status: int, code: str) -> str:
    if status == 401:
        return "invalid_api_key"
    if status == 503:
        return "service_unavailable"
    if code == "rate_limited":
        return "rate_limit_exceeded"
    return code


def openai_error(
    status: int, code: str, message: str | None, *, param: str | None = None
) -> tuple[int, dict[str, Any]]:
    """The status and body OpenAI's clients expect for a platform error."""
    status = 400 if status == 422 else status
    error = OpenAIError(
        message=message or code,
        type=_type_for(status),
        param=param,
        code=_code_for(status, code),
    )
    return status, OpenAIErrorResponse(error=error).model_dump()


def _param(loc: Sequence[str | int]) -> str | None:
    """``body.messages.0.content`` as OpenAI names it: ``messages[0].content``."""
    parts = list(loc[1:] if loc and loc[0] in ("body", "query", "path") else loc)
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or None


def validation_error(field_errors: Sequence[dict[str, Any]]) -> tuple[str, str | None]:
    """A readable message for request validation failures, and the first failing parameter."""
    described: list[str] = []
    first: str | None = None
    for err in field_errors[:MAX_LISTED_ERRORS]:
        param = _param(err.get("loc", ()))
        first = first or param
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        described.append(f"{param}: {msg}" if param else msg)
    more = len(field_errors) - len(described)
    message = "Invalid request: " + "; ".join(described)
    if more > 0:
        message += f" (and {more} more)"
    return message, first
