"""Sortable unique ids: 48 bits of milliseconds, then 80 random bits (UUIDv7-like).

Ids made in one process sort in creation order, even within a millisecond.
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["new_id"]

_lock = threading.Lock()
_last_ms = 0
_last_rand = 0
_RAND_BITS = 80


def new_id() -> str:
    """A 32-character lowercase hex id that sorts by creation time."""
    global _last_ms, _last_rand
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            rand = _last_rand + 1 + int.from_bytes(os.urandom(2), "big")
            if rand >= 1 << _RAND_BITS:  # exhausted this millisecond: borrow the next one
                ms += 1
                rand = int.from_bytes(os.urandom(9), "big")
        else:
            rand = int.from_bytes(os.urandom(9), "big")  # 72 bits leaves room to count up
        _last_ms, _last_rand = ms, rand
    return f"{ms:012x}{rand:020x}"
