"""What the SQL stores (native SQLite, PostgreSQL) differ in, and the SQL they share.

Both stores keep the same tables (``memories``, ``history``, ``entities``,
``mentions``, ``relations``, ``meta``) with the same columns; they differ in
the placeholder (``?`` or ``%s``), in how a time is stored (integer
microseconds, or ``timestamptz``), and in how a list of ids is passed (``IN
(?, ...)`` in chunks, or one ``= ANY(%s)`` array). A :class:`SqlDialect`
carries those differences; the statements here and in ``_sql_adapter`` are
written once, with ``?`` placeholders that :meth:`SqlDialect.sql` rewrites.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from mnemos.memory_adapters._graph import Relation, relations_within
from mnemos.memory_adapters._namespace import Namespace
from mnemos.memory_adapters._native_schema import ns_key, ns_tuple
from mnemos.memory_adapters._text import normalize_entity
from mnemos.memory_adapters.base import MemoryKind, MemoryRecord, Provenance

__all__ = [
    "SqlDialect",
    "decode_record",
    "episode_key",
    "fetch_records",
    "relations_near",
    "save_versions",
    "split_duplicates",
]


@dataclass(frozen=True, eq=False)
class SqlDialect:
    """How one SQL backend spells what the shared statements need."""

    name: str
    mark: str
    """The parameter placeholder: ``?`` (sqlite3) or ``%s`` (psycopg)."""
    encode_time: Callable[[datetime | None], Any]
    """A UTC datetime as the store keeps it (``None`` stays ``None``)."""
    decode_time: Callable[[Any], datetime | None]
    """A stored time as a UTC datetime."""
    ns_cond: Callable[[Namespace, str], tuple[str, list[Any]]]
    """An indexable condition on a namespace column: at or under a prefix."""
    record_columns: str
    """The columns :func:`decode_record` reads (alias ``m``), in its order; a
    backend may add columns after the fifteenth."""
    array_ids: bool
    """True: a list of ids is one array parameter (``= ANY(%s)``); False: ``IN (?, ...)``."""
    chunk: int = 500
    """Ids per ``IN (...)`` list (without array parameters)."""
    lock_items: Callable[[Any, str, list[Any]], None] = lambda *_: None
    """Called as ``lock_items(conn, condition, params)`` before deleting the memories matching
    a condition on ``memories``: take the row locks their items' cascade will need in the
    order concurrent writers take them (nothing for a backend with one writer at a time)."""

    def sql(self, text: str) -> str:
        """``text`` with its ``?`` placeholders in this dialect's style."""
        return _rewrite(text, self.mark)

    def batches(self, ids: Sequence[Any]) -> Iterator[list[Any]]:
        """``ids`` in lists short enough for one statement (one list with array parameters)."""
        step = len(ids) if self.array_ids else self.chunk
        for start in range(0, len(ids), max(1, step)):
            yield list(ids[start : start + step])

    def in_cond(self, column: str, batch: Sequence[Any]) -> tuple[str, list[Any]]:
        """``(condition, params)``: ``column`` is one of ``batch`` (see :meth:`batches`)."""
        if self.array_ids:
            return f"{column} = ANY({self.mark})", [list(batch)]
        return f"{column} IN ({','.join([self.mark] * len(batch))})", list(batch)

    def id_in(self, column: str, ids: Sequence[Any]) -> Iterator[tuple[str, list[Any]]]:
        """``(condition, params)`` per batch of ``ids`` (nothing for no ids)."""
        for batch in self.batches(ids):
            yield self.in_cond(column, batch)


@lru_cache(maxsize=256)
def _rewrite(text: str, mark: str) -> str:
    return text if mark == "?" else text.replace("?", mark)


def decode_record(row: Sequence[Any], decode_time: Callable[[Any], datetime | None]) -> MemoryRecord:
    """A record from a row selected with a dialect's ``record_columns``."""
    created = decode_time(row[6])
    return MemoryRecord(
        id=row[1],
        namespace=ns_tuple(row[2]),
        kind=_KINDS.get(row[3]) or MemoryKind(row[3]),
        content=row[4],
        metadata={} if row[5] == "{}" else json.loads(row[5]),
        created_at=created,  # type: ignore[arg-type]
        # a memory never updated, or valid from its writing, has the same time twice
        updated_at=created if row[7] == row[6] else decode_time(row[7]),  # type: ignore[arg-type]
        importance=row[8],
        expires_at=decode_time(row[9]),
        provenance=_provenance(row[10]),
        valid_from=created if row[11] == row[6] else decode_time(row[11]),
        valid_to=decode_time(row[12]),
        superseded_by=row[13],
        version=row[14],
    )


