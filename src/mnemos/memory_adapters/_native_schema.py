"""The native adapter's SQLite file: schema, connection settings, transactions.

Layout (schema version 2; version 1 had no ``entity_items``, added when a
store is opened):

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
- ``entity_items``: the typed items and the speaker of each memory (rows of
  ``_episodic_graph.item_rows``, by kind, namespace and item), written with the
  memory and deleted with it (by a trigger); ``entity_df``: how many memories
  of a namespace hold each item (kept by triggers), rarest first by index.
- ``meta``: schema version, embedder name and dims, cache epoch, the version of
  the typed items kept (``entity_items``).

Durability: WAL with ``synchronous=NORMAL``. A committed transaction survives
the process being killed (SIGKILL); after a power loss the last few commits may
be rolled back (never corrupted). ``durable=True`` selects ``synchronous=FULL``.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, overload
from urllib.parse import quote

from mnemos._files import open_private
from mnemos.exceptions import (
    ConfigurationError,
    EncryptionKeyError,
    ForeignStoreError,
    MissingExtraError,
    MnemosError,
    ReadOnlyStoreError,
    StorageError,
    StoreBusyError,
)
from mnemos.memory_adapters._namespace import SEPARATOR, Namespace
from mnemos.memory_adapters._native_items import derive_all, items_current

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "SCHEMA_VERSION",
    "StoreConnection",
    "connect",
    "db_errors",
    "derive_items",
    "from_micros",
    "ns_key",
    "ns_range",
    "ns_tuple",
    "to_micros",
    "transaction",
]

SCHEMA_VERSION = 2
DEFAULT_LOCK_TIMEOUT = 30.0
"""Seconds a write (or opening a store) waits for another writer's lock, in all."""

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

