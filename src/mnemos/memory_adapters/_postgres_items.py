"""The typed items of each memory in PostgreSQL (``entity_items``), kept with the memory.

The same rows as the native store's (``_native_items``): written in the
transaction that writes the memory, deleted with it (``ON DELETE CASCADE``);
``entity_df`` follows them by trigger. A store upgraded to schema version 4, or
whose items another version derived, derives them once when it is opened.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from mnemos.memory_adapters._episodic_graph import ITEMS_VERSION, item_rows, rederive

__all__ = ["derive_items", "lock_counters", "write_items"]


def write_items(conn: Any, memories: Iterable[tuple[int, str, str, str | None]], *, replace: bool = False) -> None:
    """Keep the typed items of memories ``(rowid, ns key, content, speaker)`` (inside the
    caller's transaction); with ``replace`` their earlier items go first. Rows go in one
    global order, so concurrent writers take the counters' row locks without a cycle."""
    memories = list(memories)
    rows = sorted(
        (kind, ns, item, rowid, who)
        for rowid, ns, content, speaker in memories
        for kind, item, who in item_rows(content, speaker)
    )
    if replace:
        ids = [m[0] for m in memories]
        lock_counters(conn, "rowid = ANY(%s)", [ids], [(kind, ns, item) for kind, ns, item, _, _ in rows])
        conn.execute("DELETE FROM entity_items WHERE memory = ANY(%s)", (ids,))
    if rows:
        conn.execute(
            "INSERT INTO entity_items (kind, ns, item, memory, speaker) "
            "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::bigint[], %s::text[])",
            [list(column) for column in zip(*rows, strict=True)],
        )


def lock_counters(
    conn: Any, memories: str, params: Sequence[Any], items: Sequence[tuple[str, str, str]] = ()
) -> None:
    """Lock the counters (``entity_df``) of the items of the memories matching ``memories``
    (a condition on ``memories``), and of ``items`` ``(kind, ns, item)``, in the global
    order writers take them in, before those memories or their items are deleted: the
    cascade would take them in the order its rows happen to go, and could wait for one
    counter while holding a later one that a writer waits for."""
    also = ""
    if items:
        also = " OR (kind, ns, item) IN (SELECT * FROM unnest(%s::text[], %s::text[], %s::text[]))"
        params = [*params, *(list(column) for column in zip(*items, strict=True))]
    conn.execute(
        "SELECT 1 FROM entity_df WHERE (kind, ns, item) IN (SELECT kind, ns, item FROM entity_items "
        f"WHERE memory IN (SELECT rowid FROM memories WHERE {memories})){also} "
        "ORDER BY kind, ns, item FOR UPDATE",
        params,
    )


def derive_items(conn: Any, schema: str) -> None:
    """Derive the typed items of every memory of ``schema`` when it keeps none or another
    version's (inside the caller's transaction, under the schema lock)."""
    row = conn.execute(f"SELECT value FROM \"{schema}\".meta WHERE key = 'entity_items'").fetchone()
    if row is not None and row[0] == ITEMS_VERSION:
        return
    conn.execute(f'SET LOCAL search_path TO "{schema}", public')
    conn.execute("DELETE FROM entity_items")
    rederive(conn, write_items, "%s")
