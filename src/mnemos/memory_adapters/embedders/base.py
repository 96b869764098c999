"""The embedder contract: texts in, L2-normalised float32 vectors out."""

from __future__ import annotations

import abc
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["CLASSIC_BM25_B", "DENSE_BM25_B", "Embedder", "Vectors"]

Vectors = npt.NDArray[np.float32]

CLASSIC_BM25_B = 0.75
"""BM25's usual length normalisation: what an embedder that matches words keeps."""
DENSE_BM25_B = 0.3
"""The length normalisation a neural embedder's keyword list takes: chosen
leave-one-conversation-out on LoCoMo with all-MiniLM-L6-v2 (0.2-0.3 in every fold)."""


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
    bm25_b: float = CLASSIC_BM25_B
    """The BM25 length normalisation (0 to 1) that hybrid search's keyword list takes beside
    this embedder's vectors, unless ``RankingConfig.bm25_b`` sets one. A lexical embedder
    (the built-in hashing one) keeps the usual 0.75; a neural one (sentence-transformers,
    LangChain) takes :data:`DENSE_BM25_B`, as leave-one-conversation-out on LoCoMo chose."""

    @abc.abstractmethod
    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed documents: an array of shape ``(len(texts), dims)``, rows of norm 1 (or 0)."""

    def embed_query(self, text: str) -> Vectors:
        """Embed one query: shape ``(dims,)``. Override if queries differ from documents."""
        return self.embed([text])[0]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} dims={self.dims}>"
