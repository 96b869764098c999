"""The native adapter's write path and bookkeeping: rows in, rows changed, re-embedding, stats.

Each function runs inside a transaction the adapter opened (``BEGIN IMMEDIATE``
for writes), so a write is all or nothing and a returned write is committed.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime

import numpy as np

from mnemos.exceptions import MemoryNotFoundError, StorageError
from mnemos.memory_adapters import _graph
from mnemos.memory_adapters._episodic_graph import record_speaker
from mnemos.memory_adapters._namespace import Namespace
from mnemos.memory_adapters._native_items import write_items
from mnemos.memory_adapters._native_schema import (
    db_errors,
    ns_key,
    ns_range,
    to_micros,
)
from mnemos.memory_adapters._native_store import RECORD_COLUMNS, chunks, marks, row_to_record
from mnemos.memory_adapters._sql_dialect import episode_key, split_duplicates
from mnemos.memory_adapters._text import content_hash
from mnemos.memory_adapters.base import MemoryKind, MemoryRecord
from mnemos.memory_adapters.embedders.base import Embedder

__all__ = ["bump_epoch", "episode_key", "insert", "reembed", "reinforce", "update"]

_INSERT = """INSERT INTO memories (id, ns, kind, content, content_hash, metadata, created_at,
    updated_at, importance, expires_at, provenance, episode, valid_from, valid_to, superseded_by,
    version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""


def insert(
    conn: sqlite3.Connection,
    scope: Namespace,
    records: Sequence[MemoryRecord],
    blobs: Sequence[bytes],
    *,
    dedup: bool,
    now: datetime,
    noted: list[tuple[object, ...]] | None = None,
) -> list[MemoryRecord]:
    """Store ``records`` with their embeddings (inside the caller's write transaction).

    With ``dedup`` a record whose content a live memory of its namespace already holds
    is not stored; that memory takes its place in the result. An id already stored in
    ``scope`` is replaced. ``noted`` gets the vector cache's row of each stored record
    (the columns ``_vectors`` selects), so that the cache need not read them back.
    """
    hashes = [content_hash(r.content) for r in records]
    result: list[MemoryRecord] = list(records)
    keep = [True] * len(records)
    if dedup:
        now_micros = to_micros(now)
        existing: dict[tuple[str, str], MemoryRecord] = {}
        for chunk in chunks(sorted(set(hashes))):
            for row in conn.execute(
                f"SELECT {RECORD_COLUMNS}, m.content_hash FROM memories m WHERE m.content_hash "
                f"IN ({marks(len(chunk))}) AND m.valid_to IS NULL "
                "AND (m.expires_at IS NULL OR m.expires_at > ?)",
                [*chunk, now_micros],
            ):
                existing.setdefault((row[2], row[16]), row_to_record(row))
        result, keep = split_duplicates(records, hashes, existing)
    fresh = [i for i in range(len(records)) if keep[i]]
    rows = [
        (
            r.id, ns_key(r.namespace), r.kind.value, r.content, hashes[i],
            _JSON(r.metadata), to_micros(r.created_at),
            to_micros(r.updated_at), r.importance, to_micros(r.expires_at),
            _JSON(r.provenance.to_dict()), episode_key(r),
            to_micros(r.valid_from), to_micros(r.valid_to), r.superseded_by, r.version,
        )
        for i in fresh
        for r in (records[i],)
    ]
    if rows:
        try:
            first = _insert_rows(conn, rows)
        except db_errors() as exc:  # the stdlib's driver or SQLCipher's
            if type(exc).__name__ != "IntegrityError":
                raise
            # An id already stored: only one in this scope is replaced (a foreign one fails
            # the UNIQUE constraint again). Most writes carry new ids and skip this delete.
            in_scope, scope_params = ns_range(scope)
            for chunk in chunks([row[0] for row in rows]):
                conn.execute(
                    f"DELETE FROM memories WHERE id IN ({marks(len(chunk))}) AND {in_scope}",
                    [*chunk, *scope_params],
                )
            first = _insert_rows(conn, rows)
        conn.executemany(
            "INSERT INTO vectors (rowid, embedding) VALUES (?, ?)",
            ((first + j, blobs[i]) for j, i in enumerate(fresh)),
        )
        _graph.index_mentions(
            conn,
            (
                (first + j, ns_key(records[i].namespace), records[i].content)
                for j, i in enumerate(fresh)
                if records[i].kind is MemoryKind.SEMANTIC
            ),
        )
        write_items(conn, (
            (first + j, ns_key(r.namespace), r.content, record_speaker(r.provenance.agent, r.metadata))
            for j, i in enumerate(fresh)
            for r in (records[i],)
        ))
        if noted is not None:
            noted.extend(
                (first + j, row[1], row[2], row[6], row[9], row[13] is not None, blobs[i], row[8], word_count(row[3]))
                for j, (i, row) in enumerate(zip(fresh, rows, strict=True))
            )
    return result


def word_count(text: str) -> int:
    """What ``_vectors``' SQL counts as the words of ``text``: its spaces after trimming, plus one."""
    trimmed = text.strip(" ")
    return len(trimmed) - len(trimmed.replace(" ", "")) + 1


def _insert_rows(conn: sqlite3.Connection, rows: Sequence[tuple[object, ...]]) -> int:
    """Insert memory ``rows``; return the rowid of the first (they get consecutive ones)."""
    if len(rows) == 1:  # its rowid, without reading the sequence back
        rowid = conn.execute(_INSERT, rows[0]).lastrowid
        assert rowid is not None
        return rowid
    conn.executemany(_INSERT, rows)
    # AUTOINCREMENT under the write lock: this batch got consecutive rowids.
    last = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'memories'").fetchone()[0]
    first = int(last) - len(rows) + 1
    check = conn.execute("SELECT id FROM memories WHERE rowid = ?", (first,)).fetchone()
    if check is None or check[0] != rows[0][0]:  # pragma: no cover - defensive
        raise StorageError("unexpected rowids while inserting memories")
    return first


def update(conn: sqlite3.Connection, record: MemoryRecord, embed: Callable[[str], bytes]) -> None:
    """Replace the stored memory ``record.id`` by ``record``, keeping the old version in
    ``history``; ``embed`` gives the new vector when the content changed."""
    row = conn.execute(
        f"SELECT {RECORD_COLUMNS} FROM memories m WHERE m.id = ?", (record.id,)
    ).fetchone()
    if row is None:
        raise MemoryNotFoundError(record.id)
    old = row_to_record(row)
    _keep_history(conn, [old])
    changed_text = record.content != old.content
    # The content column is set only when it changes: setting it (even to the same text)
    # fires the full-text trigger, which deletes and re-inserts the text in the index.
    content_set = "content = ?, content_hash = ?, " if changed_text else ""
    content_params = (record.content, content_hash(record.content)) if changed_text else ()
    conn.execute(
        f"""UPDATE memories SET ns = ?, kind = ?, {content_set}metadata = ?,
           created_at = ?, updated_at = ?, importance = ?, expires_at = ?, provenance = ?,
           episode = ?, valid_from = ?, valid_to = ?, superseded_by = ?, version = ?
           WHERE id = ?""",
        (
            ns_key(record.namespace), record.kind.value, *content_params,
            _JSON(record.metadata),
            to_micros(record.created_at), to_micros(record.updated_at), record.importance,
            to_micros(record.expires_at),
            _JSON(record.provenance.to_dict()), episode_key(record),
            to_micros(record.valid_from), to_micros(record.valid_to), record.superseded_by,
            record.version, record.id,
        ),
    )
    if changed_text:
        conn.execute("UPDATE vectors SET embedding = ? WHERE rowid = ?", (embed(record.content), row[0]))
    if changed_text and record.kind is MemoryKind.SEMANTIC:
        _graph.index_mentions(conn, [(row[0], ns_key(record.namespace), record.content)])
    write_items(
        conn, [(row[0], ns_key(record.namespace), record.content,
                record_speaker(record.provenance.agent, record.metadata))], replace=True,
    )


def _keep_history(conn: sqlite3.Connection, olds: Sequence[MemoryRecord]) -> None:
    conn.executemany(_KEEP_HISTORY, [(old.id, old.version, _JSON(old.to_dict())) for old in olds])


def reinforce(
    conn: sqlite3.Connection, scope: Namespace, ids: Sequence[str], *, boost: float, now: datetime,
    noted: list[tuple[int, float]] | None = None,
) -> list[MemoryRecord]:
    """Memories ``ids`` (those live in ``scope``; others are skipped) gain ``boost``
    importance (up to 1), a use (``metadata.used_count``) and ``metadata.last_used``;
    each old version goes to ``history``, as :meth:`update` does. Return the old versions
    of those reinforced; ``noted`` gets the rowid and new importance of each.

    One read of the records and one statement for all of them, and only the changed
    columns are written (the text, its index entry and its vector stay as they are).
    """
    now_micros = to_micros(now)
    found: dict[str, MemoryRecord] = {}
    rowids: dict[str, int] = {}
    in_scope, scope_params = ns_range(scope, "m.ns")
    for chunk in chunks(list(dict.fromkeys(ids))):
        for row in conn.execute(
            f"SELECT {RECORD_COLUMNS} FROM memories m WHERE m.id IN ({marks(len(chunk))}) AND {in_scope} "
            "AND (m.expires_at IS NULL OR m.expires_at > ?)",
            [*chunk, *scope_params, now_micros],
        ):
            found[row[1]] = row_to_record(row)
            rowids[row[1]] = row[0]
    olds = [found[i] for i in dict.fromkeys(ids) if i in found]
    if not olds:
        return []
    last_used = now.isoformat()
    _keep_history(conn, olds)
    importance = [min(1.0, round(old.importance + boost, 4)) for old in olds]
    conn.executemany(  # the new versions' columns, without making their records
        "UPDATE memories SET metadata = ?, updated_at = ?, importance = ?, version = ? WHERE id = ?",
        [
            (
                _JSON({**old.metadata, "used_count": int(old.metadata.get("used_count", 0)) + 1,
                       "last_used": last_used}),
                now_micros, value, old.version + 1, old.id,
            )
            for old, value in zip(olds, importance, strict=True)
        ],
    )
    if noted is not None:
        noted.extend((rowids[old.id], value) for old, value in zip(olds, importance, strict=True))
    return olds


_JSON = json.JSONEncoder(ensure_ascii=False).encode
"""``json.dumps(value, ensure_ascii=False)``, the same text, without making an encoder per call."""
_KEEP_HISTORY = "INSERT OR REPLACE INTO history (id, version, record) VALUES (?, ?, ?)"


def reembed(
    conn: sqlite3.Connection, embedder: Embedder, on_progress: Callable[[int, int], None] | None, batch_size: int
) -> int:
    """Replace every stored vector by ``embedder``'s and record it; return how many."""
    total = conn.execute("SELECT count(*) FROM memories").fetchone()[0]
    done, last = 0, 0
    while True:
        rows = conn.execute(
            "SELECT rowid, content FROM memories WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (last, max(1, batch_size)),
        ).fetchall()
        if not rows:
            break
        vectors = np.ascontiguousarray(embedder.embed([r[1] for r in rows]), dtype=np.float32)
        conn.executemany(
            "UPDATE vectors SET embedding = ? WHERE rowid = ?",
            [(vec.tobytes(), r[0]) for vec, r in zip(vectors, rows, strict=True)],
        )
        done += len(rows)
        last = rows[-1][0]
        if on_progress is not None:
            on_progress(done, total)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'embedder'", (embedder.name,))
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('embedder_dims', ?)", (str(embedder.dims),))
    conn.execute("DELETE FROM changes")
    bump_epoch(conn)
    return int(total)


def bump_epoch(conn: sqlite3.Connection) -> None:
    """Make every vector cache (and vector file) of the store rebuild."""
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('epoch', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (os.urandom(8).hex(),),
    )
