"""The translation of OpenAI messages into a question and the conversation before it."""

from __future__ import annotations

from typing import Any

import pytest

from ragplatform.openai_compat.errors import InvalidParam
from ragplatform.openai_compat.schemas import Message
from ragplatform.openai_compat.service import conversation
from ragplatform.ports import ChatMessage


def messages(*raw: dict[str, Any]) -> list[Message]:
    return [Message.model_validate(m) for m in raw]


def test_the_last_user_message_is_the_question_and_earlier_turns_the_history() -> None:
    question, history = conversation(
        messages(
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": "  first  "},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "c"}]},
            {"role": "tool", "content": "tool output", "tool_call_id": "c"},
            {"role": "assistant", "content": [{"type": "text", "text": "an answer"}]},
            {"role": "system", "content": "ignored"},
            {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "file"}]},
            {"role": "assistant", "content": "a trailing prefill, ignored"},
        )
    )
    assert question == "second"
    assert history == [ChatMessage("user", "first"), ChatMessage("assistant", "an answer")]


def test_text_parts_join_by_newlines() -> None:
    (message,) = messages(
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    )
    assert message.text() == "a\nb"


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        ([{"role": "system", "content": "only a system prompt"}], "messages"),
        (
            [{"role": "user", "content": "x"}, {"role": "user", "content": ""}],
            "messages[1].content",
        ),
        ([{"role": "user", "content": [{"type": "image_url"}]}], "messages[0].content"),
        ([{"role": "user", "content": "x" * 4001}], "messages[0].content"),
    ],
)
def test_unusable_conversations_name_the_parameter(raw: list[dict[str, Any]], param: str) -> None:
    with pytest.raises(InvalidParam) as caught:
        conversation(messages(*raw))
    assert caught.value.param == param
