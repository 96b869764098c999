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

__all__ = ["derive_items", "item_keys", "lock_counters", "write_items"]


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


def item_keys(memories: Iterable[tuple[str, str, str | None]]) -> list[tuple[str, str, str]]:
    """The counters ``(kind, ns, item)`` the items of memories ``(ns key, content, speaker)`` count in."""
    return sorted({(kind, ns, item) for ns, content, speaker in memories for kind, item, _ in item_rows(content, speaker)})


def lock_counters(
    conn: Any,
    memories: str,
    params: Sequence[Any],
    items: Sequence[tuple[str, str, str]] = (),
    *,
    if_found: bool = False,
) -> None:
    """Lock, before the memories matching ``memories`` (a condition on ``memories``) or their
    items are deleted or replaced, what a writer locks, in the one order every writer takes:
    first those memories' rows (by ``rowid``), then the counters (``entity_df``) of their
    items and of ``items`` ``(kind, ns, item)`` in one sorted pass (with ``if_found``, the
    counters only if some memory matched: an insert that replaces nothing adds its items in
    sorted order anyway).

    The cascade from the memories would take the counters in the order its rows happen to
    go, and could wait for one counter while holding a later one that a writer waits for; a
    counter of ``items`` that does not exist yet is created here, in its place in the order
    (with ``n = 0``, counted by the insert of the item that follows), so a writer creating
    it at the same time is waited for before any later counter is taken; and an update, which
    holds its memory's row before its counters, is waited for on the row, not on a counter."""
    rowids = [r[0] for r in conn.execute(
        f"SELECT rowid FROM memories WHERE {memories} ORDER BY rowid FOR UPDATE", params
    ).fetchall()]
    if not rowids and (if_found or not items):
        return
    held = "SELECT kind, ns, item FROM entity_items WHERE memory = ANY(%s)"
    if not items:
        conn.execute(
            f"SELECT 1 FROM entity_df WHERE (kind, ns, item) IN ({held}) ORDER BY kind, ns, item FOR UPDATE",
            (rowids,),
        )
        return
    conn.execute(
        "INSERT INTO entity_df AS d (kind, ns, item, n) SELECT kind, ns, item, 0 FROM ("
        f"{held} UNION SELECT * FROM unnest(%s::text[], %s::text[], %s::text[])) u ORDER BY kind, ns, item "
        "ON CONFLICT (kind, ns, item) DO UPDATE SET n = d.n",
        [rowids, *(list(column) for column in zip(*items, strict=True))],
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
