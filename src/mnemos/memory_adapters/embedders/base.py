"""The embedder contract: texts in, L2-normalised float32 vectors out."""

from __future__ import annotations

import abc
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["Embedder", "Vectors"]

Vectors = npt.NDArray[np.float32]


class Embedder(abc.ABC):
    """Turns texts into unit vectors.

    ``name`` identifies the embedder *and its settings* (e.g.
    ``"hashing:v1:512"``, ``"st:all-MiniLM-L6-v2"``): a store records it and
    refuses to be opened with a different one.
    """

    name: str
    dims: int
    parallel_query: bool = False
    """Whether ``embed_query`` spends its milliseconds outside the GIL (a model's forward
    pass): a search then embeds the query on a worker thread while its keyword search runs."""

    @abc.abstractmethod
    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed documents: an array of shape ``(len(texts), dims)``, rows of norm 1 (or 0)."""

    def embed_query(self, text: str) -> Vectors:
        """Embed one query: shape ``(dims,)``. Override if queries differ from documents."""
        return self.embed([text])[0]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} dims={self.dims}>"
