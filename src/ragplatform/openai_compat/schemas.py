"""Requests and responses of the OpenAI-compatible API, in OpenAI's shapes.

Requests accept and ignore fields this API does not use (the SDKs send many); responses carry
OpenAI's fields plus ``citations``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    field_validator,
    model_serializer,
)

from ragplatform.retrieval.schemas import Citation, Filtered

MAX_MESSAGES = 256
MAX_EMBEDDING_INPUTS = 2048
EmbeddingInput = str | list[str] | list[int] | list[list[int]]
ModelId = Annotated[str, StringConstraints(min_length=1, max_length=512)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ContentPart(_Request):
    """One part of a message's content; only ``text`` parts are read."""

    type: str
    text: str | None = None


class Message(_Request):
    """One chat turn; ``system``, ``developer`` and ``tool`` turns are accepted but not used."""

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = None

    def text(self) -> str:
        """The message's text (text parts joined by newlines; other parts ignored)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(p.text for p in self.content if p.type == "text" and p.text)


class StreamOptions(_Request):
    include_usage: bool = False


class ChatCompletionRequest(_Request, Filtered):
    model: ModelId = Field(
        description="`rag` (every readable collection) or `rag/<collection name>`",
        examples=["rag", "rag/handbook"],
    )
    messages: list[Message] = Field(
        min_length=1,
        max_length=MAX_MESSAGES,
        description="The last user message is the question; earlier user and assistant turns "
        "are the conversation; system, developer and tool messages are ignored (the platform's "
        "prompt sets the grounding and citation rules)",
    )
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="Caps the answer (the server's maximum still applies)"
    )
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="Same as max_tokens; wins when both are given"
    )
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = Field(
        default=None, description="Accepted, not used"
    )
    n: int | None = Field(default=None, description="Only 1 is supported")
    stop: str | list[str] | None = Field(default=None, description="Accepted, not used")
    user: str | None = Field(default=None, description="Accepted, not used")
    metadata: dict[str, Any] | None = Field(default=None, description="Accepted, not used")
    top_k: Annotated[int, Field(ge=1, le=50)] | None = Field(
        default=None, description="Extension: passages to retrieve (default: the server's)"
    )

    @field_validator("n")
    @classmethod
    def _one_choice(cls, value: int | None) -> int | None:
        if value not in (None, 1):
            raise ValueError("only n=1 is supported")
        return value

    def answer_cap(self) -> int | None:
        """The caller's token cap on the answer, if any."""
        return self.max_completion_tokens or self.max_tokens

    def include_usage(self) -> bool:
        """Whether a stream ends with a usage chunk."""
        return self.stream_options is not None and self.stream_options.include_usage


class CompletionUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    refusal: str | None = None


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"] = "stop"
    logprobs: None = None


class ChatCompletion(BaseModel):
    id: str = Field(examples=["chatcmpl-3f2a9c0e5b7d4c1e9a8b7c6d5e4f3a2b"])
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str = Field(description="The requested model")
    choices: list[Choice]
    usage: CompletionUsage
    citations: list[Citation] = Field(description="Extension: what `[n]` in the answer cites")


class ChunkDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None

    @model_serializer(mode="wrap")
    def _without_nulls(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}


class ChunkChoice(BaseModel):
    index: int = 0
    delta: ChunkDelta
    finish_reason: Literal["stop", "length"] | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    """One ``data:`` line of a streamed completion; ``citations`` only on the first."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: CompletionUsage | None = None
    citations: list[Citation] | None = None

    @model_serializer(mode="wrap")
    def _without_absent_extras(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for key in ("usage", "citations"):
            if data.get(key) is None:
                data.pop(key, None)
        return data


class Model(BaseModel):
    id: str = Field(examples=["rag/handbook"])
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]


class EmbeddingRequest(_Request):
    input: EmbeddingInput = Field(
        description=f"A text or up to {MAX_EMBEDDING_INPUTS} texts (token arrays are refused)"
    )
    model: ModelId = Field(description="The platform's embedding model (see GET /v1/models)")
    encoding_format: Literal["float", "base64"] = Field(
        default="float", description="base64: little-endian float32"
    )
    dimensions: int | None = Field(default=None, description="Must equal the model's dimension")
    user: str | None = Field(default=None, description="Accepted, not used")

    @field_validator("input")
    @classmethod
    def _texts(cls, value: EmbeddingInput) -> EmbeddingInput:
        texts = [value] if isinstance(value, str) else value
        if not texts:
            raise ValueError("input must not be empty")
        if len(texts) > MAX_EMBEDDING_INPUTS:
            raise ValueError(f"at most {MAX_EMBEDDING_INPUTS} inputs, got {len(texts)}")
        if not all(isinstance(t, str) for t in texts):
            raise ValueError("token arrays are not supported; send the text as strings")
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                where = "input" if isinstance(value, str) else f"input[{i}]"
                raise ValueError(f"{where} is empty; every input must contain text")
        return value

    def texts(self) -> list[str]:
        """The inputs as a list of texts (validated: no token arrays)."""
        texts = [self.input] if isinstance(self.input, str) else self.input
        return [t for t in texts if isinstance(t, str)]


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str = Field(description="Floats, or base64 of little-endian float32")


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage
