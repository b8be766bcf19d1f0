"""The versioned prompt template: system instructions with the numbered context, then the question.

A template file holds ``[system]`` and ``[user]`` sections; ``{context}`` and ``{question}`` are
replaced literally (no ``str.format``, so braces in documents are harmless). Lines starting with
``#`` before the first section are comments; ``# version: NAME`` names the template.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ragplatform.errors import StartupError
from ragplatform.ports import ChatMessage, Passage

PACKAGED = "answer.v1.txt"
_SECTION = re.compile(r"^\[(system|user)\]\s*$", re.MULTILINE)
_VERSION = re.compile(r"^#\s*version:\s*(\S+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class PromptTemplate:
    """A parsed template: its version and the two section texts."""

    version: str
    system: str
    user: str

    @classmethod
    def parse(cls, text: str, *, origin: str) -> PromptTemplate:
        """Parse template text; ``origin`` names it in errors."""
        parts = _SECTION.split(text)
        header, sections = parts[0], dict(zip(parts[1::2], parts[2::2], strict=True))
        if "system" not in sections or "user" not in sections:
            raise StartupError(f"prompt template {origin}: needs a [system] and a [user] section")
        if "{question}" not in sections["user"] or "{context}" not in sections["system"]:
            raise StartupError(
                f"prompt template {origin}: [system] needs {{context}} and [user] {{question}}"
            )
        match = _VERSION.search(header)
        version = match.group(1) if match else Path(origin).stem
        return cls(version, sections["system"].strip(), sections["user"].strip())

    @classmethod
    def load(cls, path: Path | None = None) -> PromptTemplate:
        """The template at ``path``, or the packaged ``answer.v1``."""
        if path is None:
            text = resources.files("ragplatform.retrieval").joinpath("prompts", PACKAGED)
            return cls.parse(text.read_text(encoding="utf-8"), origin=PACKAGED)
        try:
            content = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise StartupError(f"RAG_ANSWER__PROMPT_TEMPLATE: cannot read {path}: {exc}") from None
        return cls.parse(content, origin=str(path))

    def overhead(self, question: str) -> str:
        """The template text without passages (to count the tokens it takes)."""
        return self.system.replace("{context}", "") + self.user.replace("{question}", question)

    def render(
        self,
        *,
        question: str,
        passages: Sequence[Passage],
        history: Sequence[ChatMessage] = (),
    ) -> list[ChatMessage]:
        """System prompt with the numbered context, earlier turns, then the question."""
        context = "\n\n".join(format_passage(p) for p in passages) or "(no passages)"
        return [
            ChatMessage("system", self.system.replace("{context}", context)),
            *history,
            ChatMessage("user", self.user.replace("{question}", question)),
        ]


def format_passage(passage: Passage) -> str:
    """``[n] (title) text`` as the model sees a passage."""
    title = f" ({passage.title})" if passage.title else ""
    return f"[{passage.n}]{title} {passage.text.strip()}"


NO_ANSWER = "I don't know based on the available documents."
