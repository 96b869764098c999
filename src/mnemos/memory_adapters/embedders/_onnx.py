"""One text at a time through ONNX Runtime (the ``onnx`` extra).

A query is one short text. Torch runs it in eager mode, one operator after
another; ONNX Runtime runs the same model, exported once, in well under half
the time on one thread (all-MiniLM-L6-v2 on the LoCoMo questions: CPU p50
8-9 ms against 19-21 ms), and its vectors equal torch's up to float32
rounding (cosine >= 0.9999998).

The whole sentence-transformers model is exported (transformer, pooling and
any later modules), from the model already loaded: no network. It is exported
for one text, whose attention mask is all ones, so it serves single texts
only; batches stay with torch. The file is kept under
``$MNEMOS_HOME/cache/onnx``, keyed by the model's files and the library
versions, so later processes only load it; where that directory cannot be
written the export is kept in memory. An export whose vectors differ from
torch's on two probe texts is not used.

sentence-transformers' own ONNX backend needs ``optimum``, whose ONNX package
holds transformers below 5; this module needs only ``onnxruntime`` and
``onnx`` (for torch's exporter).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from mnemos.config import mnemos_home
from mnemos.exceptions import ConfigurationError, MissingExtraError
from mnemos.memory_adapters.embedders.base import Vectors

__all__ = ["OnnxEncoder", "onnx_encoder", "onnx_installed", "require_onnx"]

FORMAT = 1
"""Bumped when the exported graph changes, so older cached files are not reused."""
_PROBES = ("What did she paint last week?", "How long ago did Caroline move from Sweden, and why did she go?")
_TOLERANCE = 1e-4
_encoders: dict[str, OnnxEncoder | None] = {}
_lock = threading.Lock()


def onnx_installed() -> bool:
    """Whether ONNX Runtime and the ONNX package (for the export) can be imported."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def require_onnx() -> None:
    """Raise :class:`MissingExtraError` naming the ``onnx`` extra unless it is installed."""
    for name in ("onnxruntime", "onnx"):
        if importlib.util.find_spec(name) is None:
            raise MissingExtraError("onnx", name, "the ONNX Runtime query encoder")


class OnnxEncoder:
    """A sentence-transformers model exported to ONNX, run on one thread, for one text at a time."""

    def __init__(self, session: Any, inputs: list[str], constants: dict[str, Any]) -> None:
        self._session = session
        self._inputs = inputs
        self._constants = constants

    def encode(self, features: dict[str, Any]) -> Vectors | None:
        """The unit vector, shape ``(1, dims)``, of one text's features (the model's ``preprocess``);
        None for features other than the tensors the export was made for (e.g. another modality)."""
        if any(features.get(name) != value for name, value in self._constants.items()):
            return None
        feed = {name: features[name].numpy() for name in self._inputs}
        found = np.asarray(self._session.run(None, feed)[0], dtype=np.float32)
        norms = np.linalg.norm(found, axis=1, keepdims=True)
        return np.ascontiguousarray(found / np.maximum(norms, 1e-12), dtype=np.float32)


def onnx_encoder(model: Any, source: str, *, strict: bool) -> OnnxEncoder | None:
    """The ONNX encoder of ``model`` (loaded from ``source``), exported on first use.

    Where the model cannot be exported, or its export does not give torch's
    vectors, this is None, or with ``strict`` a :class:`ConfigurationError`.
    """
    with _lock:
        if source not in _encoders:
            try:
                _encoders[source] = _build(model, source)
            except Exception as exc:  # an exporter or runtime failure: torch still works
                _encoders[source] = None
                reason = f"cannot run {source!r} with ONNX Runtime ({type(exc).__name__}: {exc})"
                if strict:
                    raise ConfigurationError(reason) from None
                warnings.warn(f"{reason}; queries are encoded with torch", RuntimeWarning, stacklevel=3)
        encoder = _encoders[source]
    if encoder is None and strict:
        raise ConfigurationError(f"cannot run {source!r} with ONNX Runtime")
    return encoder


def _build(model: Any, source: str) -> OnnxEncoder:
    import onnxruntime as ort
    import torch

    probes = [model.preprocess([text]) for text in _PROBES]
    inputs = [name for name, value in probes[0].items() if isinstance(value, torch.Tensor)]
    # other features (sentence-transformers adds the modality, "text") are fixed in the graph
    constants = {name: value for name, value in probes[0].items() if name not in inputs}
    if not all(isinstance(value, str | int | float | bool) for value in constants.values()):
        raise ValueError("the model's features are neither tensors nor plain values")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    path = _cache_path(source)
    session = None
    if path is not None and path.is_file():
        try:
            session = ort.InferenceSession(path.read_bytes(), options, providers=["CPUExecutionProvider"])
        except Exception:  # a damaged file: export again
            session = None
    if session is None:
        data = _export(model, inputs, constants, probes[0])
        if path is not None:
            _save(path, data)
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    encoder = OnnxEncoder(session, inputs, constants)
    with torch.inference_mode():
        for features in probes:
            expected = model(dict(features))["sentence_embedding"]
            expected = torch.nn.functional.normalize(expected, p=2, dim=1).numpy()
            found = encoder.encode(features)
            if found is None or not np.allclose(found, expected, atol=_TOLERANCE, rtol=0):
                if path is not None:
                    with contextlib.suppress(OSError):
                        path.unlink()
                raise ValueError("the exported model's vectors differ from torch's")
    return encoder


def _export(model: Any, inputs: list[str], constants: dict[str, Any], features: dict[str, Any]) -> bytes:
    import torch

    class Whole(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: Any) -> Any:
            return self.model({**dict(zip(inputs, tensors, strict=True)), **constants})["sentence_embedding"]

    out = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Whole().eval(),
            tuple(features[name] for name in inputs),
            out,  # type: ignore[arg-type]  # the TorchScript exporter writes to a file object too
            input_names=inputs,
            output_names=["sentence_embedding"],
            dynamic_axes={name: {1: "tokens"} for name in inputs},
            opset_version=17,
            dynamo=False,
        )
    return out.getvalue()


def _cache_path(source: str) -> Path | None:
    """Where the export of a model directory is kept; None for a model known by name only."""
    folder = Path(source)
    if not folder.is_dir():
        return None
    import sentence_transformers
    import torch
    import transformers

    key = hashlib.sha256()
    for part in (FORMAT, torch.__version__, transformers.__version__, sentence_transformers.__version__, folder.resolve()):
        key.update(f"{part}\0".encode())
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = file.stat()
        key.update(f"{file.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return mnemos_home() / "cache" / "onnx" / f"{folder.name}-{key.hexdigest()[:20]}.onnx"


def _save(path: Path, data: bytes) -> None:
    """Write the export where later processes find it (atomically; skipped if not writable)."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()
