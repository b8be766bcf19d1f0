"""Re-rankers: a local sentence-transformers cross-encoder, or a remote ``/rerank`` endpoint."""