CREATE TABLE IF NOT EXISTS entity_items (
    kind TEXT NOT NULL,
    ns TEXT NOT NULL,
    item TEXT NOT NULL,
    memory INTEGER NOT NULL,
    speaker TEXT,
    PRIMARY KEY (kind, ns, item, memory)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entity_items_memory ON entity_items (memory, kind);
CREATE TABLE IF NOT EXISTS entity_df (
    kind TEXT NOT NULL,
    ns TEXT NOT NULL,
    item TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (kind, ns, item)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entity_df_rare ON entity_df (kind, ns, n, item);
CREATE TRIGGER IF NOT EXISTS memories_ad_items AFTER DELETE ON memories BEGIN
    DELETE FROM entity_items WHERE memory = old.rowid;
END;
CREATE TRIGGER IF NOT EXISTS entity_items_ai AFTER INSERT ON entity_items BEGIN
    INSERT INTO entity_df (kind, ns, item, n) VALUES (new.kind, new.ns, new.item, 1)
        ON CONFLICT (kind, ns, item) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS entity_items_ad AFTER DELETE ON entity_items BEGIN
    UPDATE entity_df SET n = n - 1 WHERE kind = old.kind AND ns = old.ns AND item = old.item;
    DELETE FROM entity_df WHERE kind = old.kind AND ns = old.ns AND item = old.item AND n <= 0;
END;
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


class StoreConnection(sqlite3.Connection):
    """A connection that knows how long it may wait for the write lock."""

    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    read_only: bool = False


_DATABASE_ERRORS: list[type[Exception]] = [sqlite3.DatabaseError]
_OPERATIONAL_ERRORS: list[type[Exception]] = [sqlite3.OperationalError]
_cipher_class: type[Any] | None = None
_SQLITE_HEADER = b"SQLite format 3\x00"


def db_errors() -> tuple[type[Exception], ...]:
    """The database errors of every SQLite driver loaded (stdlib, and SQLCipher if used)."""
    return tuple(_DATABASE_ERRORS)


def _operational_errors() -> tuple[type[Exception], ...]:
    return tuple(_OPERATIONAL_ERRORS)


def _cipher_driver() -> Any:
    """``sqlcipher3.dbapi2``, or the error naming the extra to install."""
    global _cipher_class
    try:
        from sqlcipher3 import dbapi2
    except ImportError:
        raise MissingExtraError("encryption", "sqlcipher3-binary", "an encrypted memory store") from None
    if _cipher_class is None:
        _DATABASE_ERRORS.append(dbapi2.DatabaseError)
        _OPERATIONAL_ERRORS.append(dbapi2.OperationalError)
        _cipher_class = type(
            "CipherStoreConnection", (dbapi2.Connection,),
            {"lock_timeout": DEFAULT_LOCK_TIMEOUT, "read_only": False, "__doc__": StoreConnection.__doc__},
        )
    return dbapi2


def _open_raw(target: str, *, key: bytes | None, uri: bool = False, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Any:
    """A connection on ``target`` (through SQLCipher, keyed, when ``key`` is given)."""
    if key is None:
        return sqlite3.connect(target, uri=uri, isolation_level=None, check_same_thread=False,
                               timeout=timeout, factory=StoreConnection)
    driver = _cipher_driver()
    conn = driver.connect(target, uri=uri, isolation_level=None, check_same_thread=False,
                          timeout=timeout, factory=_cipher_class)
    with contextlib.suppress(driver.Error):  # older SQLCipher builds have no such pragma
        conn.execute("PRAGMA cipher_log_level = NONE")
    conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    return conn


def connect(
    path: Path,
    *,
    durable: bool = False,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    read_only: bool = False,
    initialize: bool = False,
    key: bytes | None = None,
) -> StoreConnection:
    """Open the store file, in WAL mode, with the schema in place.

    A missing file is created (0600, atomically: no other process sees it half made).
    An empty file or another application's SQLite file raises
    :class:`ForeignStoreError` unless ``initialize``. ``read_only`` opens with
    ``mode=ro``: nothing is created and writes raise. Waiting for another writer's
    lock gives up after ``lock_timeout`` seconds with :class:`StoreBusyError`. With
    ``key`` (32 raw bytes) the file is encrypted with SQLCipher; a wrong or missing key
    raises :class:`EncryptionKeyError`.
    """
    if isinstance(lock_timeout, bool) or not isinstance(lock_timeout, (int, float)) or not 0 <= lock_timeout <= 3600:
        raise ConfigurationError(f"lock_timeout is a number of seconds from 0 to 3600, not {lock_timeout!r}")
    memory = str(path) == ":memory:"
    if read_only and memory:
        raise ConfigurationError("an in-memory store cannot be opened read-only")
    if not memory:
        _check_file(path, read_only=read_only, initialize=initialize, lock_timeout=lock_timeout, key=key)
    try:
        target = f"file:{quote(str(path))}?mode=ro" if read_only else str(path)
        conn = _open_raw(target, key=key, uri=read_only, timeout=lock_timeout)
    except db_errors() as exc:
        raise StorageError(f"cannot open the memory store {path}: {exc}") from exc
    conn.lock_timeout = float(lock_timeout)
    conn.read_only = read_only
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(lock_timeout * 1000)}")
        try:
            version = retry(lambda: _schema_version(conn), timeout=lock_timeout)
        except db_errors() as exc:
            if key is not None and "not a database" in str(exc):
                raise EncryptionKeyError(
                    f"{path} cannot be decrypted with this key (a wrong key, or a store that is not encrypted)"
                ) from None
            raise
        if version is None and not memory and not initialize and _has_tables(conn):
            raise ForeignStoreError(
                f"{path} is an SQLite file of another application, not a mnemos memory store; "
                "open it with initialize=True to add a store to it anyway"
            )
        if not read_only:
            retry(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone(), timeout=lock_timeout)
        conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("PRAGMA secure_delete = ON")  # freed pages are zeroed, not left readable
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute("PRAGMA temp_store = MEMORY")
        if version is not None and version > SCHEMA_VERSION:
            raise StorageError(
                f"this memory store has schema version {version}; this mnemos reads up to "
                f"{SCHEMA_VERSION}: upgrade mnemos"
            )
        # an older store opened read-only stays as it is (its typed items are derived at search)
        if version is None or (version < SCHEMA_VERSION and not read_only):
            if read_only:
                raise StorageError(f"{path} has no mnemos store to read (opened read-only)")
            retry(lambda: _create_schema(conn), timeout=lock_timeout)
        if not read_only:
            retry(lambda: derive_items(conn), timeout=lock_timeout)
        # per-record term counts, for keyword statistics computed per scope
        conn.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.memories_instance "
            "USING fts5vocab(main, 'memories_fts', 'instance')"
        )
    except (MnemosError, *_DATABASE_ERRORS) as exc:  # type: ignore[misc]
        conn.close()
        if isinstance(exc, MnemosError):
            raise
        hint = " (a read-only file or directory? open it with read_only=True)" if "readonly" in str(exc) else ""
        raise StorageError(f"{path} is not a usable mnemos memory store: {exc}{hint}") from exc
    return conn


def _schema_version(conn: sqlite3.Connection) -> int | None:
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone() is None:
        return None
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row is not None else None


def _has_tables(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is not None


def _check_file(path: Path, *, read_only: bool, initialize: bool, lock_timeout: float, key: bytes | None) -> None:
    """Refuse an empty file (unless ``initialize``) and a key mismatch; create a missing
    file, privately."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            header = fh.read(16)
    except FileNotFoundError:
        if read_only:
            raise StorageError(f"no memory store at {path} (opened read-only, so none is created)") from None
        _create_private(path, lock_timeout, key)
        return
    except OSError as exc:
        raise StorageError(f"cannot open the memory store {path}: {exc}") from exc
    looks_encrypted = size >= 1024 and size % 512 == 0  # whole pages of random-looking bytes
    if len(header) == 16 and header != _SQLITE_HEADER and key is None and not looks_encrypted:
        raise StorageError(f"{path} is not an SQLite file (corrupt, or another kind of file)")
    if len(header) == 16 and header != _SQLITE_HEADER and key is None:
        raise EncryptionKeyError(
            f"{path} is encrypted (or not an SQLite file): open it with its key "
            "(key=, key_file=, or the MNEMOS_STORE_KEY environment variable)"
        )
    if header == _SQLITE_HEADER and key is not None:
        raise EncryptionKeyError(f"{path} is not encrypted: open it without a key")
    wal = Path(f"{path}-wal")
    if size == 0 and not initialize and not (wal.exists() and wal.stat().st_size > 0):
        raise ForeignStoreError(
            f"{path} is an empty file, not a mnemos memory store; "
            "open it with initialize=True to make it one"
        )


def _create_private(path: Path, lock_timeout: float, key: bytes | None) -> None:
    """Make a new store file (0600) beside ``path`` and link it into place, so another
    process opening ``path`` meanwhile finds either nothing or a whole store."""
    scratch = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.new")
    try:
        os.close(open_private(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
        conn = _open_raw(str(scratch), key=key)
        try:
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            _create_schema(conn)
        finally:
            conn.close()
        try:
            os.link(scratch, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        except OSError:  # no hard links here: create it in place (briefly empty)
            try:
                os.close(open_private(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass
            else:
                fresh = _open_raw(str(path), key=key, timeout=lock_timeout)
                try:
                    fresh.execute("PRAGMA journal_mode = WAL").fetchone()
                finally:
                    fresh.close()
    except (OSError, *_DATABASE_ERRORS) as exc:  # type: ignore[misc]
        raise StorageError(f"cannot create the memory store {path}: {exc}") from exc
    finally:
        for leftover in (scratch, Path(f"{scratch}-wal"), Path(f"{scratch}-shm")):
            leftover.unlink(missing_ok=True)


def _create_schema(conn: sqlite3.Connection) -> None:
    """Create the tables a store lacks (all of them for a new store) and record the
    schema version (an older store is upgraded: its typed items are then derived)."""
    try:
        conn.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (str(SCHEMA_VERSION),),
    )


def derive_items(conn: sqlite3.Connection) -> None:
    """Derive the typed items of every memory (``_native_items``) when the store kept none
    (an upgraded store) or kept another version's: once, in one write transaction."""
    if items_current(conn):
        return
    with transaction(conn):
        if not items_current(conn):  # another process may have done it meanwhile
            derive_all(conn)


def _is_busy(exc: Exception) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def retry(fn: Callable[[], T], *, timeout: float = DEFAULT_LOCK_TIMEOUT) -> T:
    """Run ``fn``, retrying with jittered backoff while the database is busy, for at most
    ``timeout`` seconds in all; then raise :class:`StoreBusyError`."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            return fn()
        except _operational_errors() as exc:
            if not _is_busy(exc):
                raise
            left = deadline - time.monotonic()
            if left <= 0:
                raise StoreBusyError(
                    f"the memory store stayed locked by another writer for {timeout:g} s; "
                    "try again later, or open it with a longer lock_timeout"
                ) from exc
            time.sleep(min(left, delay * (0.5 + random.random())))
            delay = min(0.5, delay * 2)


def _timeout(conn: sqlite3.Connection) -> float:
    return getattr(conn, "lock_timeout", DEFAULT_LOCK_TIMEOUT)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on error), waiting a bounded time
    for the write lock."""
    if getattr(conn, "read_only", False):
        raise ReadOnlyStoreError("this memory store was opened read-only")
    retry(lambda: conn.execute("BEGIN IMMEDIATE"), timeout=_timeout(conn))
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise
    else:
        try:
            retry(lambda: conn.execute("COMMIT"), timeout=_timeout(conn))
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise
