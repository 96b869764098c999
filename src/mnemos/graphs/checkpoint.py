"""Checkpointers: where a graph's threads are saved, so a run survives restarts and crashes.

SQLite is the default (one file, ``$MNEMOS_HOME/checkpoints.db``); PostgreSQL is
for several processes or machines sharing threads. Both are LangGraph's own
savers (``SqliteSaver``, ``PostgresSaver``), returned as they are: pass one to
``compile(checkpointer=...)``.

A location is written like a URL:

=====================================  =========================================
``sqlite:///relative/or/abs/path.db``  a SQLite file (``sqlite:////abs/path.db`` also works)
``sqlite:///:memory:`` / ``memory``    in memory, gone when the process ends
``postgresql://user@host:5432/db``     PostgreSQL (needs ``mnemos[postgres]``)
a plain path                           a SQLite file
=====================================  =========================================

With nothing given, ``MNEMOS_CHECKPOINTS`` is used, then the default file.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver

from mnemos._files import make_private_dirs, open_private
from mnemos.config import mnemos_home
from mnemos.exceptions import ConfigurationError, MissingExtraError, StorageError, UsageError

__all__ = [
    "CHECKPOINTS_ENV",
    "aopen_checkpointer",
    "checkpointer_from_url",
    "close_checkpointer",
    "default_checkpoint_path",
    "default_checkpoint_url",
    "delete_thread",
    "open_checkpointer",
    "postgres_checkpointer",
    "prune_checkpoints",
    "sqlite_checkpointer",
    "thread_ids",
]

CHECKPOINTS_ENV = "MNEMOS_CHECKPOINTS"
"""Environment variable naming the default checkpoint location."""


def default_checkpoint_path() -> Path:
    """``$MNEMOS_HOME/checkpoints.db``."""
    return mnemos_home() / "checkpoints.db"


def default_checkpoint_url() -> str:
    """``MNEMOS_CHECKPOINTS`` if set, else the default SQLite file as a URL."""
    return os.environ.get(CHECKPOINTS_ENV) or f"sqlite:///{default_checkpoint_path()}"


def sqlite_checkpointer(path: str | Path | None = None) -> SqliteSaver:
    """A ``SqliteSaver`` on ``path`` (default ``$MNEMOS_HOME/checkpoints.db``), set up.

    The connection stays open for the life of the saver and may be used from
    several threads (the saver serializes access); close it with
    :func:`close_checkpointer`.
    """
    target = str(path) if path is not None else str(default_checkpoint_path())
    if target != ":memory:":
        _private_file(Path(target).expanduser())
        target = str(Path(target).expanduser())
    try:
        conn = sqlite3.connect(target, check_same_thread=False)
        saver = SqliteSaver(conn)
        saver.setup()
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open the checkpoint database {target}: {exc}") from None
    return saver


def _private_file(path: Path) -> None:
    """Create the checkpoint file 0600 (and its directories 0700) before SQLite opens it;
    SQLite gives its WAL and journal files the same mode.

    An existing file is not opened: closing any descriptor of a database file
    drops every POSIX lock this process holds on it, so opening and closing it
    while another connection of the process (a concurrent graph run) is using
    it lets other processes write under that connection and corrupts the file.
    """
    if path.exists():
        return
    try:
        make_private_dirs(path.parent)
        os.close(open_private(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return  # another process created it first
    except OSError as exc:
        raise StorageError(f"cannot create the checkpoint database {path}: {exc}") from None


def _missing_postgres_extra() -> MissingExtraError:
    return MissingExtraError("postgres", "langgraph-checkpoint-postgres", "PostgreSQL checkpoints")


_SETUP_LOCK = "mnemos-checkpoint-setup"


def postgres_checkpointer(url: str) -> BaseCheckpointSaver[Any]:
    """A ``PostgresSaver`` on ``url`` (tables created if missing).

    Needs the ``postgres`` extra. The connection is autocommit with prepared
    statements off, as LangGraph requires; close it with :func:`close_checkpointer`.
    """
    try:
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg import Connection
        from psycopg.rows import dict_row
    except ImportError:
        raise _missing_postgres_extra() from None
    import psycopg

    try:
        conn = Connection.connect(url, autocommit=True, prepare_threshold=0, row_factory=dict_row)
    except psycopg.Error as exc:
        raise StorageError(f"cannot connect to PostgreSQL for checkpoints: {exc}") from None
    saver = PostgresSaver(conn)  # type: ignore[arg-type]
    try:
        # LangGraph's setup is not safe against itself: processes starting at once on a
        # new database would insert the same migration rows. One at a time, then.
        # Polled, not waited for: LangGraph creates an index CONCURRENTLY, which waits for
        # every open statement, a blocked lock request included.
        while not (conn.execute("SELECT pg_try_advisory_lock(hashtext(%s)) AS got", (_SETUP_LOCK,))
                   .fetchone() or {}).get("got"):
            time.sleep(0.05)
        try:
            saver.setup()
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (_SETUP_LOCK,))
    except psycopg.Error as exc:
        conn.close()
        raise StorageError(f"cannot create the checkpoint tables: {exc}") from None
    return saver


def checkpointer_from_url(url: str | Path | None = None) -> BaseCheckpointSaver[Any]:
    """Open the checkpointer a location names (see the module docs for the forms)."""
    if url is None:
        url = default_checkpoint_url()
    if isinstance(url, Path):
        return sqlite_checkpointer(url)
    kind, target = _parse_location(url)
    if kind == "memory":
        return InMemorySaver()
    if kind == "postgres":
        return postgres_checkpointer(target)
    return sqlite_checkpointer(target)


def _parse_location(location: str) -> tuple[Literal["memory", "sqlite", "postgres"], str]:
    """What a location names: ``("memory", "")``, ``("sqlite", path)`` or ``("postgres", url)``."""
    text = location.strip()
    if not text:
        raise ConfigurationError("an empty checkpoint location; give a path or a URL")
    if text in ("memory", "memory://", "sqlite:///:memory:", ":memory:"):
        return "memory", ""
    if text.startswith("sqlite:///"):
        return "sqlite", text[len("sqlite:///"):]
    if text.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return "postgres", text.replace("postgresql+psycopg://", "postgresql://", 1)
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise ConfigurationError(
            f"unknown checkpoint scheme {scheme!r}; use sqlite:///path, postgresql://... or memory"
        )
    return "sqlite", text


def close_checkpointer(saver: BaseCheckpointSaver[Any]) -> None:
    """Close the connection behind a saver made here (others are left alone)."""
    conn = getattr(saver, "conn", None)
    if conn is not None and hasattr(conn, "close"):
        conn.close()


@contextmanager
def open_checkpointer(url: str | Path | None = None) -> Iterator[BaseCheckpointSaver[Any]]:
    """:func:`checkpointer_from_url` as a context manager that closes the connection."""
    saver = checkpointer_from_url(url)
    try:
        yield saver
    finally:
        close_checkpointer(saver)


@asynccontextmanager
async def aopen_checkpointer(url: str | Path | None = None) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """The async savers (``AsyncSqliteSaver``, ``AsyncPostgresSaver``) for ``graph.ainvoke``.

    Takes the same locations as :func:`checkpointer_from_url`; closes the
    connection on exit.
    """
    if url is None:
        url = default_checkpoint_url()
    kind, target = _parse_location(str(url))
    if kind == "memory":
        yield InMemorySaver()
        return
    if kind == "postgres":
        try:
            from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        except ImportError:
            raise _missing_postgres_extra() from None
        import psycopg

        try:
            manager = AsyncPostgresSaver.from_conn_string(target)
            pg_saver = await manager.__aenter__()
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to PostgreSQL for checkpoints: {exc}") from None
        conn: Any = pg_saver.conn  # one connection (from_conn_string), not a pool
        try:
            while not (await (await conn.execute(
                "SELECT pg_try_advisory_lock(hashtext(%s)) AS got", (_SETUP_LOCK,)
            )).fetchone())["got"]:
                await asyncio.sleep(0.05)
            try:
                await pg_saver.setup()
            finally:
                await conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (_SETUP_LOCK,))
            yield pg_saver
        finally:
            await manager.__aexit__(None, None, None)
        return
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    path = Path(target).expanduser()
    _private_file(path)
    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        await saver.setup()
        yield saver


# --- maintenance: delete and prune ---------------------------------------------------------------


def thread_ids(saver: BaseCheckpointSaver[Any]) -> list[str]:
    """The ids of the threads a saver holds."""
    seen: dict[str, None] = {}
    for item in saver.list(None):
        seen.setdefault(str(item.config["configurable"]["thread_id"]), None)
    return list(seen)


def delete_thread(saver: BaseCheckpointSaver[Any], thread_id: str) -> bool:
    """Delete every checkpoint and pending write of ``thread_id``; False if there was none."""
    if saver.get_tuple({"configurable": {"thread_id": thread_id}}) is None:
        return False
    saver.delete_thread(thread_id)
    return True


def prune_checkpoints(
    saver: BaseCheckpointSaver[Any],
    *,
    older_than: timedelta | None = None,
    keep_last: int | None = None,
    threads: Sequence[str] | None = None,
    graph_for: Callable[[str, Mapping[str, Any]], Any] | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Delete old threads and old checkpoints; return what was (or, with ``dry_run``, would be) removed.

    ``older_than``: whole threads whose last checkpoint is older are deleted.
    ``keep_last``: of every other thread, only the ``keep_last`` latest
    checkpoints are kept (SQLite only). Graphs with LangGraph delta channels
    (the brainstorm's transcript, for one) rebuild a checkpoint's values from
    its ancestors' writes; so before older checkpoints go, the oldest kept one
    is rewritten with full snapshots of its delta channels, from the graph
    ``graph_for(thread_id, metadata)`` returns. Without a graph for the
    thread, the ancestors it needs are kept instead. ``threads`` limits the
    pruning to those threads.
    """
    if keep_last is not None and keep_last < 1:
        raise UsageError(f"keep_last is at least 1, got {keep_last}")
    if older_than is None and keep_last is None:
        raise UsageError("say what to prune: older_than, keep_last, or both")
    report: dict[str, Any] = {"deleted_threads": [], "deleted_checkpoints": 0, "kept_for_deltas": 0}
    ids = list(threads) if threads is not None else thread_ids(saver)
    cutoff = datetime.now(UTC) - older_than if older_than is not None else None
    remaining = []
    for tid in ids:
        latest = saver.get_tuple({"configurable": {"thread_id": tid}})
        if latest is None:
            continue
        updated = datetime.fromisoformat(str(latest.checkpoint["ts"]))
        if cutoff is not None and updated < cutoff:
            report["deleted_threads"].append(tid)
            if not dry_run:
                saver.delete_thread(tid)
        else:
            remaining.append((tid, latest))
    if keep_last is None:
        return report
    conn = getattr(saver, "conn", None)
    if not isinstance(conn, sqlite3.Connection):
        raise UsageError("keeping the last N checkpoints works on SQLite checkpoints; "
                         "use older_than (or delete) on this store")
    for tid, latest in remaining:
        rows = conn.execute(
            "SELECT checkpoint_ns, checkpoint_id, parent_checkpoint_id FROM checkpoints WHERE thread_id = ? "
            "ORDER BY checkpoint_ns, checkpoint_id DESC", (tid,)).fetchall()
        by_ns: dict[str, list[tuple[str, str | None]]] = {}
        for ns, cid, parent in rows:
            by_ns.setdefault(ns, []).append((cid, parent))
        for ns, chain in by_ns.items():
            if len(chain) <= keep_last:
                continue
            parents = dict(chain)
            kept = [cid for cid, _ in chain[:keep_last]]
            oldest = kept[-1]
            config: Any = {"configurable": {"thread_id": tid, "checkpoint_ns": ns, "checkpoint_id": oldest}}
            item = saver.get_tuple(config)
            counters = dict((item.metadata or {}).get("counters_since_delta_snapshot") or {}) if item else {}
            graph = graph_for(tid, latest.metadata or {}) if counters and ns == "" and graph_for else None
            rebuilt = graph is not None and (dry_run or _snapshot_deltas(saver, graph, config))
            if counters and not rebuilt:
                # no graph to rebuild the values: keep the ancestors the delta channels replay
                depth = max(int(c[1]) for c in counters.values()) + 1
                cursor: str | None = oldest
                for _ in range(depth):
                    cursor = parents.get(cursor) if cursor else None
                    if cursor is None:
                        break
                    kept.append(cursor)
                    report["kept_for_deltas"] += 1
            doomed = [cid for cid, _ in chain if cid not in set(kept)]
            report["deleted_checkpoints"] += len(doomed)
            if dry_run or not doomed:
                continue
            with conn:
                for cid in doomed:
                    conn.execute("DELETE FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ? "
                                 "AND checkpoint_id = ?", (tid, ns, cid))
                    conn.execute("DELETE FROM writes WHERE thread_id = ? AND checkpoint_ns = ? "
                                 "AND checkpoint_id = ?", (tid, ns, cid))
    return report


