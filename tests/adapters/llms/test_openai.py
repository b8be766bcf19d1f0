"""OpenAIChatModel against real local servers: the SmolLM2 model relayed, and scripted ones."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from ragplatform.adapters.embedders.openai import approximate_tokens
from ragplatform.adapters.http_retry import RetryPolicy
from ragplatform.adapters.llms.openai import OpenAIChatModel
from ragplatform.answer_settings import LlmSettings
from ragplatform.errors import InvalidInput, StartupError, Unavailable
from ragplatform.ports import ChatDelta, ChatMessage, ChatModel, ChatPrompt, ChatUsage
from tests.adapters.llms.server import Reply, closed_port
from tests.llm_fixtures import ChatServer

FAST = RetryPolicy(backoff_s=0.001, max_backoff_s=0.01, max_retry_after_s=0.3)
SECRET = "sk-test-secret-value-1234"


class RecordingPolicy(RetryPolicy):
    """The fast policy, remembering every delay it chose."""

    def __init__(self) -> None:
        super().__init__(backoff_s=0.001, max_backoff_s=0.01, max_retry_after_s=0.05)
        object.__setattr__(self, "delays", [])

    def delay(self, attempt: int, retry_after: float | None) -> float:
        chosen = super().delay(attempt, retry_after)
        self.delays.append(chosen)  # type: ignore[attr-defined]
        return chosen


def make(base_url: str, retry: RetryPolicy = FAST, **overrides: Any) -> OpenAIChatModel:
    """A client of ``base_url`` with small timeouts."""
    values: dict[str, Any] = {
        "provider": "openai",
        "model": "test-model",
        "base_url": base_url,
        "timeout_s": 5.0,
        "max_retries": 2,
    }
    values.update(overrides)
    return OpenAIChatModel(settings=LlmSettings(**values), retry=retry)


def prompt(question: str = "What is the capital of France?", max_tokens: int = 32) -> ChatPrompt:
    """A two-message prompt."""
    messages = [
        ChatMessage("system", "Answer in one short sentence."),
        ChatMessage("user", question),
    ]
    return ChatPrompt(
        question=question, passages=[], messages=messages, max_tokens=max_tokens, temperature=0.0
    )


async def collect(model: ChatModel, chat: ChatPrompt) -> tuple[str, ChatUsage | None, int]:
    """The streamed text, the usage of the last delta and the number of deltas."""
    deltas: list[ChatDelta] = [delta async for delta in model.stream(chat)]
    assert all(d.usage is None for d in deltas[:-1])
    return "".join(d.text for d in deltas), deltas[-1].usage, len(deltas)


async def drain(stream: AsyncIterator[ChatDelta], received: list[str]) -> None:
    """Consume ``stream`` into ``received`` (what arrived before an error stays there)."""
    async for delta in stream:
        received.append(delta.text)


# --- the real model behind a real OpenAI-compatible server -----------------------------------


async def test_real_model_streams_text_and_usage(model_server: ChatServer) -> None:
    model = make(model_server.base_url, timeout_s=30)
    text, usage, count = await collect(model, prompt())
    assert text.strip()
    assert count > 2  # streamed in pieces, not in one block
    assert usage is not None
    assert usage.prompt_tokens > 0
    assert 0 < usage.completion_tokens <= 32
    await model.close()


async def test_closing_the_stream_stops_the_upstream_generation(
    model_server: ChatServer,
) -> None:
    model_server.state.suppress_eos = True  # left alone, the model would write 400 tokens
    model = make(model_server.base_url, timeout_s=30)
    stream = model.stream(prompt("Count from 1 to 1000.", max_tokens=400))
    assert isinstance(stream, AsyncIterator)
    received = [await anext(stream) for _ in range(3)]
    assert all(delta.text for delta in received)
    await stream.aclose()  # type: ignore[attr-defined]
    await _until_idle(model_server)
    assert model_server.state.generated < 40
    # the concurrency slot came back: the next answer does not wait
    model_server.state.suppress_eos = False
    text, _, _ = await asyncio.wait_for(collect(model, prompt(max_tokens=8)), 30)
    assert text
    await model.close()


async def test_cancelling_the_consumer_stops_the_upstream_generation(
    model_server: ChatServer,
) -> None:
    model_server.state.suppress_eos = True
    model = make(model_server.base_url, timeout_s=30)
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in model.stream(prompt("Count from 1 to 1000.", max_tokens=400)):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _until_idle(model_server)
    assert model_server.state.generated < 40
    await model.close()


async def _until_idle(server: ChatServer) -> None:
    for _ in range(500):
        if not server.state.generating:
            break
        await asyncio.sleep(0.02)
    assert not server.state.generating, "the upstream kept generating after the client left"


# --- scripted behaviour over a real socket --------------------------------------------------


async def test_request_body_headers_and_server_usage(scripted_server: ChatServer) -> None:
    model = make(scripted_server.base_url, api_key=SECRET)
    text, usage, count = await collect(model, prompt(max_tokens=20))
    assert (text, usage, count) == ("Hello world!", ChatUsage(11, 3), 4)
    request = scripted_server.state.requests[0]
    assert request["body"] == {
        "model": "test-model",
        "messages": [
            {"role": "system", "content": "Answer in one short sentence."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 20,
        "temperature": 0.0,
    }
    assert request["headers"]["authorization"] == f"Bearer {SECRET}"
    assert (model.name, model.mode, model.context_tokens) == ("test-model", "generative", 4096)
    await model.close()


async def test_usage_is_estimated_when_the_server_sends_none(scripted_server: ChatServer) -> None:
    scripted_server.state.replies.append(Reply(usage=None))
    model = make(scripted_server.base_url)
    chat = prompt()
    text, usage, _ = await collect(model, chat)
    assert usage is not None
    assert usage.completion_tokens == approximate_tokens(text)
    assert usage.prompt_tokens >= sum(approximate_tokens(m.content) for m in chat.messages)
    await model.close()


async def test_a_server_ignoring_stream_true_still_answers(scripted_server: ChatServer) -> None:
    completion = {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 2},
    }
    scripted_server.state.replies.append(Reply(json_body=completion))
    model = make(scripted_server.base_url)
    assert await collect(model, prompt()) == ("Paris.", ChatUsage(9, 2), 2)
    await model.close()


async def test_finish_without_done_is_a_complete_answer(scripted_server: ChatServer) -> None:
    scripted_server.state.replies.append(Reply(done=False))
    model = make(scripted_server.base_url)
    assert (await collect(model, prompt()))[0] == "Hello world!"
    await model.close()


async def test_429_with_retry_after_then_success(scripted_server: ChatServer) -> None:
    scripted_server.state.replies.append(Reply(status=429, retry_after="1"))
    policy = RecordingPolicy()
    model = make(scripted_server.base_url, retry=policy)
    text, _, _ = await collect(model, prompt())
    assert text == "Hello world!"  # once: nothing was duplicated
    assert model.retries == 1
    assert len(scripted_server.state.requests) == 2
    assert policy.delays == [0.05]  # type: ignore[attr-defined]  # Retry-After, capped
    await model.close()


async def test_5xx_until_retries_run_out_is_unavailable(scripted_server: ChatServer) -> None:
    for _ in range(3):
        scripted_server.state.replies.append(Reply(status=503, retry_after="7"))
    model = make(scripted_server.base_url)
    with pytest.raises(Unavailable) as caught:
        await collect(model, prompt())
    host = scripted_server.base_url.split("/")[2]
    assert caught.value.code == "llm_unavailable"
    assert caught.value.retry_after == 7
    assert caught.value.detail == f"the chat model at {host} is unavailable (HTTP 503)"
    assert len(scripted_server.state.requests) == 3
    assert model.retries == 2
    await model.close()


async def test_connection_refused_is_unavailable() -> None:
    model = make(f"http://127.0.0.1:{closed_port()}/v1", max_retries=1)
    with pytest.raises(Unavailable) as caught:
        await collect(model, prompt())
    assert caught.value.code == "llm_unavailable"
    assert "ConnectError" in caught.value.detail
    assert caught.value.retry_after == 5
    assert model.retries == 1
    await model.close()


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_auth_and_url_errors_are_misconfiguration(
    scripted_server: ChatServer, status: int
) -> None:
    scripted_server.state.replies.append(Reply(status=status, message=f"bad key {SECRET}"))
    model = make(scripted_server.base_url, api_key=SECRET)
    with pytest.raises(Unavailable) as caught:
        await collect(model, prompt())
    assert caught.value.code == "llm_misconfigured"
    for name in ("RAG_LLM__BASE_URL", "RAG_LLM__MODEL", "RAG_LLM__API_KEY"):
        assert name in caught.value.detail
    assert SECRET not in caught.value.detail
    assert "bad key ***" in caught.value.detail
    assert len(scripted_server.state.requests) == 1  # not retried
    await model.close()


@pytest.mark.parametrize("status", [400, 422])
async def test_rejected_prompt_is_invalid_input(scripted_server: ChatServer, status: int) -> None:
    message = "This model's maximum context length is 2048 tokens"
    scripted_server.state.replies.append(Reply(status=status, message=message))
    model = make(scripted_server.base_url)
    with pytest.raises(InvalidInput) as caught:
        await collect(model, prompt())
    assert caught.value.code == "llm_rejected"
    assert message in caught.value.detail
    assert len(scripted_server.state.requests) == 1
    await model.close()


async def test_a_stream_cut_before_any_text_is_retried(scripted_server: ChatServer) -> None:
    scripted_server.state.replies.append(Reply(cut_after=0))
    model = make(scripted_server.base_url)
    assert (await collect(model, prompt()))[0] == "Hello world!"
    assert model.retries == 1
    await model.close()


async def test_a_stream_cut_after_text_is_not_retried(scripted_server: ChatServer) -> None:
    scripted_server.state.replies.append(Reply(cut_after=2))
    model = make(scripted_server.base_url)
    received: list[str] = []
    with pytest.raises(Unavailable) as caught:
        await drain(model.stream(prompt()), received)
    assert received == ["Hello", " world"]
    assert caught.value.code == "llm_unavailable"
    assert "after 2 deltas" in caught.value.detail
    assert len(scripted_server.state.requests) == 1
    assert model.retries == 0
    await model.close()


async def test_a_stream_ending_early_after_text_is_unavailable(
    scripted_server: ChatServer,
) -> None:
    events = ['{"choices": [{"index": 0, "delta": {"content": "Hi"}}]}']
    scripted_server.state.replies.append(Reply(raw_events=events))
    model = make(scripted_server.base_url)
    with pytest.raises(Unavailable, match="ended before the answer did"):
        await collect(model, prompt())
    assert len(scripted_server.state.requests) == 1
    await model.close()


async def test_a_slow_upstream_times_out(scripted_server: ChatServer) -> None:
    for _ in range(2):
        scripted_server.state.replies.append(Reply(delay_s=1.0))
    model = make(scripted_server.base_url, timeout_s=0.2, max_retries=1)
    started = time.monotonic()
    with pytest.raises(Unavailable) as caught:
        await collect(model, prompt())
    assert "ReadTimeout" in caught.value.detail
    assert time.monotonic() - started < 1.5
    assert len(scripted_server.state.requests) == 2
    await model.close()


async def test_a_stream_stalling_after_text_times_out_without_retry(
    scripted_server: ChatServer,
) -> None:
    scripted_server.state.replies.append(Reply(chunks=("Hi", " there"), chunk_delay_s=1.0))
    model = make(scripted_server.base_url, timeout_s=0.3, max_retries=2)
    received: list[str] = []
    with pytest.raises(Unavailable) as caught:
        await drain(model.stream(prompt()), received)
    assert received == ["Hi"]
    assert "ReadTimeout" in caught.value.detail
    assert len(scripted_server.state.requests) == 1
    await model.close()


async def test_errors_inside_the_stream_are_unavailable_and_masked(
    scripted_server: ChatServer,
) -> None:
    event = '{"error": {"message": "worker crashed for key ' + SECRET + '"}}'
    scripted_server.state.replies.append(Reply(raw_events=[event]))
    model = make(scripted_server.base_url, api_key=SECRET)
    with pytest.raises(Unavailable) as caught:
        await collect(model, prompt())
    assert caught.value.code == "llm_unavailable"
    assert "worker crashed for key ***" in caught.value.detail
    assert SECRET not in str(caught.value)
    await model.close()


async def test_a_garbled_stream_is_a_bad_response(scripted_server: ChatServer) -> None:
    scripted_server.state.replies.append(Reply(raw_events=["<html>proxy error</html>"]))
    model = make(scripted_server.base_url)
    with pytest.raises(Unavailable) as caught:
        await collect(model, prompt())
    assert caught.value.code == "llm_bad_response"
    await model.close()


async def test_concurrency_is_capped(scripted_server: ChatServer) -> None:
    model = make(scripted_server.base_url, max_concurrency=1)
    first = model.stream(prompt())
    assert (await anext(first)).text == "Hello"
    second = asyncio.create_task(collect(model, prompt()))
    await asyncio.sleep(0.2)
    assert len(scripted_server.state.requests) == 1  # the second waits for the slot
    await first.aclose()  # type: ignore[attr-defined]
    assert (await asyncio.wait_for(second, 10))[0] == "Hello world!"
    assert len(scripted_server.state.requests) == 2
    await model.close()


async def test_ping(scripted_server: ChatServer) -> None:
    model = make(scripted_server.base_url, api_key=SECRET)
    await model.ping()
    assert scripted_server.state.requests[-1]["headers"]["authorization"] == f"Bearer {SECRET}"
    scripted_server.state.models_status = 401
    with pytest.raises(Unavailable) as caught:
        await model.ping()
    assert caught.value.code == "llm_misconfigured"
    scripted_server.state.models_status = 503
    with pytest.raises(Unavailable) as caught:
        await model.ping()
    assert caught.value.code == "llm_unavailable"
    await model.close()
    with pytest.raises(Unavailable) as caught:
        await model.ping()
    assert caught.value.code == "llm_closed"


async def test_ping_of_an_unreachable_server() -> None:
    model = make(f"http://127.0.0.1:{closed_port()}/v1")
    with pytest.raises(Unavailable, match="ConnectError"):
        await model.ping()
    await model.close()


async def test_a_closed_client_refuses_to_stream(scripted_server: ChatServer) -> None:
    model = make(scripted_server.base_url)
    await model.close()
    with pytest.raises(Unavailable) as caught:
        await collect(model, prompt())
    assert caught.value.code == "llm_closed"


def test_needs_a_base_url() -> None:
    with pytest.raises(StartupError, match="RAG_LLM__BASE_URL"):
        OpenAIChatModel(settings=LlmSettings())


def test_count_tokens_is_an_upper_bound() -> None:
    model = OpenAIChatModel(
        settings=LlmSettings(provider="openai", base_url="http://x/v1", api_key=SecretStr("k"))
    )
    assert model.count_tokens("abcdefg") == 3
    assert model.host == "x"
