"""An int8 copy of the vector cache's rows: a first pass that reads a quarter of the bytes,
and exactly the same top rows as the float32 scan.

A row ``r`` is kept as ``c = round(r / s)`` in int8 with ``s = max|r| / 127``, together with
``|r|`` and ``|r - s c|``. The query ``q`` is rounded the same way (``q'``, with error
``e = q - q'``). The estimate ``r' . q'`` (one int8 dot product, SimSIMD's kernel) differs from
the exact cosine ``r . q`` by at most ``|r'| |e| + |r - r'| |q|`` (Cauchy-Schwarz on the two
rounding errors), plus the float32 rounding of the exact product. So a row whose upper bound
lies below the k-th best lower bound cannot be among the best k. The rest (a few more than
k: 115-164 rows for k = 100 of 10k rows of the built-in embedder) are scored exactly in
float32, and their best k are the exact scan's best k.

The copy is made the first time a row is scanned, and dropped when rows move (see
``_vectors.VectorCache._forget_layout``): it is derived from the matrix, never saved.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["QUICK_SCAN", "Int8Query", "Int8Rows", "candidates", "kernel"]

QUICK_SCAN = 1_000_000
"""A scan of at least this many floats (rows x dims) reads the int8 copy first."""
_TOLERANCE = 2.0**-22
"""Of ``dims |r| |q|``: more than the float32 product's own rounding (``dims 2^-24 |r| |q|``)."""
_CHUNK = 512
"""Rows coded at a time (their temporary arrays stay in the processor's cache)."""
_MISSING = object()
_kernel: Any = _MISSING


def kernel() -> Any:
    """SimSIMD's ``cdist`` (int8 dot products in SIMD), or None where it cannot be imported:
    then every scan is the exact float32 one."""
    global _kernel
    if _kernel is _MISSING:
        try:
            import simsimd
        except ImportError:
            _kernel = None
        else:
            _kernel = simsimd.cdist
    return _kernel


class Int8Rows:
    """The int8 codes of a cache's rows, made when first scanned (:meth:`ensure`)."""

    def __init__(self, dims: int) -> None:
        self.dims = dims
        self.codes = np.zeros((0, dims), dtype=np.int8)
        self.scale = np.zeros(0, dtype=np.float64)
        """Each row's ``s``: its codes times this are its rounded vector ``r'``."""
        self.norm = np.zeros(0, dtype=np.float64)
        """``|r|`` (infinite for a row that is not finite: it is always scored exactly)."""
        self.error = np.zeros(0, dtype=np.float64)
        """``|r - r'|``."""
        self.ready = np.zeros(0, dtype=bool)
        self.scans = 0

    def wanted(self) -> bool:
        """Count a scan that may read the codes; whether it should. A process's first such
        scan reads the float32 rows: coding them costs about 2 us a row (20 ms for 10k of
        512 dims), which a process that searches once (a command line) never gets back."""
        self.scans += 1
        return self.scans > 1

    def reserve(self, capacity: int) -> None:
        """Room for ``capacity`` slots (before threads :meth:`ensure` parts side by side)."""
        have = len(self.ready)
        if capacity <= have:
            return
        capacity = max(capacity, 2 * have)
        for name in ("codes", "scale", "norm", "error", "ready"):
            old = getattr(self, name)
            new = np.zeros((capacity, *old.shape[1:]), dtype=old.dtype)
            new[:have] = old
            setattr(self, name, new)

    def ensure(self, matrix: npt.NDArray[np.float32], start: int, end: int) -> None:
        """Make the codes of the slots ``[start, end)`` that have none yet."""
        if self.ready[start:end].all():
            return
        todo = start + np.flatnonzero(~self.ready[start:end])
        lo, hi = int(todo[0]), int(todo[-1]) + 1  # the rows between are few: coded again, the same
        for first in range(lo, hi, _CHUNK):
            self._code(matrix, first, min(first + _CHUNK, hi))
        self.ready[lo:hi] = True

    def _code(self, matrix: npt.NDArray[np.float32], lo: int, hi: int) -> None:
        rows = matrix[lo:hi]
        top = np.abs(rows).max(axis=1)
        finite = np.isfinite(top)
        scale = np.where(finite & (top > 0), top / np.float32(127), np.float32(1))
        codes = rows / scale[:, None]
        np.rint(codes, out=codes)
        codes[~finite] = 0
        self.codes[lo:hi] = codes
        self.scale[lo:hi] = scale
        codes *= scale[:, None]
        np.subtract(rows, codes, out=codes)  # the rounding error
        # float32 sums, made upper bounds of the exact norms (their relative error is under dims 2^-24)
        grow = 1 + self.dims * 2.0**-22
        norm = np.sqrt(np.einsum("ij,ij->i", rows, rows).astype(np.float64)) * grow
        error = np.sqrt(np.einsum("ij,ij->i", codes, codes).astype(np.float64)) * grow + norm * 2.0**-21
        self.norm[lo:hi] = np.where(finite, norm, np.inf)
        self.error[lo:hi] = np.where(finite, error, np.inf)

    def bounds(
        self, query: Int8Query, start: int, end: int
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Lower and upper bounds of the exact cosines of the rows ``[start, end)`` with the query."""
        cdist = kernel()
        dots = np.asarray(cdist(query.codes, self.codes[start:end], metric="dot"))[0]  # type: ignore[misc]
        estimate = dots * self.scale[start:end]
        estimate *= query.scale
        # |r' - r| |q| + |r'| |q' - q| with |r'| <= |r| + |r' - r|, and the float32 product's rounding
        bound = self.error[start:end] * (query.norm + query.error)
        bound += self.norm[start:end] * (query.tolerance + query.error)
        return estimate - bound, estimate + bound


class Int8Query:
    """A query vector rounded like the rows, with what the bounds need of it."""

    def __init__(self, vector: npt.NDArray[np.float32]) -> None:
        exact = vector.astype(np.float64)
        top = float(np.abs(exact).max(initial=0.0))
        self.scale = top / 127.0 if top > 0 else 1.0
        codes = np.rint(exact / self.scale)
        self.codes = codes.astype(np.int8)[None, :]
        self.norm = float(np.sqrt(exact @ exact))
        self.error = float(np.linalg.norm(exact - codes * self.scale))
        self.tolerance = len(vector) * _TOLERANCE * self.norm

    @staticmethod
    def usable(vector: npt.NDArray[np.float32]) -> bool:
        """Whether a vector can be rounded (finite, not zero) and the kernel is there."""
        return bool(np.isfinite(vector).all() and vector.any()) and kernel() is not None


def candidates(
    lower: npt.NDArray[np.float64], upper: npt.NDArray[np.float64], k: int, block: int
) -> npt.NDArray[np.int64]:
    """Positions of every row that may be among the best ``k`` by exact cosine, given the
    bounds of :meth:`Int8Rows.bounds` (the others are surely below ``k`` rows), and a few
    more: whole ``block`` s of rows, two at least. The float32 product scores a row to the
    same last bit as the exact scan only in a block of the same size (``_dots.dot``)."""
    count = len(lower)
    if k >= count or 2 * block >= count:
        return np.arange(count)
    kth = np.partition(lower, count - k)[count - k]
    maybe = upper >= kth
    found = int(np.count_nonzero(maybe))
    short = max(2 * block, found + -found % block) - found
    if short:
        maybe[np.flatnonzero(~maybe)[:short]] = True
    return np.flatnonzero(maybe)  # type: ignore[no-any-return]
