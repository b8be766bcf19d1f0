"""Writing archives: parts, damaged originals, a platform with nothing embedded yet."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ragplatform.backup import writer
from ragplatform.backup.restore import restore_backup
from ragplatform.backup.verify import read_archive
from tests.backup.support import backup_offline, observe, populate, serving
from tests.platform import make_tenant
from tests.support import make_settings, migrate_to_head


def test_chunks_are_split_into_parts_and_damaged_originals_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path / "data")
    migrate_to_head(settings)
    with serving(settings) as api:
        corpus = populate(api, ("acme",))
        before = observe(api, corpus)
    monkeypatch.setattr(writer, "PART_CHUNKS", 3)
    monkeypatch.setattr(writer, "EXPORT_BATCH", 2)
    damaged = next((settings.data_dir / "tenants").rglob("originals/*/*"))
    damaged.write_bytes(damaged.read_bytes() + b" (bit rot)")
    manifest = backup_offline(settings, tmp_path / "parts.tar")
    parts = [e.name for e in manifest.entries if e.name.startswith("vectors/")]
    assert len(parts) == -(-manifest.chunks // 4)  # two batches of two pass three
    assert parts[0].endswith("/000001.jsonl") and parts[1].endswith("/000002.jsonl")
    [dropped] = manifest.consistency.dropped_documents
    assert dropped.reason == "its original is damaged (checksum mismatch)"
    assert manifest.tables["documents"] == len(corpus.documents["acme"]) - 1

    restored = make_settings(tmp_path / "restored")
    summary = asyncio.run(restore_backup(restored, tmp_path / "parts.tar"))
    assert summary.documents == len(corpus.documents["acme"]) - 1
    with serving(restored) as api:
        after = observe(api, corpus)
    kept = [d for d in before["acme"]["documents"] if d["id"] != dropped.id]
    assert after["acme"]["documents"] == kept


def test_a_platform_with_nothing_embedded_backs_up_and_restores(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    migrate_to_head(settings)
    with serving(settings) as api:
        make_tenant(api, "empty")
    manifest = backup_offline(settings, tmp_path / "empty.tar")
    assert manifest.embedding.dimension is None and manifest.chunks == 0
    assert read_archive(tmp_path / "empty.tar").manifest == manifest
    restored = make_settings(tmp_path / "restored")
    summary = asyncio.run(restore_backup(restored, tmp_path / "empty.tar"))
    assert summary.chunks == 0 and len(summary.tenants) == 1
    assert "1 tenant(s), 0 document(s)" in summary.describe()
