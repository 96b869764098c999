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

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["Query", "Rows", "Steps", "arun", "fetch", "run"]

T = TypeVar("T")
Rows = list[tuple[Any, ...]]


@dataclass(frozen=True)
class Query:
    """One statement; ``settings`` are set for it alone (``set_config(..., true)`` in a
    transaction of its own, or a savepoint inside the caller's)."""

    sql: str
    params: Sequence[Any] = ()
    settings: tuple[tuple[str, str], ...] = ()


Steps = Generator[Query, Rows, T]


def fetch(sql: str, params: Sequence[Any] = (), settings: tuple[tuple[str, str], ...] = ()) -> Steps[Rows]:
    """The rows of one statement (``rows = yield from fetch(...)``)."""
    rows = yield Query(sql, params, settings)
    return rows


def _settings_sql(query: Query) -> tuple[str, list[str]]:
    marks = ", ".join("set_config(%s, %s, true)" for _ in query.settings)
    return f"SELECT {marks}", [v for pair in query.settings for v in pair]


def run(conn: Any, steps: Steps[T]) -> T:
    """Drive ``steps`` on a psycopg (sync) connection."""
    try:
        query = next(steps)
        while True:
            if query.settings:
                with conn.transaction():
                    conn.execute(*_settings_sql(query))
                    rows = conn.execute(query.sql, list(query.params)).fetchall()
            else:
                rows = conn.execute(query.sql, list(query.params)).fetchall()
            query = steps.send(rows)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def arun(conn: Any, steps: Steps[T]) -> T:
    """Drive ``steps`` on a psycopg ``AsyncConnection``."""
    try:
        query = next(steps)
        while True:
            if query.settings:
                async with conn.transaction():
                    await conn.execute(*_settings_sql(query))
                    rows = await (await conn.execute(query.sql, list(query.params))).fetchall()
            else:
                rows = await (await conn.execute(query.sql, list(query.params))).fetchall()
            query = steps.send(rows)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
