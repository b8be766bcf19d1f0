"""The ONNX export cache: reuse, repair of broken entries, atomic placement, clear errors."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from ragplatform.adapters.embedders import onnx as onnx_module
from ragplatform.adapters.embedders import onnx_export
from ragplatform.adapters.embedders.onnx import load_onnx_model
from ragplatform.adapters.embedders.onnx_export import (
    EXPORT_FORMAT,
    META_FILE,
    MODEL_FILE,
    OPSET,
    TOKENIZER_FILE,
    QuietOnnxRuntime,
    cache_dir,
    export_model,
    source_key,
)
from ragplatform.adapters.embedders.sentence_transformers import packaged_model_path
from ragplatform.errors import StartupError
from ragplatform.settings import EmbeddingSettings

SETTINGS = EmbeddingSettings(runtime="onnx")


def entry(data_dir: Path) -> Path:
    """The cache entry of the packaged model under ``data_dir``."""
    return cache_dir(data_dir, SETTINGS.model, packaged_model_path())


class CopyingExport:
    """Stands in for a real export (tens of seconds) by copying the session's real one."""

    def __init__(self, exported: Path) -> None:
        self.exported = exported
        self.calls = 0

    def __call__(self, _settings: EmbeddingSettings, target: Path) -> None:
        self.calls += 1
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(self.exported, target)


