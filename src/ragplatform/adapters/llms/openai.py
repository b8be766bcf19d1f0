"""Answers from any OpenAI-compatible ``/chat/completions`` endpoint (vLLM, Ollama, llama.cpp)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from ragplatform.adapters.embedders.openai import approximate_tokens
from ragplatform.adapters.http_retry import (
    CONFIG_STATUSES,
    RetryPolicy,
    one_line,
    parse_retry_after,
    upstream_message,
)
from ragplatform.answer_settings import LlmSettings
from ragplatform.errors import InvalidInput, StartupError, Unavailable
from ragplatform.ports import ChatDelta, ChatPrompt, ChatUsage

PING_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 10.0
DEFAULT_RETRY_AFTER_S = 5
# Retried before the first token: the request may succeed a moment later.
RETRY_STATUSES = frozenset({408, 409, 425, 429})
# Tokens a chat template adds around each message (role markers); keeps the estimate high.
MESSAGE_OVERHEAD_TOKENS = 4


class _Retryable(Exception):
    """An attempt failed in a way a later attempt may not (transport error, 429, 5xx)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass
class _Attempt:
    """What one request has streamed so far."""

    texts: list[str] = field(default_factory=list)
    usage: ChatUsage | None = None
    finished: bool = False


def _usage(value: Any) -> ChatUsage | None:
    """The ``usage`` object of a chunk, if it carries a valid one."""
    if not isinstance(value, dict):
        return None
    prompt, completion = value.get("prompt_tokens"), value.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return ChatUsage(prompt_tokens=prompt, completion_tokens=completion)


