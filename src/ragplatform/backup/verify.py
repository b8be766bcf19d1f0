"""Reading an archive: every entry checked against the manifest before anything is used.

A foreign, damaged, truncated, tampered or too-new archive raises :class:`ArchiveError` with a
one-line reason; nothing outside the staging folder has been touched by then.
"""

from __future__ import annotations

import gzip
import hashlib
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ragplatform.backup.manifest import (
    MANIFEST,
    MANIFEST_DIGEST,
    MAX_MANIFEST_BYTES,
    ArchiveError,
    Manifest,
    digest,
    is_entry_name,
    parse_manifest,
)

_BLOCK = 1 << 20
_DAMAGED = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)


@dataclass(frozen=True)
class VerifiedArchive:
    """A verified archive's manifest and, when staged, where its entries were extracted."""

    manifest: Manifest
    root: Path | None = None

    def path(self, name: str) -> Path:
        """The staged file of entry ``name``."""
        if self.root is None:
            raise RuntimeError("the archive was verified without staging its entries")
        return self.root / name

    def names(self, prefix: str) -> list[str]:
        """Entry names under ``prefix``, in archive order."""
        return [e.name for e in self.manifest.entries if e.name.startswith(prefix)]

    def lines(self, name: str) -> Iterator[str]:
        """The lines of a staged JSON-lines entry."""
        with self.path(name).open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield line


def _copy(source: IO[bytes], target: Path | None) -> tuple[int, str]:
    sha, size = hashlib.sha256(), 0
    out = None
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        out = target.open("wb")
    try:
        while block := source.read(_BLOCK):
            sha.update(block)
            size += len(block)
            if out is not None:
                out.write(block)
    finally:
        if out is not None:
            out.close()
    return size, sha.hexdigest()


def _kind(member: tarfile.TarInfo) -> str:
    return (
        "directory" if member.isdir() else "link" if member.issym() or member.islnk() else "special"
    )


def _read_members(
    tar: tarfile.TarFile, stage: Path | None
) -> tuple[dict[str, tuple[int, str]], bytes | None, bytes | None]:
    seen: dict[str, tuple[int, str]] = {}
    manifest = manifest_digest = None
    for member in tar:
        name = member.name
        if not member.isfile():
            raise ArchiveError(f"not a ragplatform archive: unexpected {_kind(member)} {name!r}")
        if name in seen or (name == MANIFEST and manifest is not None):
            raise ArchiveError(f"the archive holds {name!r} twice")
        source = tar.extractfile(member)
        assert source is not None  # regular files always have content
        if name in (MANIFEST, MANIFEST_DIGEST):
            if member.size > MAX_MANIFEST_BYTES:
                raise ArchiveError(f"not a ragplatform archive: {name} is implausibly large")
            data = source.read()
            if name == MANIFEST:
                manifest = data
            else:
                manifest_digest = data
        elif is_entry_name(name):
            seen[name] = _copy(source, None if stage is None else stage / name)
        else:
            raise ArchiveError(f"not a ragplatform archive: unexpected entry {name!r}")
    # What follows the last readable header must be padding: anything else is damage (and
    # reading to the end makes gzip check its CRC).
    stream: Any = tar.fileobj
    while block := stream.read(_BLOCK):
        if block.strip(b"\0"):
            raise ArchiveError("the archive is damaged: unreadable data after its last good entry")
    return seen, manifest, manifest_digest


def _check(manifest: Manifest, seen: dict[str, tuple[int, str]]) -> None:
    listed = set()
    for entry in manifest.entries:
        listed.add(entry.name)
        found = seen.get(entry.name)
        if found is None:
            raise ArchiveError(f"the archive is incomplete: entry {entry.name} is missing")
        if found != (entry.size, entry.sha256):
            raise ArchiveError(f"the archive is damaged: entry {entry.name} fails its checksum")
    extra = sorted(seen.keys() - listed)
    if extra:
        raise ArchiveError(f"the archive was altered: entry {extra[0]} is not in its manifest")


def read_archive(source: Path, *, stage: Path | None = None) -> VerifiedArchive:
    """Verify the archive at ``source``; with ``stage``, extract its entries there too."""
    try:
        handle: Any = source.open("rb")
    except OSError as exc:
        raise ArchiveError(f"cannot read {source}: {exc.strerror or exc}") from None
    with handle:
        compressed = handle.read(2) == b"\x1f\x8b"
        handle.seek(0)
        stream: Any = gzip.GzipFile(fileobj=handle, mode="rb") if compressed else handle
        try:
            tar = tarfile.open(fileobj=stream, mode="r|")  # noqa: SIM115 - closed below
        except _DAMAGED:
            raise ArchiveError(
                f"{source.name} is not a ragplatform archive (not a tar file)"
            ) from None
        try:
            with tar:
                seen, manifest_bytes, manifest_digest = _read_members(tar, stage)
        except _DAMAGED as exc:
            reason = str(exc) or type(exc).__name__
            raise ArchiveError(f"the archive is damaged or truncated: {reason}") from None
    if manifest_bytes is None or manifest_digest is None:
        if not seen and manifest_bytes is None:
            raise ArchiveError(f"{source.name} is not a ragplatform archive (no manifest)")
        raise ArchiveError("the archive is incomplete (truncated?): its manifest is missing")
    if manifest_digest.decode("ascii", "replace").strip() != digest(manifest_bytes):
        raise ArchiveError("the archive is damaged: its manifest fails its checksum")
    manifest = parse_manifest(manifest_bytes)
    _check(manifest, seen)
    return VerifiedArchive(manifest=manifest, root=stage)
