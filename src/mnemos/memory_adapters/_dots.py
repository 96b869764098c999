"""Matrix-vector products of the vector cache's float32 rows, on the calling thread."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from mnemos.memory_adapters._row_runs import Pieces

__all__ = ["dot", "scores"]


def dot(matrix: npt.NDArray[np.float32], vector: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """``matrix @ vector`` on the calling thread, in numpy's einsum loops.

    A multithreaded BLAS splits a large product, and on a busy machine its threads wait
    for cores other processes hold (a 100k-row scan cost 4-8 times its CPU time), so
    scans stay on one thread. einsum reduces each row on its own, so a row's product is
    the same to the last bit whichever rows it is scored with. A product over the cache
    is bound by memory: einsum read 10k rows of 512 floats in about 1.0 ms on a 2-core machine, where
    BLAS in blocks too small for it to thread (one ``numpy.matvec`` over the stack of
    625 blocks) took 1.9 ms, with a third of einsum's instructions."""
    return np.einsum("ij,j->i", matrix, vector)  # type: ignore[no-any-return]


def scores(
    matrix: npt.NDArray[np.float32],
    probe: npt.NDArray[np.float32],
    slots: npt.NDArray[np.int64],
    pieces: Pieces | None,
) -> npt.NDArray[np.float32]:
    """``matrix[slots] @ probe``, reading runs of rows in place rather than copying them."""
    if pieces is None:
        return dot(matrix[slots], probe)
    parts = []
    for a, b, lo, hi in pieces:
        scores = dot(matrix[a:b], probe)
        parts.append(scores if hi - lo == b - a else scores[slots[lo:hi] - a])
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
