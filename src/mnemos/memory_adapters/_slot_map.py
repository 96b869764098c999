"""Rowid -> slot of the vector cache, for many rowids at once."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["SlotMap"]


class SlotMap:
    """Rowid -> slot of the cache, as an array indexed by rowid (-1: none), so that many
    rowids are looked up at once and a loaded file needs no dictionary built."""

    def __init__(self, rowids: npt.NDArray[np.int64] | None = None) -> None:
        top = int(rowids.max(initial=0)) if rowids is not None and len(rowids) else 0
        self.slots = np.full(max(1024, top + 1), -1, dtype=np.int64)
        if rowids is not None and len(rowids):
            self.slots[rowids] = np.arange(len(rowids), dtype=np.int64)

    def lookup(self, rowids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The slot of each rowid (-1 where it has none)."""
        inside = rowids < len(self.slots)
        out = np.full(len(rowids), -1, dtype=np.int64)
        out[inside] = self.slots[rowids[inside]]
        return out

    def get(self, rowid: int, default: int | None = None) -> int | None:
        slot = int(self.slots[rowid]) if 0 <= rowid < len(self.slots) else -1
        return default if slot < 0 else slot

    def __getitem__(self, rowid: int) -> int:
        slot = self.get(rowid)
        if slot is None:
            raise KeyError(rowid)
        return slot

    def __contains__(self, rowid: object) -> bool:
        return isinstance(rowid, (int, np.integer)) and self.get(int(rowid)) is not None

    def __setitem__(self, rowid: int, slot: int) -> None:
        if rowid >= len(self.slots):
            grown = np.full(max(rowid + 1, 2 * len(self.slots)), -1, dtype=np.int64)
            grown[: len(self.slots)] = self.slots
            self.slots = grown
        self.slots[rowid] = slot

    def set_many(self, rowids: npt.NDArray[np.int64], slots: npt.NDArray[np.int64]) -> None:
        if len(rowids):
            self[int(rowids.max())] = -1
            self.slots[rowids] = slots

    def pop(self, rowid: int, default: int | None = None) -> int | None:
        slot = self.get(rowid)
        if slot is None:
            return default
        self.slots[rowid] = -1
        return slot
