"""Verification: a foreign, damaged, truncated, tampered or too-new archive is refused in one
line, before anything in the target is touched."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from ragplatform.backup.manifest import MANIFEST, MANIFEST_DIGEST, ArchiveError, digest
from ragplatform.backup.restore import restore_backup
from ragplatform.backup.verify import read_archive
from ragplatform.errors import Conflict
from ragplatform.settings import Settings
from tests.backup.support import backup_offline, populate, serving
from tests.support import make_settings, migrate_to_head

Members = dict[str, bytes]


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small real deployment's backup (plain and gzip) and a tenant archive."""
    root = tmp_path_factory.mktemp("source")
    settings = make_settings(root / "data")
    migrate_to_head(settings)
    with serving(settings) as api:
        populate(api, ("acme",))
    made = {"tar": root / "b.tar", "gz": root / "b.tar.gz", "tenant": root / "acme.tar"}
    backup_offline(settings, made["tar"])
    backup_offline(settings, made["gz"])
    backup_offline(settings, made["tenant"], tenant="acme")
    return made


def _members(path: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(path) as tar:
        return [(m, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]


def _write(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


def _rewrite(
    source: Path, target: Path, change: Callable[[dict[str, bytes]], None], *, resign: bool
) -> Path:
    """Apply ``change`` to the members; with ``resign`` the manifest digest is recomputed."""
    members = _members(source)
    data = {info.name: body for info, body in members}
    change(data)
    if resign:
        data[MANIFEST_DIGEST] = f"{digest(data[MANIFEST])}\n".encode()
    infos = {info.name: info for info, _ in members}
    out = [(infos.get(name) or tarfile.TarInfo(name), body) for name, body in data.items()]
    return _write(target, out)


def _manifest_edit(edit: Callable[[dict[str, object]], None]) -> Callable[[Members], None]:
    def change(data: Members) -> None:
        manifest = json.loads(data[MANIFEST])
        edit(manifest)
        data[MANIFEST] = json.dumps(manifest).encode()

    return change


def _refused(path: Path, match: str) -> str:
    with pytest.raises(ArchiveError, match=match) as caught:
        read_archive(path)
    message = caught.value.detail
    assert "\n" not in message
    return message


def test_a_sound_archive_verifies_and_stages_its_entries(
    archives: dict[str, Path], tmp_path: Path
) -> None:
    for kind in ("tar", "gz"):
        verified = read_archive(archives[kind], stage=tmp_path / kind)
        manifest = verified.manifest
        assert manifest.kind == "backup" and manifest.tables["tenants"] == 1
        for entry in manifest.entries:
            assert verified.path(entry.name).stat().st_size == entry.size
        assert verified.names("vectors/") and verified.names("originals/")
    assert read_archive(archives["tenant"]).manifest.tenant is not None
    with pytest.raises(RuntimeError, match="without staging"):
        read_archive(archives["tar"]).path(MANIFEST)


def test_a_flipped_byte_in_an_entry_fails_its_checksum(
    archives: dict[str, Path], tmp_path: Path
) -> None:
    member = next(m for m, _ in _members(archives["tar"]) if m.name.startswith("originals/"))
    with tarfile.open(archives["tar"]) as tar:
        offset = tar.getmember(member.name).offset_data
    data = bytearray(archives["tar"].read_bytes())
    data[offset] ^= 0x01
    (tmp_path / "flipped.tar").write_bytes(bytes(data))
    _refused(tmp_path / "flipped.tar", f"entry {member.name} fails its checksum")


def test_a_flipped_byte_in_a_compressed_archive_is_damage(
    archives: dict[str, Path], tmp_path: Path
) -> None:
    data = bytearray(archives["gz"].read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "flipped.tar.gz").write_bytes(bytes(data))
    _refused(tmp_path / "flipped.tar.gz", "damaged")


@pytest.mark.parametrize("kind", ["tar", "gz"])
@pytest.mark.parametrize("where", ["middle", "last entry"])
def test_a_truncated_archive_is_refused(
    archives: dict[str, Path], tmp_path: Path, kind: str, where: str
) -> None:
    data = archives[kind].read_bytes()
    if where == "middle":
        keep = len(data) // 2
    elif kind == "gz":
        keep = len(data) - 8  # the gzip trailer (CRC and length) is gone
    else:
        with tarfile.open(archives[kind]) as tar:
            keep = tar.getmember(MANIFEST_DIGEST).offset_data + 5
    cut = tmp_path / f"cut.{kind}"
    cut.write_bytes(data[:keep])
    _refused(cut, "damaged or truncated|incomplete")


def test_a_wrong_checksum_in_the_manifest_is_refused(
    archives: dict[str, Path], tmp_path: Path
) -> None:
    def wrong(manifest: dict[str, object]) -> None:
        entries = manifest["entries"]
        assert isinstance(entries, list)
        entries[0]["sha256"] = "0" * 64

    path = _rewrite(archives["tar"], tmp_path / "w.tar", _manifest_edit(wrong), resign=True)
    _refused(path, "fails its checksum")


def test_an_edited_manifest_fails_its_own_checksum(
    archives: dict[str, Path], tmp_path: Path
) -> None:
    def more_chunks(manifest: dict[str, object]) -> None:
        manifest["chunks"] = 10**6

    path = _rewrite(archives["tar"], tmp_path / "m.tar", _manifest_edit(more_chunks), resign=False)
    _refused(path, "manifest fails its checksum")
    unsigned = _rewrite(
        archives["tar"], tmp_path / "u.tar", lambda d: d.pop(MANIFEST_DIGEST), resign=False
    )
    _refused(unsigned, "incomplete")


def test_a_missing_or_extra_entry_is_refused(archives: dict[str, Path], tmp_path: Path) -> None:
    def drop(data: Members) -> None:
        del data[next(n for n in data if n.startswith("vectors/"))]

    _refused(_rewrite(archives["tar"], tmp_path / "d.tar", drop, resign=False), "is missing")

    def add(data: Members) -> None:
        data["originals/00000000-0000-0000-0000-000000000000/" + "a" * 64] = b"extra"

    _refused(
        _rewrite(archives["tar"], tmp_path / "a.tar", add, resign=False), "not in its manifest"
    )

    def twice(data: Members) -> None:
        data["metadata/99-evil.jsonl"] = b"{}"

    path = _rewrite(archives["tar"], tmp_path / "t.tar", twice, resign=False)
    _refused(path, "not in its manifest")


def test_foreign_archives_are_refused(archives: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("just some notes, not an archive at all")
    _refused(tmp_path / "notes.txt", "not a tar file")
    (tmp_path / "empty.tar").write_bytes(b"")
    _refused(tmp_path / "empty.tar", "not a tar file|no manifest")
    _refused(_write(tmp_path / "none.tar", []), "no manifest")
    readme = tarfile.TarInfo("README.md")
    _refused(_write(tmp_path / "other.tar", [(readme, b"# hi")]), "unexpected entry 'README.md'")
    escape = tarfile.TarInfo("../../etc/passwd")
    _refused(_write(tmp_path / "escape.tar", [(escape, b"x")]), "unexpected entry")
    folder = tarfile.TarInfo("vectors")
    folder.type = tarfile.DIRTYPE
    _refused(_write(tmp_path / "dir.tar", [(folder, b"")]), "unexpected directory")
    link = tarfile.TarInfo("originals/x")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    _refused(_write(tmp_path / "link.tar", [(link, b"")]), "unexpected link")
    other = _rewrite(
        archives["tar"],
        tmp_path / "f.tar",
        lambda d: d.update({MANIFEST: json.dumps({"format": "someone-else"}).encode()}),
        resign=True,
    )
    _refused(other, "another format")
    garbage = _rewrite(
        archives["tar"], tmp_path / "g.tar", lambda d: d.update({MANIFEST: b"\xff{"}), resign=True
    )
    _refused(garbage, "not JSON")
    with pytest.raises(ArchiveError, match="cannot read"):
        read_archive(tmp_path / "nope.tar")


def test_wrong_versions_and_malformed_manifests_are_refused(
    archives: dict[str, Path], tmp_path: Path
) -> None:
    def version(value: object) -> Callable[[Members], None]:
        return _manifest_edit(lambda m: m.update(format_version=value))

    newer = _rewrite(archives["tar"], tmp_path / "n.tar", version(2), resign=True)
    assert "upgrade ragplatform" in _refused(newer, "format version 2, newer")
    _refused(
        _rewrite(archives["tar"], tmp_path / "z.tar", version(0), resign=True), "format version"
    )
    broken = _rewrite(
        archives["tar"], tmp_path / "b.tar", _manifest_edit(lambda m: m.pop("kind")), resign=True
    )
    _refused(broken, "malformed: kind")


def _target(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "target")


def _restore(settings: Settings, archive: Path) -> None:
    asyncio.run(restore_backup(settings, archive))


def test_a_refused_archive_leaves_the_target_untouched(
    archives: dict[str, Path], tmp_path: Path
) -> None:
    data = archives["tar"].read_bytes()
    bad = tmp_path / "bad.tar"
    bad.write_bytes(data[: len(data) // 2])
    settings = _target(tmp_path)
    with pytest.raises(ArchiveError):
        _restore(settings, bad)
    assert not settings.data_dir.exists()
    with pytest.raises(ArchiveError, match="this is a tenant archive"):
        _restore(settings, archives["tenant"])
    assert not settings.data_dir.exists()

    stale = _rewrite(
        archives["tar"],
        tmp_path / "old.tar",
        _manifest_edit(lambda m: m.update(alembic_revision="0000")),
        resign=True,
    )
    with pytest.raises(ArchiveError, match="schema revision 0000"):
        _restore(settings, stale)
    other_model = make_settings(tmp_path / "target", embedding={"model": "another-model"})
    with pytest.raises(Conflict, match="made by all-MiniLM-L6-v2") as caught:
        _restore(other_model, archives["tar"])
    assert caught.value.code == "embedding_mismatch"
    assert not settings.data_dir.exists()


def test_restore_refuses_a_target_that_is_not_empty(
    archives: dict[str, Path], tmp_path: Path
) -> None:
    settings = _target(tmp_path)
    migrate_to_head(settings)
    with serving(settings):
        pass  # a server start creates the platform admin key: the database is not empty
    with pytest.raises(Conflict, match="vectors/ holds data") as caught:
        _restore(settings, archives["tar"])
    assert caught.value.code == "target_not_empty"
    shutil.rmtree(settings.data_dir / "vectors")
    with pytest.raises(Conflict, match=r"is not empty \(api_keys has 1 rows\)"):
        _restore(settings, archives["tar"])

    files = make_settings(tmp_path / "files")
    (files.data_dir / "tenants" / "x").mkdir(parents=True)
    (files.data_dir / "tenants" / "x" / "f").write_bytes(b"data")
    with pytest.raises(Conflict, match="tenants/ holds data"):
        _restore(files, archives["tar"])