_KINDS = {kind.value: kind for kind in MemoryKind}


@lru_cache(maxsize=1024)
def _provenance(text: str) -> Provenance:
    """The provenance stored as ``text``; kept by text, as many memories share one (the
    writing agent's, or none) and a :class:`Provenance` is frozen, so records may share it."""
    return Provenance.from_dict(json.loads(text))


def episode_key(record: MemoryRecord) -> str | None:
    """The key grouping an episodic record with its neighbouring events."""
    if record.kind is not MemoryKind.EPISODIC:
        return None
    md = record.metadata
    session = md.get("episode", md.get("session"))
    return json.dumps([record.provenance.thread, session], separators=(",", ":"), default=str)


def split_duplicates(
    records: Sequence[MemoryRecord], hashes: Sequence[str], existing: dict[tuple[str, str], MemoryRecord]
) -> tuple[list[MemoryRecord], list[bool]]:
    """Dedup a batch: ``existing`` maps ``(namespace key, content hash)`` of live memories
    to the record. Returns the result list (a duplicate replaced by the memory it
    repeats, earlier ones of the batch included) and which records to store."""
    result = list(records)
    keep = [True] * len(records)
    for i, (record, digest) in enumerate(zip(records, hashes, strict=True)):
        key = (ns_key(record.namespace), digest)
        if key in existing:
            result[i] = existing[key]
            keep[i] = False
        else:
            existing[key] = record
    return result, keep


def fetch_records(
    conn: Any, dialect: SqlDialect, column: str, keys: Sequence[Any]
) -> list[tuple[int, MemoryRecord]]:
    """The rows of ``memories m`` whose ``column`` (``m.id`` or ``m.rowid``) is in ``keys``,
    as ``(rowid, record)`` pairs."""
    out: list[tuple[int, MemoryRecord]] = []
    for cond, params in dialect.id_in(column, keys):
        rows = conn.execute(f"SELECT {dialect.record_columns} FROM memories m WHERE {cond}", params).fetchall()
        out.extend((row[0], decode_record(row, dialect.decode_time)) for row in rows)
    return out


def save_versions(conn: Any, dialect: SqlDialect, versions: Iterable[MemoryRecord]) -> None:
    """Store ``versions`` (absolute namespaces) in ``history``, replacing any stored under
    the same id and version."""
    rows = [(v.id, v.version, json.dumps(v.to_dict(), ensure_ascii=False)) for v in versions]
    if not rows:
        return
    sql = dialect.sql(
        "INSERT INTO history (id, version, record) VALUES (?, ?, ?) "
        "ON CONFLICT (id, version) DO UPDATE SET record = excluded.record"
    )
    if len(rows) == 1:
        conn.execute(sql, rows[0])
        return
    with closing(conn.cursor()) as cur:
        cur.executemany(sql, rows)


def relations_near(conn: Any, dialect: SqlDialect, name: str, prefix: Namespace, hops: int) -> list[Relation]:
    """Relations (absolute namespaces) on paths of at most ``hops`` relation edges from
    entity ``name``, under ``prefix``."""
    cond, params = dialect.ns_cond(prefix, "r.ns")
    rows = conn.execute(
        f"""SELECT r.subject, r.predicate, r.object, r.ns, r.memory_id, s.name, o.name
            FROM relations r JOIN entities s ON s.eid = r.subject JOIN entities o ON o.eid = r.object
            WHERE {cond} ORDER BY r.rid""",
        params,
    ).fetchall()
    cond, params = dialect.ns_cond(prefix, "ns")
    starts = [r[0] for r in conn.execute(
        dialect.sql(f"SELECT eid FROM entities WHERE key = ? AND {cond}"), [normalize_entity(name), *params]
    ).fetchall()]
    return relations_within(rows, starts, hops)
