"""Collections, documents, parsing, chunking and ingestion jobs."""
