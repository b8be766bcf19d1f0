"""Shared pieces of the HTTP adapters: backoff with jitter, ``Retry-After`` and error messages."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

MESSAGE_LIMIT = 300
# Statuses that mean the deployment is misconfigured (key, URL, model), not the caller's input.
CONFIG_STATUSES = frozenset({401, 403, 404, 405, 407})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter; ``Retry-After`` is honoured up to a cap."""

    backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    max_retry_after_s: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``attempt + 1``."""
        ceiling = min(self.max_backoff_s, self.backoff_s * 2**attempt)
        backoff = random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography
        if retry_after is None:
            return backoff
        return max(backoff, min(retry_after, self.max_retry_after_s))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), if any."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def upstream_message(response: httpx.Response, secret: str | None = None) -> str:
    """The error message of an upstream response: one line, trimmed, secrets masked."""
    message: Any = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else error
        if not isinstance(message, str):
            message = body.get("message") or body.get("detail")
    if not isinstance(message, str) or not message.strip():
        message = response.text or response.reason_phrase or f"HTTP {response.status_code}"
    return one_line(str(message), secret)


def one_line(message: str, secret: str | None = None) -> str:
    """``message`` on one line, trimmed to :data:`MESSAGE_LIMIT`, with ``secret`` masked."""
    line = " ".join(message.split())
    if secret:
        line = line.replace(secret, "***")
    if len(line) > MESSAGE_LIMIT:
        line = line[: MESSAGE_LIMIT - 1] + "…"
    return line


async def post_with_retries(
    client: httpx.AsyncClient,
    url: str,
    body: Any,
    *,
    retries: int,
    policy: RetryPolicy,
    retry_statuses: Collection[int],
    rejected: Callable[[httpx.Response], Exception],
    unavailable: Callable[[str, float | None], Exception],
    timeout_s: float | None = None,
    on_retry: Callable[[], None] | None = None,
) -> httpx.Response:
    """POST ``body`` as JSON and return the 2xx response.

    Transport errors (connect, timeouts, dropped connections), ``retry_statuses`` and 5xx are
    retried up to ``retries`` times with ``policy``'s backoff (``Retry-After`` honoured), then
    ``unavailable(reason, retry_after)`` is raised; any other status raises ``rejected``.
    """
    attempt = 0
    while True:
        retry_after: float | None = None
        try:
            response = await client.post(
                url,
                json=body,
                timeout=timeout_s if timeout_s is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TransportError as exc:
            reason = type(exc).__name__
        else:
            status = response.status_code
            if 200 <= status < 300:
                return response
            if status not in retry_statuses and status < 500:
                raise rejected(response)
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            reason = f"HTTP {status}"
        if attempt >= retries:
            raise unavailable(reason, retry_after)
        await asyncio.sleep(policy.delay(attempt, retry_after))
        attempt += 1
        if on_retry is not None:
            on_retry()
