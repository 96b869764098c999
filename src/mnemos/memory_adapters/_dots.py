"""Matrix-vector products of the vector cache's float32 rows, on the calling thread."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from mnemos.memory_adapters._row_runs import Pieces

__all__ = ["BLAS_BLOCK", "dot", "matvec", "scores"]

BLAS_BLOCK = 8192
"""Elements of the matrix in one BLAS matrix-vector product: OpenBLAS runs a product
smaller than 2304 x 4 elements on the calling thread, whatever its thread count."""
matvec = getattr(np, "matvec", None)
"""numpy's matrix-vector product over stacks of matrices (numpy >= 2.2)."""


def dot(matrix: npt.NDArray[np.float32], vector: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """``matrix @ vector`` on the calling thread.

    A matrix-vector product over the cache is memory-bound, so it gains nothing from
    more threads; but a multithreaded BLAS splits a large one, and on a busy machine its
    threads wait for cores other processes hold: a 100k-row scan then cost 4-8 times its
    CPU time and more in wall time. So the rows go to BLAS in blocks too small for it to
    split (one call of numpy's ``matvec`` over the stack of blocks), with a third to a quarter
    of einsum's instructions; without ``matvec``, or for rows too wide for a block, einsum
    runs the product in SIMD loops on this thread."""
    rows, cols = matrix.shape
    step = BLAS_BLOCK // cols if cols else 0
    if matvec is None or step < 2 or rows < 2 * step or not matrix.flags.c_contiguous:
        return np.einsum("ij,j->i", matrix, vector)  # type: ignore[no-any-return]
    whole = rows - rows % step
    out = np.empty(rows, dtype=np.result_type(matrix.dtype, vector.dtype))
    out[:whole] = matvec(matrix[:whole].reshape(-1, step, cols), vector).reshape(-1)
    if whole < rows:
        out[whole:] = matvec(matrix[whole:], vector)
    return out


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
