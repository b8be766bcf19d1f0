"""Builds the configured answer model (``RAG_LLM__PROVIDER``); vendor modules load lazily."""

from __future__ import annotations

from ragplatform.ports import ChatModel, Embedder
from ragplatform.settings import Settings


async def build_chat_model(settings: Settings, *, embedder: Embedder) -> ChatModel:
    """The chat model for ``settings.llm.provider``, loaded and ready."""
    match settings.llm.provider:
        case "extractive":
            from ragplatform.adapters.llms.extractive import ExtractiveModel

            return ExtractiveModel(
                embedder,
                min_relevance=settings.answer.min_relevance,
                max_sentences=settings.answer.max_sentences,
                context_tokens=settings.llm.context_tokens,
            )
        case "openai":
            from ragplatform.adapters.llms.openai import OpenAIChatModel

            return OpenAIChatModel(settings=settings.llm)
        case "llama_cpp":
            from ragplatform.adapters.llms.llama_cpp import LlamaCppChatModel

            return await LlamaCppChatModel.load(settings.llm)