class OpenAIChatModel:
    """A streaming client of ``POST {base_url}/chat/completions`` with retries and a cap.

    Retries (backoff with full jitter, ``Retry-After`` honoured) happen only before the first
    token has been yielded, so text is never duplicated. Counter for metrics: ``retries``.
    """

    mode: Literal["extractive", "generative"] = "generative"

    def __init__(
        self,
        *,
        settings: LlmSettings,
        retry: RetryPolicy | None = None,
        ping_timeout_s: float = PING_TIMEOUT_S,
    ) -> None:
        if not settings.base_url:
            raise StartupError("RAG_LLM__BASE_URL: required when RAG_LLM__PROVIDER=openai")
        self._settings = settings
        base = settings.base_url.rstrip("/")
        self._url = base + "/chat/completions"
        self._models_url = base + "/models"
        url = httpx.URL(self._url)
        self.host = f"{url.host}:{url.port}" if url.port else url.host
        self._secret = settings.api_key.get_secret_value() if settings.api_key else None
        headers = {"Authorization": f"Bearer {self._secret}"} if self._secret else {}
        timeout = httpx.Timeout(
            settings.timeout_s, connect=min(CONNECT_TIMEOUT_S, settings.timeout_s)
        )
        self._client = httpx.AsyncClient(timeout=timeout, headers=headers)
        self._retry = retry or RetryPolicy()
        self._ping_timeout_s = min(ping_timeout_s, settings.timeout_s)
        self._limit = asyncio.Semaphore(settings.max_concurrency)
        self._closed = False
        self.name = settings.model
        self.context_tokens = settings.context_tokens
        self.retries = 0

    def count_tokens(self, text: str) -> int:
        """An upper-bound estimate (see :func:`approximate_tokens`); no remote tokenizer exists."""
        return approximate_tokens(text)

    def _unavailable(self, reason: str, retry_after: float | None = None) -> Unavailable:
        return Unavailable(
            f"the chat model at {self.host} is unavailable ({one_line(reason, self._secret)})",
            retry_after=math.ceil(retry_after) if retry_after else DEFAULT_RETRY_AFTER_S,
            code="llm_unavailable",
        )

    def _misconfigured(self, response: httpx.Response) -> Unavailable:
        message = upstream_message(response, self._secret)
        return Unavailable(
            f"the chat model at {self.host} refused the request "
            f"(HTTP {response.status_code}: {message}); "
            "check RAG_LLM__BASE_URL, RAG_LLM__MODEL and RAG_LLM__API_KEY",
            code="llm_misconfigured",
        )

    def _rejected(self, response: httpx.Response) -> Exception:
        if response.status_code in CONFIG_STATUSES:
            return self._misconfigured(response)
        message = upstream_message(response, self._secret)
        status = response.status_code
        return InvalidInput(
            f"the chat model rejected the prompt (HTTP {status}): {message}",
            code="llm_rejected",
        )

    def _bad_response(self) -> Unavailable:
        return Unavailable(
            f"the chat model at {self.host} sent a response that is not an OpenAI chat stream",
            code="llm_bad_response",
        )

    def _body(self, prompt: ChatPrompt) -> dict[str, Any]:
        messages = [{"role": m.role, "content": m.content} for m in prompt.messages]
        return {
            "model": self.name,
            "messages": messages or [{"role": "user", "content": prompt.question}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": prompt.max_tokens,
            "temperature": prompt.temperature,
        }

    def _estimate(self, prompt: ChatPrompt, completion: str) -> ChatUsage:
        """Usage counted with :meth:`count_tokens` when the server reports none."""
        contents = [m.content for m in prompt.messages] or [prompt.question]
        prompt_tokens = sum(self.count_tokens(c) + MESSAGE_OVERHEAD_TOKENS for c in contents)
        return ChatUsage(
            prompt_tokens=prompt_tokens, completion_tokens=self.count_tokens(completion)
        )

    def _parse_event(self, data: str, attempt: _Attempt) -> str:
        """The text of one SSE ``data:`` payload; records usage and the end of the answer."""
        try:
            chunk = json.loads(data)
        except ValueError:
            raise self._bad_response() from None
        if not isinstance(chunk, dict):
            raise self._bad_response()
        if chunk.get("error"):
            error = chunk["error"]
            message = error.get("message") if isinstance(error, dict) else error
            raise self._unavailable(f"error in the stream: {message}")
        attempt.usage = _usage(chunk.get("usage")) or attempt.usage
        text = ""
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            content = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(content, str):
                text += content
            if choice.get("finish_reason"):
                attempt.finished = True
        return text

    def _parse_completion(self, content: bytes, attempt: _Attempt) -> str:
        """The text of a non-streamed completion (servers that ignore ``stream: true``)."""
        try:
            completion = json.loads(content)
            text = completion["choices"][0]["message"]["content"] or ""
            if not isinstance(text, str):
                raise TypeError("content is not a string")
        except (ValueError, KeyError, IndexError, TypeError):
            raise self._bad_response() from None
        attempt.usage = _usage(completion.get("usage"))
        attempt.finished = True
        return text

    async def _texts(self, body: dict[str, Any], attempt: _Attempt) -> AsyncGenerator[str, None]:
        """One request's text pieces; :class:`_Retryable` for failures worth another try."""
        try:
            async with self._client.stream(
                "POST", self._url, json=body, headers={"Accept": "text/event-stream"}
            ) as response:
                status = response.status_code
                if not 200 <= status < 300:
                    await response.aread()
                    if status in RETRY_STATUSES or status >= 500:
                        retry_after = parse_retry_after(response.headers.get("retry-after"))
                        raise _Retryable(f"HTTP {status}", retry_after)
                    raise self._rejected(response)
                if response.headers.get("content-type", "").startswith("application/json"):
                    text = self._parse_completion(await response.aread(), attempt)
                    if text:  # a server that ignored ``stream: true`` sent the whole answer
                        attempt.texts.append(text)
                        yield text
                    return
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue  # blank separators, comments, event names, ids
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    text = self._parse_event(data, attempt)
                    if text:
                        attempt.texts.append(text)
                        yield text
        except httpx.TransportError as exc:  # connect errors, timeouts, dropped connections
            raise _Retryable(type(exc).__name__) from None
        except httpx.DecodingError:
            raise self._bad_response() from None
        if not attempt.finished:
            raise _Retryable("the stream ended before the answer did")

    async def stream(self, prompt: ChatPrompt) -> AsyncIterator[ChatDelta]:
        """Text deltas, then one delta with usage; closing the iterator closes the request."""
        if self._closed:
            raise Unavailable("the chat model client is closed", code="llm_closed")
        body = self._body(prompt)
        async with self._limit:  # held across backoffs: a failing upstream is not flooded
            tries = 0
            while True:
                attempt = _Attempt()
                try:
                    async with contextlib.aclosing(self._texts(body, attempt)) as texts:
                        async for text in texts:
                            yield ChatDelta(text=text)
                except _Retryable as exc:
                    if attempt.texts:  # never retry once text went out: it would repeat
                        raise self._unavailable(
                            f"the stream broke after {len(attempt.texts)} deltas: {exc.reason}"
                        ) from None
                    if tries >= self._settings.max_retries:
                        raise self._unavailable(exc.reason, exc.retry_after) from None
                    await asyncio.sleep(self._retry.delay(tries, exc.retry_after))
                    tries += 1
                    self.retries += 1
                    continue
                usage = attempt.usage or self._estimate(prompt, "".join(attempt.texts))
                yield ChatDelta(usage=usage)
                return

    async def ping(self) -> None:
        """``GET {base_url}/models`` once, with a short timeout and no retries."""
        if self._closed:
            raise Unavailable("the chat model client is closed", code="llm_closed")
        try:
            response = await self._client.get(self._models_url, timeout=self._ping_timeout_s)
        except httpx.TransportError as exc:
            raise self._unavailable(type(exc).__name__) from None
        status = response.status_code
        if 200 <= status < 300:
            return
        if status in CONFIG_STATUSES:
            raise self._misconfigured(response)
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        raise self._unavailable(f"HTTP {status}", retry_after)

    async def close(self) -> None:
        """Close the HTTP client; later calls raise :class:`Unavailable`."""
        self._closed = True
        await self._client.aclose()
