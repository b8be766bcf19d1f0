"""Originals on disk: content-addressed per tenant, written atomically."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from pathlib import Path

from ragplatform.tenancy.tenants import tenant_files_dir


class OriginalStore:
    """Keeps the uploaded bytes so documents can be re-indexed."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def path(self, tenant_id: uuid.UUID, sha256: str) -> Path:
        """Where the bytes with this digest live."""
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 hex digest")
        return tenant_files_dir(self.data_dir, tenant_id) / "originals" / sha256[:2] / sha256

    def _write(self, target: Path, data: bytes) -> None:
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def save(self, tenant_id: uuid.UUID, sha256: str, data: bytes) -> None:
        """Store the bytes (a no-op when already present)."""
        await asyncio.to_thread(self._write, self.path(tenant_id, sha256), data)

    async def read(self, tenant_id: uuid.UUID, sha256: str) -> bytes:
        """The stored bytes."""
        return await asyncio.to_thread(self.path(tenant_id, sha256).read_bytes)

    async def delete(self, tenant_id: uuid.UUID, sha256: str) -> None:
        """Remove the bytes (missing is fine)."""
        await asyncio.to_thread(self.path(tenant_id, sha256).unlink, missing_ok=True)
