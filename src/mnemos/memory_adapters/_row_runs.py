"""Runs of rows: the few stretches of the vector cache holding a scan's rows, read in place."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Part", "Pieces", "at", "parts", "pieces", "runs", "spans"]

_RUN_GAP = 32
"""Rows of one scan closer than this are read as one run (the rows between are scored too)."""
_MAX_RUNS = 64


def runs(slots: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None:
    """``(starts, ends)`` of the few runs of rows covering ``slots`` (ascending), or None
    when they are too scattered to read as views (then rows are copied out)."""
    if int(slots[-1]) - int(slots[0]) + 1 == len(slots):  # one unbroken run (a namespace's rows)
        return slots[:1], slots[-1:] + 1
    breaks = np.flatnonzero(np.diff(slots) > _RUN_GAP) + 1
    if len(breaks) >= _MAX_RUNS:
        return None
    starts = slots[np.concatenate(([0], breaks))]
    ends = slots[np.concatenate((breaks - 1, [len(slots) - 1]))] + 1
    if int((ends - starts).sum()) > 4 * len(slots):
        return None
    return starts, ends


Pieces = list[tuple[int, int, int, int]]
"""Runs of rows as ``(start, end, lo, hi)``: the run ``[start, end)`` of the cache holds the
slots ``slots[lo:hi]`` (all of its rows when ``hi - lo == end - start``)."""


def pieces(slots: npt.NDArray[np.int64], runs: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]) -> Pieces:
    """The runs covering ``slots`` (both ascending), each with the slice of ``slots`` it holds."""
    starts, ends = runs
    cuts = [*np.searchsorted(slots, starts).tolist(), len(slots)]
    return [(a, b, cuts[i], cuts[i + 1]) for i, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True))]


def at(column: npt.NDArray[Any], slots: npt.NDArray[np.int64], pieces: Pieces | None) -> npt.NDArray[Any]:
    """``column[slots]``, a run holding all of its rows read as a slice."""
    if pieces is None:
        return column[slots]
    parts = [column[a:b] if hi - lo == b - a else column[slots[lo:hi]] for a, b, lo, hi in pieces]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


Part = tuple[int, int, int, int]
"""Rows ``[start, end)`` of the cache scored together, giving the scores of ``slots[lo:hi]``
(``start`` -1: the rows ``slots[lo:hi]``, copied out)."""


def parts(slots: npt.NDArray[np.int64], pieces: Pieces | None, size: int, least: int) -> list[Part]:
    """The rows of a scan (its ``pieces``, or ``slots`` copied out) cut in parts of ``size``
    rows, counted from the start of each run (a last part of fewer than ``least`` rows joins
    the one before); parts holding none of ``slots`` are left out."""
    if pieces is None:
        return [(-1, -1, lo, hi) for lo, hi in _cuts(0, len(slots), size, least)]
    out: list[Part] = []
    for a, b, lo, hi in pieces:
        cuts = _cuts(a, b, size, least)
        if hi - lo == b - a:  # every row of the run
            out += [(start, end, lo + start - a, lo + end - a) for start, end in cuts]
            continue
        where = (np.searchsorted(slots[lo:hi], [start for start, _ in cuts] + [b]) + lo).tolist()
        out += [(start, end, where[i], where[i + 1]) for i, (start, end) in enumerate(cuts) if where[i] < where[i + 1]]
    return out


def spans(parts: list[Part]) -> list[Part]:
    """``parts`` (of :func:`parts`) joined where one goes on from the other, in rows and in
    slots: each span is read as one."""
    out: list[Part] = []
    for part in parts:
        if out:
            start, end, lo, hi = out[-1]
            if part[0] == end and part[2] == hi:
                out[-1] = (start, part[1], lo, part[3])
                continue
        out.append(part)
    return out


def _cuts(start: int, end: int, size: int, least: int) -> list[tuple[int, int]]:
    if end - start < size + least:
        return [(start, end)]
    starts = list(range(start, end, size))
    if end - starts[-1] < least:
        starts.pop()
    return list(zip(starts, [*starts[1:], end], strict=True))
