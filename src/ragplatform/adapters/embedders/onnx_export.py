"""Exports the local sentence-transformers model to an int8 ONNX model, cached under the data dir.

At first use the model's transformer (PyTorch) is traced to ONNX with dynamic batch and sequence
axes, ONNX Runtime's BERT optimiser fuses attention, layer norms and GELU, and dynamic
quantisation stores the weights as int8 (per output channel). The result lands in
``<data_dir>/models/<model>-<key>/`` (``model.int8.onnx``, ``tokenizer.json``,
``embedder.json``) by one atomic directory rename. The key hashes the source files and the
versions that shape the export: another model or an upgrade exports anew, and neither concurrent
starts nor an interrupted export can leave a half-written model where a reader looks.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from ragplatform.adapters.embedders.sentence_transformers import load_model
from ragplatform.errors import StartupError
from ragplatform.settings import EmbeddingSettings

EXPORT_FORMAT = 1  # bump when the export steps change: caches are keyed by it
MODEL_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
META_FILE = "embedder.json"
OPSET = 17
STALE_EXPORT_S = 3600.0  # a temp export dir older than this was left by a crash
VERSIONED = ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime")
INSTALL_HINT = "pip install 'ragplatform[onnx]'"
_ORT_PACKAGE = f"{os.sep}onnxruntime{os.sep}"


class QuietOnnxRuntime(logging.Filter):
    """Drops ONNX Runtime's tooling chatter during an export.

    Its BERT optimiser logs every fusion at INFO ("Removed 273 nodes") and the quantiser warns,
    through the root logger, to "consider pre-processing" with a link to an image example: noise
    at a server's first start. Its other warnings and errors still pass.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if _ORT_PACKAGE not in record.pathname:
            return True
        if record.levelno < logging.WARNING:
            return False
        return "pre-processing" not in record.getMessage()


@contextlib.contextmanager
def quiet_onnxruntime_logs() -> Iterator[None]:
    """Apply ``QuietOnnxRuntime`` on the root logger's handlers for the duration."""
    handlers = list(logging.getLogger().handlers)
    quiet = QuietOnnxRuntime()
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)


