"""The PostgreSQL adapter's async reads on psycopg's ``AsyncConnectionPool``.

``asearch``, ``alist``, ``aget``, ``ahistory`` and ``anamespaces`` run their SQL on
an async pool (opened on first use, bound to that event loop; calls from another
loop offload the sync call to a thread, as before), with the same
steps as the sync calls (``_postgres_io``): no thread is held while PostgreSQL
works. Arguments are checked by the sync method itself on a copy of the adapter
that stops before any SQL, so both paths accept and refuse the same calls. The
query's embedding (CPU work) goes to a worker thread. Writes (``aadd``,
``aupdate``, ...) keep the base class's thread offload: each is one transaction
with advisory locks on a pooled sync connection.
"""

from __future__ import annotations

import asyncio
import builtins
import copy
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

from mnemos.exceptions import MemoryNotFoundError, StorageError
from mnemos.memory_adapters._namespace import Namespace, is_prefix
from mnemos.memory_adapters._native_schema import ns_tuple
from mnemos.memory_adapters._postgres_io import Steps, arun, fetch
from mnemos.memory_adapters._postgres_store import RECORD_COLUMNS, ns_cond, row_to_record
from mnemos.memory_adapters._validate import check_id
from mnemos.memory_adapters.base import Capability, MemoryRecord, ScoredMemory, SearchQuery

__all__ = ["AsyncPool", "AsyncReadsMixin"]


async def _configure(conn: Any, schema: str) -> None:
    # no vector types to register: the steps send query vectors as text (``_postgres_search``)
    await conn.execute(f'SET search_path TO "{schema}", public')
    await conn.execute("SET TIME ZONE 'UTC'")
    await conn.execute("SET plan_cache_mode TO force_custom_plan")  # see postgres._configure


class AsyncPool:
    """An ``AsyncConnectionPool`` bound to the first event loop that uses it."""

    def __init__(self, conninfo: str, schema: str, size: int) -> None:
        self.conninfo, self.schema, self.size = conninfo, schema, size
        self.pool: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.opening: asyncio.Future[None] | None = None
        """The one ``open()`` every first caller waits for (it cannot run twice at once)."""

    def current(self) -> Any:
        """The pool, or ``None`` when this is not the loop it belongs to."""
        from psycopg_pool import AsyncConnectionPool

        loop = asyncio.get_running_loop()
        if self.loop is not None and self.loop is not loop:
            return None
        if self.pool is None:
            schema = self.schema

            async def configure(conn: Any) -> None:
                await _configure(conn, schema)

            self.pool = AsyncConnectionPool(
                self.conninfo, min_size=1, max_size=self.size, kwargs={"autocommit": True},
                configure=configure, open=False, name=f"mnemos-async-{schema}",
            )
            self.loop = loop
            self.opening = asyncio.ensure_future(self.pool.open(wait=True))
        return self.pool

    async def close(self) -> None:
        if self.pool is not None and self.loop is asyncio.get_running_loop():
            await self.pool.close()
            self.pool = self.loop = self.opening = None

    def close_soon(self) -> None:
        """Close from sync code: in the pool's loop if it still runs, else leave it to GC."""
        pool, loop = self.pool, self.loop
        self.pool = self.loop = self.opening = None
        if pool is not None and loop is not None and loop.is_running() and not loop.is_closed():
            loop.call_soon_threadsafe(lambda: loop.create_task(pool.close()))