def _snapshot_deltas(saver: BaseCheckpointSaver[Any], graph: Any, config: Any) -> bool:
    """Rewrite one checkpoint with full snapshots of its delta channels; False if it cannot be done."""
    from langgraph.checkpoint.serde.types import _DeltaSnapshot

    if graph is None:
        return False
    item = saver.get_tuple(config)
    if item is None:
        return False
    counters = dict((item.metadata or {}).get("counters_since_delta_snapshot") or {})
    values = graph.get_state(config).values
    if not all(name in values for name in counters):
        return False
    channel_values: dict[str, Any] = dict(item.checkpoint["channel_values"])
    for name in counters:
        channel_values[name] = _DeltaSnapshot(values[name])
    checkpoint: Any = {**item.checkpoint, "channel_values": channel_values}
    metadata: Any = {k: v for k, v in (item.metadata or {}).items() if k != "counters_since_delta_snapshot"}
    where = config["configurable"]
    parent: Any = {"configurable": {"thread_id": where["thread_id"], "checkpoint_ns": where["checkpoint_ns"],
                                    **({"checkpoint_id": item.parent_config["configurable"]["checkpoint_id"]}
                                       if item.parent_config else {})}}
    saver.put(parent, checkpoint, metadata, {})  # the same checkpoint id: replaced in place
    return True
