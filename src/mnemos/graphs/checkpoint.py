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

import os
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver

from mnemos._files import make_private_dirs, open_private
from mnemos.config import mnemos_home
from mnemos.exceptions import ConfigurationError, MissingExtraError, StorageError

__all__ = [
    "CHECKPOINTS_ENV",
    "aopen_checkpointer",
    "checkpointer_from_url",
    "close_checkpointer",
    "default_checkpoint_path",
    "default_checkpoint_url",
    "open_checkpointer",
    "postgres_checkpointer",
    "sqlite_checkpointer",
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
    SQLite gives its WAL and journal files the same mode."""
    try:
        make_private_dirs(path.parent)
        os.close(open_private(path, os.O_WRONLY | os.O_CREAT))
    except OSError as exc:
        raise StorageError(f"cannot create the checkpoint database {path}: {exc}") from None


def _missing_postgres_extra() -> MissingExtraError:
    return MissingExtraError("postgres", "langgraph-checkpoint-postgres", "PostgreSQL checkpoints")


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
        saver.setup()
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
        try:
            await pg_saver.setup()
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
