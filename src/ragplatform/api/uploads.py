"""Reading an upload request (multipart files or a JSON text) into NewDocument items."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from ragplatform.documents.schemas import TextDocumentIn, check_metadata
from ragplatform.documents.service import NewDocument
from ragplatform.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from ragplatform.settings import IngestionSettings

UPLOAD_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        "metadata": {
                            "type": "string",
                            "description": "JSON: an object for all files, or one per file",
                        },
                    },
                    "required": ["files"],
                }
            },
            "application/json": {"schema": TextDocumentIn.model_json_schema()},
        },
    }
}


def _metadata_for(raw: str | None, count: int) -> list[dict[str, Any]]:
    if raw is None or not raw.strip():
        return [{} for _ in range(count)]
    try:
        value = json.loads(raw)
        if isinstance(value, dict):
            return [check_metadata(value) for _ in range(count)]
        if (
            isinstance(value, list)
            and len(value) == count
            and all(isinstance(v, dict) for v in value)
        ):
            return [check_metadata(v) for v in value]
    except (json.JSONDecodeError, ValueError) as exc:
        raise InvalidInput(f"metadata: {exc}") from None
    raise InvalidInput("metadata must be a JSON object, or a list with one object per file")


async def read_upload(request: Request, limits: IngestionSettings) -> list[NewDocument]:
    """Multipart files (with optional metadata) or a JSON ``{title, text, metadata}`` body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        return [await _json_document(request, limits)]
    if content_type != "multipart/form-data":
        raise UnsupportedMediaType(
            "upload files as multipart/form-data (field 'files'), or a text as JSON "
            "{title, text, metadata}"
        )
    form = await request.form(
        max_files=limits.max_files_per_request + 1, max_fields=50, max_part_size=1 << 20
    )
    files = [f for key in ("files", "file") for f in form.getlist(key) if isinstance(f, UploadFile)]
    if not files:
        raise InvalidInput("no file in the request: send one or more 'files' parts")
    if len(files) > limits.max_files_per_request:
        raise PayloadTooLarge(f"at most {limits.max_files_per_request} files per request")
    raw_meta = form.get("metadata")
    metadata = _metadata_for(raw_meta if isinstance(raw_meta, str) else None, len(files))
    items = []
    for upload, meta in zip(files, metadata, strict=True):
        data = await upload.read(limits.max_file_bytes + 1)
        if len(data) > limits.max_file_bytes:
            raise PayloadTooLarge(
                f"{upload.filename}: the file exceeds the limit of {limits.max_file_bytes} bytes"
            )
        items.append(NewDocument(data=data, filename=upload.filename, metadata=meta))
    return items


async def _json_document(request: Request, limits: IngestionSettings) -> NewDocument:
    body = await request.body()
    try:
        doc = TextDocumentIn.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidInput(f"{where}: {first['msg']}") from None
    data = doc.text.encode("utf-8")
    if len(data) > limits.max_file_bytes:
        raise PayloadTooLarge(f"the text exceeds the limit of {limits.max_file_bytes} bytes")
    return NewDocument(
        data=data, title=doc.title, mime="text/plain", metadata=doc.metadata, filename=None
    )
