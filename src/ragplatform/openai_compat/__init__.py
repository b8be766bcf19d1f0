"""The OpenAI-compatible API (/v1): models, chat completions and embeddings."""