class AsyncReadsMixin:
    """Async twins of the reads for :class:`PostgresMemoryAdapter`."""

    _capture: builtins.list[tuple[SearchQuery, Any]] | None = None
    """Set on a probe copy: ``_search`` records its query instead of running it."""

    @asynccontextmanager
    async def _aconnection(self: Any) -> AsyncIterator[Any]:
        import psycopg

        self._store._check_open()
        pool = self._store.apool.current()
        try:
            await asyncio.shield(self._store.apool.opening)
            async with pool.connection() as conn:
                yield conn
        except psycopg.Error as exc:
            raise StorageError(f"PostgreSQL memory store {self._store.schema!r}: {exc}") from exc

    async def _arun(self: Any, steps: Steps[Any]) -> Any:
        async with self._aconnection() as conn:
            return await arun(conn, steps)

    def _other_loop(self: Any) -> bool:
        """Whether the async pool belongs to another event loop: then the twins offload
        the sync call to a thread, as the base class does (a pool cannot move loops)."""
        self._store._check_open()
        return self._store.apool.current() is None

    def _checked(self: Any, method: str, *args: Any, **kwargs: Any) -> tuple[SearchQuery, Any]:
        """The query the sync ``method`` would run (its checks and errors included)."""
        probe = copy.copy(self)
        probe._capture = []
        getattr(type(self), method)(probe, *args, **kwargs)
        return probe._capture[0]

    async def asearch(self: Any, query: str | None = None, **kwargs: Any) -> builtins.list[ScoredMemory]:
        """:meth:`search` on the async pool."""
        if self._other_loop():
            return await asyncio.to_thread(self.search, query, **kwargs)
        q, ranking = self._checked("search", query, **kwargs)
        vector = None
        if q.text is not None and ranking.mode != "keyword":
            vector = await asyncio.to_thread(self._query_vector, q.text)
        hits = await self._arun(self._search_steps(q, vector, ranking))
        return [replace(hit, record=self._rel(hit.record)) for hit in hits]

    async def alist(self: Any, **kwargs: Any) -> builtins.list[MemoryRecord]:
        """:meth:`list` on the async pool."""
        if self._other_loop():
            return await asyncio.to_thread(self.list, **kwargs)
        q, ranking = self._checked("list", **kwargs)
        hits = await self._arun(self._search_steps(q, None, ranking))
        return [self._rel(hit.record) for hit in hits]

    async def aget(self: Any, memory_id: str) -> MemoryRecord:
        """:meth:`get` on the async pool."""
        if self._other_loop():
            return await asyncio.to_thread(self.get, memory_id)
        check_id(memory_id)
        rows = await self._arun(fetch(f"SELECT {RECORD_COLUMNS} FROM memories m WHERE m.id = %s", (memory_id,)))
        found = self._visible(row_to_record(rows[0]) if rows else None)
        if found is None:
            raise MemoryNotFoundError(memory_id)
        return self._rel(found)

    async def ahistory(self: Any, memory_id: str) -> builtins.list[MemoryRecord]:
        """:meth:`history` on the async pool."""
        if self._other_loop():
            return await asyncio.to_thread(self.history, memory_id)
        self.require(Capability.HISTORY)
        current = await self.aget(memory_id)
        rows = await self._arun(fetch("SELECT record FROM history WHERE id = %s ORDER BY version", (current.id,)))
        earlier = [MemoryRecord.from_dict(json.loads(r[0])) for r in rows]
        return [self._rel(r) for r in earlier if is_prefix(self._scope, r.namespace)] + [current]

    async def anamespaces(self: Any, prefix: Sequence[str] = ()) -> builtins.list[Namespace]:
        """:meth:`namespaces` on the async pool."""
        if self._other_loop():
            return await asyncio.to_thread(self.namespaces, prefix)
        cond, params = ns_cond(self._abs(prefix))
        rows = await self._arun(fetch(
            f"SELECT DISTINCT ns FROM memories WHERE {cond} AND (expires_at IS NULL OR expires_at > %s)",
            [*params, self.now()],
        ))
        n = len(self._scope)
        return [ns[n:] for ns in sorted(ns_tuple(r[0]) for r in rows)]

    async def aclose(self: Any) -> None:
        """Close the adapter and its async pool (from the loop that used it)."""
        if not self._is_view:
            await self._store.apool.close()
        self.close()
