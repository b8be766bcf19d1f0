"""Loading checks: wrong kind, model or revision, hand-edited archives, incomplete loads."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
from pathlib import Path

import pytest

from ragplatform.backup.deployment import (
    open_deployment,
)
from ragplatform.backup.loading import (
    ArchivedDoc,
    check_loadable,
    load_originals,
    load_rows,
    load_vectors,
    table_entries,
)
from ragplatform.backup.manifest import (
    MANIFEST,
    MANIFEST_DIGEST,
    ArchiveError,
    EmbeddingInfo,
    Manifest,
    digest,
)
from ragplatform.backup.progress import NO_PROGRESS
from ragplatform.backup.restore import RestoreIncomplete, restore_backup
from ragplatform.backup.verify import VerifiedArchive, read_archive
from ragplatform.db.engine import Database
from ragplatform.errors import Conflict
from tests.backup.support import backup_offline, populate, serving
from tests.support import make_settings, migrate_to_head

MINILM = EmbeddingInfo(model="all-MiniLM-L6-v2", dimension=384)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("loading")
    settings = make_settings(root / "data")
    migrate_to_head(settings)
    with serving(settings) as api:
        populate(api, ("acme",))
    backup_offline(settings, root / "b.tar")
    return root / "b.tar"


def _staged(archive: Path, tmp_path: Path) -> VerifiedArchive:
    return read_archive(archive, stage=tmp_path / "staged")


def test_check_loadable_names_the_right_command_and_model(archive: Path, tmp_path: Path) -> None:
    manifest = read_archive(archive).manifest
    check_loadable(manifest, kind="backup", target=MINILM)
    check_loadable(manifest, kind="backup", target=EmbeddingInfo(model=MINILM.model))
    with pytest.raises(ArchiveError, match="`ragplatform restore`"):
        check_loadable(manifest, kind="tenant", target=MINILM)
    tenant = manifest.model_copy(update={"kind": "tenant"})
    with pytest.raises(ArchiveError, match="`ragplatform tenants import`"):
        check_loadable(tenant, kind="backup", target=MINILM)
    with pytest.raises(Conflict, match=r"made by all-MiniLM-L6-v2 \(384-d\); this deployment"):
        check_loadable(manifest, kind="backup", target=EmbeddingInfo(model="m", dimension=8))


def test_entries_must_match_the_schema(archive: Path, tmp_path: Path) -> None:
    staged = _staged(archive, tmp_path)
    entries = staged.manifest.entries
    without = [e for e in entries if not e.name.endswith("-users.jsonl")]
    lacking = VerifiedArchive(staged.manifest.model_copy(update={"entries": without}), staged.root)
    with pytest.raises(ArchiveError, match="lacks the rows of table users"):
        table_entries(lacking)
    extra = [*entries, entries[0].model_copy(update={"name": "metadata/42-ghosts.jsonl"})]
    haunted = VerifiedArchive(staged.manifest.model_copy(update={"entries": extra}), staged.root)
    with pytest.raises(ArchiveError, match=r"no table for: metadata/42-ghosts\.jsonl"):
        table_entries(haunted)


def test_rows_chunks_and_originals_are_checked_while_loading(archive: Path, tmp_path: Path) -> None:
    staged = _staged(archive, tmp_path)
    settings = make_settings(tmp_path / "t")
    migrate_to_head(settings)

    async def load(verified: VerifiedArchive) -> int:
        db = Database(settings.database_url, settings.database)
        try:
            async with db.engine.connect() as conn:
                loaded = await load_rows(conn, verified, NO_PROGRESS)
                await conn.rollback()
                return loaded
        finally:
            await db.dispose()

    counts = dict(staged.manifest.tables) | {"users": 7}
    wrong = VerifiedArchive(staged.manifest.model_copy(update={"tables": counts}), staged.root)
    with pytest.raises(ArchiveError, match="table users: 0 rows, the manifest says 7"):
        asyncio.run(load(wrong))
    users = next(n for n in staged.names("metadata/") if n.endswith("-users.jsonl"))
    staged.path(users).write_text('{"id": "not a uuid"}\n')
    with pytest.raises(ArchiveError, match="rows of table users are unreadable"):
        asyncio.run(load(staged))

    doc = ArchivedDoc(
        tenant_id="00000000-0000-0000-0000-000000000001",
        sha256="a" * 64,
        indexed_version=1,
        chunk_count=2,
    )
    docs = {"d": doc}
    with pytest.raises(ArchiveError, match="holds chunks but names no embedding"):
        asyncio.run(load_vectors(None, staged, docs, NO_PROGRESS))

    async def originals() -> int:
        async with open_deployment(settings, embedding=MINILM) as deployment:
            return await load_originals(deployment, staged, docs, NO_PROGRESS)

    with pytest.raises(ArchiveError, match="lacks the original originals/"):
        asyncio.run(originals())


def _resign(source: Path, target: Path, name_suffix: str, edit: object) -> Path:
    """Rewrite one entry and re-sign the manifest, as a careful hand-editor would."""
    with tarfile.open(source) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]
    data = {m.name: body for m, body in members}
    name = next(n for n in data if n.endswith(name_suffix))
    data[name] = edit(data[name])  # type: ignore[operator]
    manifest = Manifest.model_validate_json(data[MANIFEST])
    for entry in manifest.entries:
        if entry.name == name:
            entry.size, entry.sha256 = len(data[name]), digest(data[name])
    data[MANIFEST] = manifest.encode()
    data[MANIFEST_DIGEST] = f"{digest(data[MANIFEST])}\n".encode()
    with tarfile.open(target, "w") as tar:
        for info, _ in members:
            info.size = len(data[info.name])
            tar.addfile(info, io.BytesIO(data[info.name]))
    return target


def test_a_load_that_does_not_add_up_says_the_target_is_partial(
    archive: Path, tmp_path: Path
) -> None:
    def more_chunks(body: bytes) -> bytes:
        rows = [json.loads(line) for line in body.decode().splitlines()]
        for row in rows:
            if row["indexed_version"]:
                row["chunk_count"] += 1
        return "".join(json.dumps(r) + "\n" for r in rows).encode()

    edited = _resign(archive, tmp_path / "edited.tar", "-documents.jsonl", more_chunks)
    settings = make_settings(tmp_path / "target")
    with pytest.raises(RestoreIncomplete, match="partial restore: empty the data dir"):
        asyncio.run(restore_backup(settings, edited))
