"""What the text signals of a native search read of its candidates (see ``_rerank``)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import numpy as np

from mnemos.memory_adapters._native_schema import from_micros
from mnemos.memory_adapters._native_store import CHUNK, Store, marks
from mnemos.memory_adapters._rerank import Facts

__all__ = ["facts_of"]


def facts_of(store: Store, rowids: list[int], speaker: bool, text: bool | list[int] = True) -> dict[int, Facts]:
    """What the text signals read of each candidate (see ``_rerank``): without ``text`` or
    ``speaker``, only the time, from the vector cache's column (no content or episode);
    ``text`` may name the rows whose text is read (the others' is left empty)."""
    if not isinstance(text, bool):
        if speaker or len(text) == len(rowids):
            return facts_of(store, rowids, speaker, bool(text) or speaker)
        timed = facts_of(store, rowids, False, False)
        if text:
            timed.update(facts_of(store, text, False, True))
        return timed
    out: dict[int, Facts] = {}
    times: dict[int, datetime | None] = {}  # the memories of a batch share their time
    if not (text or speaker):
        cache = store.cache
        slots = cache.slot_of.lookup(np.asarray(rowids, dtype=np.int64))
        found = slots >= 0
        for rowid, micros in zip(
            np.asarray(rowids, dtype=np.int64)[found].tolist(), cache.created[slots[found]].tolist(), strict=True
        ):
            when = times[micros] if micros in times else times.setdefault(micros, from_micros(micros))
            out[rowid] = Facts("", None, when)
        return out
    columns = "rowid, content, episode, created_at" + (", provenance, metadata" if speaker else "")
    for start in range(0, len(rowids), CHUNK):
        part = rowids[start : start + CHUNK]
        for row in store.conn.execute(
            f"SELECT {columns} FROM memories WHERE rowid IN ({marks(len(part))})", part
        ):
            who = None
            if speaker:
                who = _json_key(row[4], "agent") or _json_key(row[5], "speaker")
            when = times[row[3]] if row[3] in times else times.setdefault(row[3], from_micros(row[3]))
            out[row[0]] = Facts(row[1], row[2], when, str(who) if who else None)
    return out


def _json_key(text: str, key: str) -> Any:
    """``json.loads(text).get(key)``, without parsing a text in which the key is missing or
    null (most memories name no agent or speaker). In a JSON text without an escape every
    quote delimits a string, so the key's only quoted occurrence followed by ``: null``
    is that key, null, wherever it sits; any other text is parsed."""
    if "\\" not in text:
        found = text.count(f'"{key}"')
        if not found or (found == 1 and f'"{key}": null' in text):
            return None
    return json.loads(text).get(key)