@dataclass(frozen=True)
class ExportInfo:
    """What inference needs besides the ONNX graph (stored as ``embedder.json``)."""

    max_seq_length: int
    dimension: int
    pad_token: str
    pad_token_id: int
    do_lower_case: bool
    inputs: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        """The stored form, with the export format for validation."""
        return {"format": EXPORT_FORMAT, **asdict(self), "inputs": list(self.inputs)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExportInfo:
        """Parse a stored ``embedder.json``; ValueError when it is of another format."""
        if data.get("format") != EXPORT_FORMAT:
            raise ValueError(f"export format {data.get('format')!r}, expected {EXPORT_FORMAT}")
        return cls(
            max_seq_length=int(data["max_seq_length"]),
            dimension=int(data["dimension"]),
            pad_token=str(data["pad_token"]),
            pad_token_id=int(data["pad_token_id"]),
            do_lower_case=bool(data["do_lower_case"]),
            inputs=tuple(str(name) for name in data["inputs"]),
        )


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "none"


def source_key(source: Path) -> str:
    """A digest of every model file (weights, config, tokenizer) and the export's versions."""
    digest = hashlib.sha256(f"format {EXPORT_FORMAT}\n".encode())
    for package in VERSIONED:
        digest.update(f"{package} {_version(package)}\n".encode())
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        relative = path.relative_to(source).as_posix()
        if relative.startswith(".") or "/." in relative or path.suffix == ".md":
            continue
        with path.open("rb") as handle:
            content = hashlib.file_digest(handle, "sha256").hexdigest()
        digest.update(f"{relative} {content}\n".encode())
    return digest.hexdigest()[:16]


def cache_dir(data_dir: Path, model_name: str, source: Path) -> Path:
    """``<data_dir>/models/<model>-<key>``: where the export of ``source`` is kept."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model_name).strip("-.") or "model"
    return data_dir / "models" / f"{slug}-{source_key(source)}"


def discard(directory: Path) -> None:
    """Remove a broken cache entry: renamed aside first, so no reader sees it half deleted."""
    aside = directory.with_name(f".discard-{directory.name}-{os.getpid()}-{time.monotonic_ns()}")
    with contextlib.suppress(FileNotFoundError):
        directory.rename(aside)
    shutil.rmtree(aside, ignore_errors=True)


def _remove_stale(parent: Path) -> None:
    cutoff = time.time() - STALE_EXPORT_S
    for entry in parent.glob(".export-*"):
        with contextlib.suppress(OSError):
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)


def _modules() -> tuple[Any, Any, Any]:
    """torch, ONNX Runtime's quantisation and BERT optimiser (imported only to export)."""
    try:
        import onnx  # noqa: F401 - the quantiser needs it; a clear error beats a deep one
        import torch
        from onnxruntime import quantization  # type: ignore[import-untyped]
        from onnxruntime.transformers import optimizer  # type: ignore[import-untyped]
    except ImportError as exc:
        raise StartupError(
            f"RAG_EMBEDDING__RUNTIME=onnx needs the onnx extra to export the model ({exc.name} "
            f"is missing): {INSTALL_HINT}"
        ) from None
    return torch, quantization, optimizer


def _mean_pooling(model: Any) -> None:
    """Refuse models whose vectors are not the mean of the token embeddings."""
    for module in model:
        if type(module).__name__ == "Pooling" and getattr(module, "pooling_mode", None) != "mean":
            raise StartupError(
                "RAG_EMBEDDING__RUNTIME=onnx supports mean-pooling models only; "
                f"this one pools by {getattr(module, 'pooling_mode', '?')!r}"
            )


def _trace(torch: Any, transformer: Any, target: Path) -> tuple[str, ...]:
    """Trace the transformer to ONNX (last hidden state) with dynamic batch and sequence axes."""
    inputs: tuple[str, ...] = ("input_ids", "attention_mask", "token_type_ids")
    if transformer.config.type_vocab_size < 1:  # pragma: no cover - models without segments
        inputs = inputs[:2]

    class Encoder(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *tensors: Any) -> Any:
            return self.transformer(**dict(zip(inputs, tensors, strict=True))).last_hidden_state

    if hasattr(transformer, "set_attn_implementation"):
        transformer.set_attn_implementation("eager")  # plain ops that ORT fuses into Attention
    # A padded example, so the traced graph keeps the attention mask (an all-ones mask is
    # short-cut by transformers and the shortcut would be frozen into the trace).
    ids = torch.full((2, 8), 1000, dtype=torch.int64)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    example = (ids, mask, torch.zeros_like(ids))[: len(inputs)]
    axes = {name: {0: "batch", 1: "sequence"} for name in (*inputs, "last_hidden_state")}
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # deprecation and tracer notes about the mask shortcut
        # The TorchScript exporter: its graph carries the patterns ONNX Runtime's optimiser
        # fuses (measured ~15 % faster than the dynamo export's, whose attention stays unfused).
        torch.onnx.export(
            Encoder().eval(),
            example,
            str(target),
            input_names=list(inputs),
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    return inputs


def _sensitive_nodes(model: Any, config: Any) -> list[str]:
    """The first layer's feed-forward output projection, kept in float32.

    Its input (after GELU) has the widest range of the network: quantised, it alone costs
    most of the int8 error (min cosine to torch 0.988 on SciFact texts; 0.991 kept float,
    at ~5 % of the matrix work).
    """
    weights = {init.name: tuple(init.dims) for init in model.graph.initializer}
    shape = (config.intermediate_size, config.hidden_size)
    for node in model.graph.node:
        if node.op_type == "MatMul" and weights.get(node.input[1]) == shape:
            return [node.name]
    return []  # pragma: no cover - a model without the BERT feed-forward shape


def _quantise(quantization: Any, optimizer: Any, config: Any, fp32: Path, target: Path) -> None:
    import onnx

    with quiet_onnxruntime_logs():
        source = fp32
        if config.model_type == "bert":
            fused = optimizer.optimize_model(
                str(fp32),
                model_type="bert",
                num_heads=config.num_attention_heads,
                hidden_size=config.hidden_size,
                opt_level=0,  # fusions only; hardware-specific rewrites happen at session start
            )
            source = fp32.with_name("model.fused.onnx")
            fused.save_model_to_file(str(source))
        quantization.quantize_dynamic(
            str(source),
            str(target),
            weight_type=quantization.QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=_sensitive_nodes(onnx.load(str(source)), config),
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},  # fused contrib ops
        )


def _build(settings: EmbeddingSettings, work: Path) -> None:
    """Export, fuse, quantise and describe the model into the empty directory ``work``."""
    torch, quantization, optimizer = _modules()
    model = load_model(settings)
    _mean_pooling(model)
    transformer = model[0].auto_model
    tokenizer = model.tokenizer
    fp32 = work / "model.fp32.onnx"
    inputs = _trace(torch, transformer, fp32)
    _quantise(quantization, optimizer, transformer.config, fp32, work / MODEL_FILE)
    for leftover in work.glob("model.f*.onnx"):
        leftover.unlink()
    tokenizer.backend_tokenizer.save(str(work / TOKENIZER_FILE))
    info = ExportInfo(
        max_seq_length=int(model.max_seq_length),
        dimension=int(transformer.config.hidden_size),
        pad_token=str(tokenizer.pad_token),
        pad_token_id=int(tokenizer.pad_token_id),
        do_lower_case=bool(getattr(model[0], "do_lower_case", False)),
        inputs=inputs,
    )
    (work / META_FILE).write_text(json.dumps(info.as_json(), indent=2), encoding="utf-8")


def export_model(settings: EmbeddingSettings, target: Path) -> None:
    """Build the int8 export in a temp dir beside ``target``, then rename it into place.

    Blocking (tens of seconds). When another process renamed its export into place first,
    that one is kept. Errors other than a missing package become a one-line StartupError.
    """
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(parent)
        work = Path(tempfile.mkdtemp(prefix=".export-", dir=parent))
    except OSError as exc:
        raise StartupError(
            f"RAG_DATA_DIR: cannot write the ONNX model cache in {parent} ({exc.strerror})"
        ) from None
    try:
        try:
            _build(settings, work)
        except StartupError:
            raise
        except Exception as exc:
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise StartupError(
                f"RAG_EMBEDDING__RUNTIME=onnx: exporting the embedding model to ONNX failed "
                f"({type(exc).__name__}: {reason}); set RAG_EMBEDDING__RUNTIME=torch"
            ) from None
        with contextlib.suppress(OSError):  # another process renamed its export in first
            work.rename(target)
        if not (target / META_FILE).is_file():
            raise StartupError(f"RAG_DATA_DIR: cannot move the ONNX export into {target}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
