"""One body of SQL steps for the sync and the async PostgreSQL paths.

A search (or any read made of several statements) is written once, as a
generator that yields :class:`Query` objects and receives their rows::

    def count_ns(ns: str) -> Steps[int]:
        rows = yield from fetch("SELECT count(*) FROM memories WHERE ns = %s", (ns,))
        return int(rows[0][0])

:func:`run` drives it on a psycopg connection, :func:`arun` on a psycopg
``AsyncConnection``; the logic between the statements is the same code.
"""

from __future__ import annotations

import weakref
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["Query", "Rows", "Steps", "arun", "fetch", "run"]

T = TypeVar("T")
Rows = list[tuple[Any, ...]]


@dataclass(frozen=True)
class Query:
    """One statement and the settings it needs (``hnsw.ef_search``...). Outside a
    transaction they are set on the connection, once for as long as they stay the same
    (one round trip per statement, not a transaction of four); inside the caller's
    transaction, for this statement alone (a savepoint). Only statements that name the
    settings they read may rely on them."""

    sql: str
    params: Sequence[Any] = ()
    settings: tuple[tuple[str, str], ...] = ()


Steps = Generator[Query, Rows, T]


def fetch(sql: str, params: Sequence[Any] = (), settings: tuple[tuple[str, str], ...] = ()) -> Steps[Rows]:
    """The rows of one statement (``rows = yield from fetch(...)``)."""
    rows = yield Query(sql, params, settings)
    return rows


_SESSION: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()
"""The settings each connection was given at session level (outside transactions)."""


def _settings_sql(settings: Sequence[tuple[str, str]], local: bool) -> tuple[str, list[str]]:
    marks = ", ".join(f"set_config(%s, %s, {'true' if local else 'false'})" for _ in settings)
    return f"SELECT {marks}", [v for pair in settings for v in pair]


def _session_changes(conn: Any, query: Query) -> list[tuple[str, str]] | None:
    """The settings to give ``conn`` for ``query`` at session level, or ``None`` when it is
    inside a transaction (then they are set for the statement alone)."""
    if conn.info.transaction_status != 0:  # not idle: inside the caller's transaction
        return None
    current = _SESSION.setdefault(conn, {})
    return [(k, v) for k, v in query.settings if current.get(k) != v]


def run(conn: Any, steps: Steps[T]) -> T:
    """Drive ``steps`` on a psycopg (sync) connection."""
    try:
        query = next(steps)
        while True:
            changes = _session_changes(conn, query) if query.settings else []
            if changes is None:
                with conn.transaction():
                    conn.execute(*_settings_sql(query.settings, True))
                    rows = conn.execute(query.sql, list(query.params)).fetchall()
            else:
                if changes:
                    conn.execute(*_settings_sql(changes, False))
                    _SESSION[conn].update(changes)
                rows = conn.execute(query.sql, list(query.params)).fetchall()
            query = steps.send(rows)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def arun(conn: Any, steps: Steps[T]) -> T:
    """Drive ``steps`` on a psycopg ``AsyncConnection``."""
    try:
        query = next(steps)
        while True:
            changes = _session_changes(conn, query) if query.settings else []
            if changes is None:
                async with conn.transaction():
                    await conn.execute(*_settings_sql(query.settings, True))
                    rows = await (await conn.execute(query.sql, list(query.params))).fetchall()
            else:
                if changes:
                    await conn.execute(*_settings_sql(changes, False))
                    _SESSION[conn].update(changes)
                rows = await (await conn.execute(query.sql, list(query.params))).fetchall()
            query = steps.send(rows)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
