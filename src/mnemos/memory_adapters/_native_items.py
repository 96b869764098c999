"""The typed items of each memory in the native store (``entity_items``), kept with the memory.

Rows of ``_episodic_graph.item_rows`` keyed by the memory's rowid, written in the
transaction that writes the memory; a trigger deletes them with it. A store that
kept none yet (schema version 1) or kept another version's derives them once,
when it is opened for writing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from mnemos.memory_adapters._episodic_graph import ITEMS_VERSION, item_rows, rederive

__all__ = ["derive_all", "items_current", "write_items"]

_INSERT = "INSERT OR IGNORE INTO entity_items (kind, ns, item, memory, speaker) VALUES (?, ?, ?, ?, ?)"
_BATCH = 2000


def write_items(
    conn: sqlite3.Connection, memories: Iterable[tuple[int, str, str, str | None]], *, replace: bool = False
) -> None:
    """Keep the items of memories ``(rowid, ns key, content, speaker)`` (inside the
    caller's write transaction); with ``replace`` their earlier items go first."""
    memories = list(memories)
    if replace:
        conn.executemany("DELETE FROM entity_items WHERE memory = ?", [(m[0],) for m in memories])
    conn.executemany(
        _INSERT,
        sorted(  # in index order: a batch touches each page of the index once
            (kind, ns, item, rowid, who)
            for rowid, ns, content, speaker in memories
            for kind, item, who in item_rows(content, speaker)
        ),
    )


def items_current(conn: sqlite3.Connection) -> bool:
    """Whether the store keeps the items of every memory, as this version derives them."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'entity_items'").fetchone()
    return row is not None and row[0] == ITEMS_VERSION


def derive_all(conn: sqlite3.Connection) -> None:
    """Derive the items of every memory again (inside the caller's write transaction).

    The counters are computed once at the end rather than by the insert trigger, row by
    row (most of the time of a store's upgrade, with a dozen rows a memory); the trigger
    is dropped and created again inside the same transaction."""
    conn.execute("DELETE FROM entity_df")
    conn.execute("DELETE FROM entity_items")
    row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'entity_items_ai'").fetchone()
    if row is not None:
        conn.execute("DROP TRIGGER entity_items_ai")
    rederive(conn, write_items, "?", _BATCH)
    conn.execute(
        "INSERT INTO entity_df (kind, ns, item, n) SELECT kind, ns, item, count(*) FROM entity_items "
        "GROUP BY kind, ns, item"
    )
    if row is not None:
        conn.execute(row[0])
