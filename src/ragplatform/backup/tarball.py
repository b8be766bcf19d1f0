"""Writing archive entries into a tar stream, recording each entry's size and SHA-256.

Every method blocks (file and stream I/O): callers on an event loop run them in a thread.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import time
from pathlib import Path
from typing import Any, BinaryIO, cast

from ragplatform.backup.manifest import MANIFEST, MANIFEST_DIGEST, Entry, Manifest, digest

GZIP_LEVEL = 6
_COPY_BUFFER = 1 << 20


class _Hashing:
    """Reads through to ``source`` while hashing what was read."""

    def __init__(self, source: BinaryIO) -> None:
        self.source = source
        self.sha = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.sha.update(data)
        self.size += len(data)
        return data


class ArchiveWriter:
    """A tar (gzip-compressed when asked) written front to back into ``sink``."""

    def __init__(self, sink: BinaryIO, *, compress: bool) -> None:
        self._gzip = (
            gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=GZIP_LEVEL, mtime=0)
            if compress
            else None
        )
        target: Any = self._gzip if self._gzip is not None else sink
        # The tar stays open across calls; finish() closes it.
        self._tar = tarfile.open(fileobj=target, mode="w|", format=tarfile.PAX_FORMAT)  # noqa: SIM115
        self._tar.copybufsize = _COPY_BUFFER  # type: ignore[attr-defined]
        self._mtime = int(time.time())
        self.entries: list[Entry] = []
        self.bytes_in = 0

    def _info(self, name: str, size: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, self._mtime, 0o644
        return info

    def add_stream(self, name: str, source: BinaryIO, size: int) -> Entry:
        """Copy exactly ``size`` bytes of ``source`` into the entry ``name``."""
        reader = _Hashing(source)
        self._tar.addfile(self._info(name, size), cast(BinaryIO, reader))
        entry = Entry(name=name, size=reader.size, sha256=reader.sha.hexdigest())
        self.entries.append(entry)
        self.bytes_in += size
        return entry

    def add_file(self, name: str, path: Path) -> Entry:
        """Copy the file at ``path`` into the entry ``name``."""
        with path.open("rb") as handle:
            return self.add_stream(name, handle, os.fstat(handle.fileno()).st_size)

    def add_bytes(self, name: str, data: bytes) -> None:
        """Write ``data`` as the entry ``name`` (manifest files: not listed in ``entries``)."""
        self._tar.addfile(self._info(name, len(data)), io.BytesIO(data))

    def finish(self, manifest: Manifest) -> None:
        """Write the manifest and its digest, then end the tar (and gzip) stream."""
        encoded = manifest.encode()
        self.add_bytes(MANIFEST, encoded)
        self.add_bytes(MANIFEST_DIGEST, f"{digest(encoded)}\n".encode())
        self._tar.close()
        if self._gzip is not None:
            self._gzip.close()
