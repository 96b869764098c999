"""The native adapter's SQLite file: schema, connection settings, transactions.

Layout (schema version 1):

- ``memories``: one row per memory. ``ns`` is the namespace joined with ``/``
  plus a trailing ``/`` so a prefix is a range condition on an index. Times
  are integer microseconds since the epoch (UTC). ``episode`` groups records
  of one thread/session for the neighbour signal. ``rowid`` is AUTOINCREMENT,
  so new rows always have larger rowids.
- ``vectors``: each memory's embedding as a float32 blob, by rowid (kept apart
  so the ``memories`` rows stay small and quick to scan).
- ``memories_fts``: FTS5 over ``content`` (porter + unicode61), an external
  content table kept in sync by triggers, inside the same transactions.
- ``memories_vocab``: FTS5's term statistics (document frequency per term).
- ``history``: earlier versions of a memory, as JSON.
- ``changes``: rowids updated or deleted (by triggers), so vector caches in
  every process can refresh incrementally.
- ``entities``, ``mentions``, ``relations``: the entity/relation graph.
- ``meta``: schema version, embedder name and dims, cache epoch.

Durability: WAL with ``synchronous=NORMAL``. A committed transaction survives
the process being killed (SIGKILL); after a power loss the last few commits may
be rolled back (never corrupted). ``durable=True`` selects ``synchronous=FULL``.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar, overload

from mnemos.exceptions import StorageError
from mnemos.memory_adapters._namespace import SEPARATOR, Namespace

__all__ = [
    "SCHEMA_VERSION",
    "connect",
    "from_micros",
    "ns_key",
    "ns_range",
    "ns_tuple",
    "to_micros",
    "transaction",
]

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 30_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS memories (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    ns TEXT NOT NULL,
    kind TEXT NOT NULL,
    content TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    metadata TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    importance REAL NOT NULL,
    expires_at INTEGER,
    provenance TEXT NOT NULL,
    episode TEXT,
    valid_from INTEGER,
    valid_to INTEGER,
    superseded_by TEXT,
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS vectors (rowid INTEGER PRIMARY KEY, embedding BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS memories_ns_created ON memories (ns, created_at);
CREATE INDEX IF NOT EXISTS memories_created ON memories (created_at);
CREATE INDEX IF NOT EXISTS memories_hash ON memories (content_hash, ns);
CREATE INDEX IF NOT EXISTS memories_expires ON memories (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS memories_episode ON memories (ns, episode, created_at)
    WHERE episode IS NOT NULL;

CREATE VIRTUAL TABLE IF NOT EXISTS memories_fts USING fts5(
    content, content='memories', content_rowid='rowid', tokenize='porter unicode61'
);

CREATE VIRTUAL TABLE IF NOT EXISTS memories_vocab USING fts5vocab(memories_fts, 'row');

CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    row INTEGER NOT NULL
);

CREATE TRIGGER IF NOT EXISTS memories_ai AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts (rowid, content) VALUES (new.rowid, new.content);
END;
CREATE TRIGGER IF NOT EXISTS memories_ad AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
    INSERT INTO changes (row) VALUES (old.rowid);
    DELETE FROM mentions WHERE memory = old.rowid;
    DELETE FROM vectors WHERE rowid = old.rowid;
END;
CREATE TRIGGER IF NOT EXISTS memories_au_content AFTER UPDATE OF content ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
    INSERT INTO memories_fts (rowid, content) VALUES (new.rowid, new.content);
END;
CREATE TRIGGER IF NOT EXISTS memories_au AFTER UPDATE ON memories BEGIN
    INSERT INTO changes (row) VALUES (old.rowid);
END;

CREATE TABLE IF NOT EXISTS history (
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (id, version)
);

CREATE TABLE IF NOT EXISTS entities (
    eid INTEGER PRIMARY KEY,
    ns TEXT NOT NULL,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    UNIQUE (ns, key)
);
CREATE TABLE IF NOT EXISTS mentions (
    memory INTEGER NOT NULL,
    eid INTEGER NOT NULL,
    PRIMARY KEY (memory, eid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mentions_eid ON mentions (eid);
CREATE TABLE IF NOT EXISTS relations (
    rid INTEGER PRIMARY KEY,
    ns TEXT NOT NULL,
    subject INTEGER NOT NULL,
    predicate TEXT NOT NULL,
    object INTEGER NOT NULL,
    memory_id TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (ns, subject, predicate, object)
);
CREATE INDEX IF NOT EXISTS relations_object ON relations (object);
CREATE INDEX IF NOT EXISTS relations_subject ON relations (subject);
"""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)

T = TypeVar("T")


@overload
def to_micros(value: datetime) -> int: ...


@overload
def to_micros(value: None) -> None: ...


@overload
def to_micros(value: datetime | None) -> int | None: ...


def to_micros(value: datetime | None) -> int | None:
    """A UTC datetime as integer microseconds since the epoch (exact)."""
    if value is None:
        return None
    return (value - _EPOCH) // _MICRO


def from_micros(value: int | None) -> datetime | None:
    if value is None:
        return None
    return _EPOCH + timedelta(microseconds=value)


def ns_key(namespace: Namespace) -> str:
    """The stored form of a namespace: ``a/b/`` (the root is ``""``)."""
    return "".join(part + SEPARATOR for part in namespace)


def ns_tuple(key: str) -> Namespace:
    return tuple(key.split(SEPARATOR)[:-1])


def ns_range(prefix: Namespace, column: str = "ns") -> tuple[str, list[str]]:
    """An SQL condition selecting namespaces at or under ``prefix`` (index-friendly)."""
    if not prefix:
        return "1", []
    low = ns_key(prefix)
    high = low[:-1] + chr(ord(SEPARATOR) + 1)
    return f"({column} >= ? AND {column} < ?)", [low, high]


def connect(path: Path, *, durable: bool = False) -> sqlite3.Connection:
    """Open (creating if needed) the store file, in WAL mode, with the schema in place."""
    try:
        conn = sqlite3.connect(
            str(path), isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open the memory store {path}: {exc}") from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        retry(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
        conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("PRAGMA secure_delete = ON")  # freed pages are zeroed, not left readable
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute("PRAGMA temp_store = MEMORY")
        retry(lambda: _create_schema(conn))
    except (sqlite3.DatabaseError, StorageError) as exc:
        conn.close()
        if isinstance(exc, StorageError):
            raise
        raise StorageError(f"{path} is not a usable mnemos memory store: {exc}") from exc
    return conn


def _create_schema(conn: sqlite3.Connection) -> None:
    try:
        conn.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )
    elif int(row[0]) > SCHEMA_VERSION:
        raise StorageError(
            f"this memory store has schema version {row[0]}; this mnemos reads up to "
            f"{SCHEMA_VERSION}: upgrade mnemos"
        )


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def retry(fn: Callable[[], T], *, attempts: int = 50) -> T:
    """Run ``fn``, retrying with jittered backoff while the database is busy."""
    for attempt in range(attempts):
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or attempt == attempts - 1:
                raise
            time.sleep(min(0.5, 0.005 * 2**attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")  # pragma: no cover


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on error), retrying while busy."""
    retry(lambda: conn.execute("BEGIN IMMEDIATE"))
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise
    else:
        try:
            retry(lambda: conn.execute("COMMIT"))
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise
