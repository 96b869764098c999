"""Any LangChain ``Embeddings`` object as a mnemos embedder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from mnemos.exceptions import ConfigurationError
from mnemos.memory_adapters.embedders.base import DENSE_BM25_B, Embedder, Vectors

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

__all__ = ["LangChainEmbedder"]

_MODEL_ATTRIBUTES = ("model", "model_name", "model_id", "deployment")
_PROBE = "dimension probe"


def _normalized(rows: object, dims: int | None = None) -> Vectors:
    array = np.asarray(rows, dtype=np.float32)
    if array.ndim != 2 or (dims is not None and array.shape[1] != dims):
        raise ConfigurationError(
            f"the LangChain embeddings returned vectors of shape {array.shape}"
        )
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    np.divide(array, norms, out=array, where=norms > 0)
    return array


def _default_name(embeddings: Embeddings, dims: int) -> str:
    cls = type(embeddings).__name__
    for attribute in _MODEL_ATTRIBUTES:
        model = getattr(embeddings, attribute, None)
        if isinstance(model, str) and model:
            return f"langchain:{cls}:{model}"
    return f"langchain:{cls}:{dims}"


class LangChainEmbedder(Embedder):
    """Wraps a ``langchain_core.embeddings.Embeddings``; rows are L2-normalised.

    The number of dimensions is found by embedding one probe text (pass
    ``dims`` to skip that call). The name is ``name`` if given, else
    ``"langchain:<class>:<model>"`` from the object's ``model``/``model_name``
    attribute (or its dimensions when it has none).
    """

    bm25_b = DENSE_BM25_B

    def __init__(
        self, embeddings: Embeddings, name: str | None = None, *, dims: int | None = None
    ) -> None:
        from langchain_core.embeddings import Embeddings

        if not isinstance(embeddings, Embeddings):
            raise ConfigurationError(
                f"expected a langchain_core Embeddings object, not {type(embeddings).__name__}"
            )
        self.embeddings = embeddings
        self.dims = dims if dims is not None else len(embeddings.embed_query(_PROBE))
        if self.dims <= 0:
            raise ConfigurationError("the LangChain embeddings returned an empty vector")
        self.name = name or _default_name(embeddings, self.dims)

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed documents with ``embed_documents``: shape ``(len(texts), dims)``."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts; use embed_query() for one text")
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        return _normalized(self.embeddings.embed_documents(list(texts)), self.dims)

    def embed_query(self, text: str) -> Vectors:
        """Embed one query with ``embed_query``: shape ``(dims,)``."""
        return _normalized([self.embeddings.embed_query(text)], self.dims)[0]
