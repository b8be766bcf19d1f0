from __future__ import annotations

from pathlib import Path

import pytest

from ragplatform.errors import StartupError
from ragplatform.ports import ChatMessage, Passage
from ragplatform.retrieval.prompt import PromptTemplate, format_passage


def _passage(n: int, text: str, title: str | None = None) -> Passage:
    import uuid

    return Passage(n=n, chunk_id=uuid.uuid4(), text=text, title=title)


def test_packaged_template_renders_numbered_context_and_history() -> None:
    template = PromptTemplate.load()
    assert template.version == "answer.v1"
    history = [ChatMessage("user", "Hi"), ChatMessage("assistant", "Hello")]
    messages = template.render(
        question="Why {not}?",
        passages=[_passage(1, "Alpha {x}.", "Doc A"), _passage(2, "Beta.")],
        history=history,
    )
    assert [m.role for m in messages] == ["system", "user", "assistant", "user"]
    system = messages[0].content
    assert "[1] (Doc A) Alpha {x}." in system and "[2] Beta." in system
    assert "only" in system.lower() and "cite" in system.lower()
    assert messages[-1].content == "Why {not}?"
    assert "Why {not}?" in template.overhead("Why {not}?")


def test_a_custom_template_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.txt"
    path.write_text("# version: mine.v2\n[system]\nCTX={context}\n[user]\nQ={question}\n")
    template = PromptTemplate.load(path)
    assert template.version == "mine.v2"
    messages = template.render(question="q", passages=[_passage(1, "p")])
    assert messages[0].content == "CTX=[1] p" and messages[1].content == "Q=q"
    assert format_passage(_passage(3, "  spaced  ")) == "[3] spaced"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[system]\n{context}\n", "needs a [system] and a [user] section"),
        ("[system]\nno context\n[user]\n{question}", "needs {context}"),
    ],
)
def test_broken_templates_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(StartupError, match=message.replace("[", r"\[").replace("]", r"\]")):
        PromptTemplate.load(path)
    with pytest.raises(StartupError, match="cannot read"):
        PromptTemplate.load(tmp_path / "missing.txt")