@pytest.fixture
def data_dir(onnx_data_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the session's data dir with its export."""
    copy = tmp_path / "data"
    shutil.copytree(onnx_data_dir, copy)
    return copy


@pytest.fixture
def copying_export(onnx_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> CopyingExport:
    """Count exports; each one copies the session's real export into place."""
    fake = CopyingExport(entry(onnx_data_dir))
    monkeypatch.setattr(onnx_module, "export_model", fake)
    return fake


def test_the_export_is_cached_with_its_tokenizer_and_description(onnx_data_dir: Path) -> None:
    directory = entry(onnx_data_dir)
    assert sorted(path.name for path in directory.iterdir()) == sorted(
        [MODEL_FILE, TOKENIZER_FILE, META_FILE]
    )
    meta = json.loads((directory / META_FILE).read_text())
    assert meta["format"] == EXPORT_FORMAT
    assert (meta["max_seq_length"], meta["dimension"]) == (256, 384)
    assert meta["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    # int8 weights: about a quarter of the 90 MB float32 safetensors.
    assert (directory / MODEL_FILE).stat().st_size < 35_000_000
    assert not list(directory.parent.glob(".export-*"))  # no temp dir left behind


def test_a_second_open_reuses_the_cache(data_dir: Path, copying_export: CopyingExport) -> None:
    model_file = entry(data_dir) / MODEL_FILE
    before = model_file.stat()
    model = load_onnx_model(SETTINGS, data_dir)
    assert copying_export.calls == 0
    after = model_file.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert model.encode(["reused"]).shape == (1, 384)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        (MODEL_FILE, b"\x00not an onnx model"),
        (META_FILE, json.dumps({"format": EXPORT_FORMAT + 1}).encode()),
        (TOKENIZER_FILE, None),
    ],
)
def test_a_broken_cache_entry_is_exported_again(
    data_dir: Path, copying_export: CopyingExport, name: str, content: bytes | None
) -> None:
    broken = entry(data_dir) / name
    if content is None:
        broken.unlink()
    else:
        broken.write_bytes(content)
    model = load_onnx_model(SETTINGS, data_dir)
    assert copying_export.calls == 1
    assert model.encode(["repaired"], normalize_embeddings=True).shape == (1, 384)
    assert not [p for p in entry(data_dir).parent.iterdir() if p.name.startswith(".")]


def test_an_export_that_does_not_load_is_a_startup_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def garbage(_settings: EmbeddingSettings, target: Path) -> None:
        target.mkdir(parents=True)
        (target / META_FILE).write_text("{}")

    monkeypatch.setattr(onnx_module, "export_model", garbage)
    with pytest.raises(StartupError, match="does not load") as caught:
        load_onnx_model(SETTINGS, tmp_path)
    assert "RAG_EMBEDDING__RUNTIME=torch" in str(caught.value)


def test_a_failed_export_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(_settings: EmbeddingSettings, work: Path) -> None:
        (work / MODEL_FILE).write_bytes(b"half written")
        raise RuntimeError("quantisation failed\nwith a traceback below")

    monkeypatch.setattr(onnx_export, "_build", interrupted)
    target = entry(tmp_path)
    with pytest.raises(StartupError, match="exporting the embedding model to ONNX failed") as c:
        export_model(SETTINGS, target)
    assert "RuntimeError: quantisation failed" in str(c.value)
    assert "\n" not in str(c.value)
    assert list(target.parent.iterdir()) == []


def test_stale_temp_dirs_go_and_the_export_lands_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = entry(tmp_path)
    target.parent.mkdir(parents=True)
    stale = target.parent / ".export-crashed"
    stale.mkdir()
    old = time.time() - onnx_export.STALE_EXPORT_S - 60
    os.utime(stale, (old, old))
    running = target.parent / ".export-running"  # another process's export in progress
    running.mkdir()
    seen: list[Path] = []

    def build(_settings: EmbeddingSettings, work: Path) -> None:
        seen.append(work)
        assert not target.exists()  # readers never see a partial entry
        (work / META_FILE).write_text("{}")

    monkeypatch.setattr(onnx_export, "_build", build)
    export_model(SETTINGS, target)
    assert (target / META_FILE).is_file()
    assert not stale.exists()
    assert running.exists()
    assert not seen[0].exists()


def test_a_concurrent_export_that_landed_first_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = entry(tmp_path)
    target.mkdir(parents=True)
    (target / META_FILE).write_text('{"winner": true}')

    def build(_settings: EmbeddingSettings, work: Path) -> None:
        (work / META_FILE).write_text('{"winner": false}')

    monkeypatch.setattr(onnx_export, "_build", build)
    export_model(SETTINGS, target)
    assert json.loads((target / META_FILE).read_text()) == {"winner": True}
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_an_unwritable_data_dir_is_a_startup_error(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data dir should be")
    with pytest.raises(StartupError, match="cannot write the ONNX model cache"):
        export_model(SETTINGS, entry(blocker))


def test_the_key_follows_the_model_files(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "1_Pooling").mkdir(parents=True)
    (model / "model.safetensors").write_bytes(b"weights")
    (model / "1_Pooling" / "config.json").write_text("{}")
    key = source_key(model)
    (model / "README.md").write_text("docs do not shape the export")
    (model / ".gitattributes").write_text("neither do hidden files")
    assert source_key(model) == key
    (model / "model.safetensors").write_bytes(b"weights, fine-tuned")
    assert source_key(model) != key
    name = cache_dir(tmp_path, "sentence-transformers/all MiniLM", model).name
    assert name == f"sentence-transformers-all-MiniLM-{source_key(model)}"


def test_other_pooling_is_refused() -> None:
    from sentence_transformers.sentence_transformer.modules import Pooling

    with pytest.raises(StartupError, match="mean-pooling models only"):
        onnx_export._mean_pooling([Pooling(384, pooling_mode="cls")])
    onnx_export._mean_pooling([Pooling(384, pooling_mode="mean")])  # accepted


def test_the_quantiser_keeps_the_sensitive_projection_in_float(onnx_data_dir: Path) -> None:
    import onnx

    graph = onnx.load(str(entry(onnx_data_dir) / MODEL_FILE)).graph
    kinds = [node.op_type for node in graph.node]
    assert "QAttention" in kinds  # fused attention, quantised
    assert kinds.count("MatMul") == 1  # the first layer's feed-forward output stays float32
    weights = {init.name: init for init in graph.initializer}
    int8 = [w for w in weights.values() if w.data_type == onnx.TensorProto.INT8]
    assert len(int8) >= 30


def test_missing_onnx_runtime_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(StartupError, match=r"pip install 'ragplatform\[onnx\]'") as caught:
        load_onnx_model(SETTINGS, tmp_path)
    assert "RAG_EMBEDDING__RUNTIME=torch" in str(caught.value)
    assert not (tmp_path / "models").exists()


def test_missing_exporter_packages_name_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(StartupError, match=r"onnx is missing.*ragplatform\[onnx\]"):
        export_model(SETTINGS, entry(tmp_path))
    assert list(entry(tmp_path).parent.iterdir()) == []


def test_missing_model_path_is_a_startup_error(tmp_path: Path) -> None:
    settings = EmbeddingSettings(runtime="onnx", model_path=tmp_path / "nowhere")
    with pytest.raises(StartupError, match="RAG_EMBEDDING__MODEL_PATH"):
        load_onnx_model(settings, tmp_path)


def _tiny_graph(directory: Path) -> Path:
    """A one-MatMul float32 graph: the optimiser and quantiser take milliseconds on it."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((4, 4), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [weight],
    )
    fp32 = directory / "model.fp32.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)]), fp32)
    return fp32


def test_onnx_runtime_chatter_is_quiet_while_quantising(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _torch, quantization, optimizer = onnx_export._modules()
    fp32 = _tiny_graph(tmp_path)
    caplog.set_level(logging.INFO)
    # On its own the quantiser logs INFO notes and, through the root logger, its advice.
    quantization.quantize_dynamic(str(fp32), str(tmp_path / "plain.onnx"))
    assert any("pre-processing" in record.getMessage() for record in caplog.records)
    caplog.clear()

    config = SimpleNamespace(
        model_type="bert", num_attention_heads=1, hidden_size=4, intermediate_size=16
    )
    onnx_export._quantise(quantization, optimizer, config, fp32, tmp_path / MODEL_FILE)
    assert (tmp_path / MODEL_FILE).is_file()
    assert not [record.getMessage() for record in caplog.records]
    assert all(not handler.filters for handler in logging.getLogger().handlers)


@pytest.mark.parametrize(
    ("path", "level", "message", "passes"),
    [
        ("/x/onnxruntime/transformers/onnx_model.py", logging.INFO, "Removed 273 nodes", False),
        (
            "/x/onnxruntime/quantization/quantize.py",
            logging.WARNING,
            "Please consider to run pre-processing before quantization. Refer to example: ...",
            False,
        ),
        ("/x/onnxruntime/quantization/quantize.py", logging.WARNING, "op not supported", True),
        ("/x/onnxruntime/quantization/quantize.py", logging.ERROR, "failed", True),
        ("/x/ragplatform/app.py", logging.INFO, "started", True),
    ],
)
def test_the_quiet_filter_keeps_real_warnings(
    path: str, level: int, message: str, passes: bool
) -> None:
    record = logging.makeLogRecord(
        {"pathname": path.replace("/", os.sep), "levelno": level, "msg": message}
    )
    assert QuietOnnxRuntime().filter(record) is passes
