"""The PostgreSQL adapter's async reads run on psycopg's AsyncConnectionPool (no thread
per call), agree with the sync calls, refuse the same bad arguments and keep scopes.
Against the real PostgreSQL with pgvector of the ``pgvector_url`` fixture.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from mnemos.exceptions import MemoryNotFoundError, UsageError
from mnemos.memory_adapters.native import RankingConfig
from mnemos.memory_adapters.postgres import PostgresMemoryAdapter
from pgvector_server import Schemas

pytestmark = pytest.mark.pgvector

NS = ("users", "alice")


@pytest.fixture
def store(pg_schemas: Schemas) -> Iterator[PostgresMemoryAdapter]:
    adapter = PostgresMemoryAdapter(pg_schemas.new_url() + "&pool_size=2", embedder="hashing:64")
    adapter.add_many([
        {"content": f"note {i}: the {w} was repaired near the harbor", "namespace": NS}
        for i, w in enumerate(["bicycle", "guitar", "kettle", "violin", "telescope"])
    ])
    adapter.add("bob keeps a kettle too", namespace=("users", "bob"))
    yield adapter
    adapter.close()


def _ids(hits: list[Any]) -> list[str]:
    return [h.record.id for h in hits]


async def test_async_reads_use_the_async_pool_not_threads(
    store: PostgresMemoryAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    offloaded: list[Any] = []
    real = asyncio.to_thread

    async def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        offloaded.append(getattr(func, "__name__", func))
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", counting)
    keyword = replace(RankingConfig(), mode="keyword")
    hits = await store.asearch("violin harbor", namespace=NS, ranking=keyword)
    assert hits and hits[0].record.content.startswith("note 3")
    first = hits[0].record
    assert (await store.aget(first.id)).content == first.content
    assert [r.id for r in await store.alist(namespace=NS, limit=2)] == [r.id for r in store.list(namespace=NS, limit=2)]
    assert await store.anamespaces(("users",)) == store.namespaces(("users",)) == [NS, ("users", "bob")]
    assert offloaded == []  # no SQL went to a worker thread
    assert store._store.apool.pool.get_stats()["requests_num"] >= 4


async def test_async_search_agrees_with_sync_and_runs_concurrently(store: PostgresMemoryAdapter) -> None:
    queries = ["violin", "kettle harbor", "repaired bicycle", "telescope", "guitar note"] * 4
    expected = [_ids(store.search(q, namespace=NS)) for q in queries]
    got = await asyncio.gather(*(store.asearch(q, namespace=NS) for q in queries))
    assert [_ids(h) for h in got] == expected
    assert store._store.apool.pool.get_stats()["pool_max"] == 2


async def test_async_reads_refuse_what_sync_refuses_and_keep_scope(store: PostgresMemoryAdapter) -> None:
    with pytest.raises(UsageError):
        await store.asearch("kettle", limit=0)
    with pytest.raises(UsageError):
        await store.alist(offset=-1)
    bob = store.list(namespace=("users", "bob"))[0]
    alice_view = store.scoped(*NS)
    assert "bob" not in " ".join(h.record.content for h in await alice_view.asearch("kettle"))
    with pytest.raises(MemoryNotFoundError):
        await alice_view.aget(bob.id)
    updated = store.update(bob.id, content="bob keeps two kettles")
    history = await store.ahistory(bob.id)
    assert [r.content for r in history] == ["bob keeps a kettle too", updated.content]


def test_async_reads_work_in_a_second_event_loop_and_after_close(pg_schemas: Schemas) -> None:
    adapter = PostgresMemoryAdapter(pg_schemas.new_url(), embedder="hashing:64")
    record = adapter.add("first loop, then another", namespace=NS)

    async def read() -> str:
        return (await adapter.aget(record.id)).id

    assert asyncio.run(read()) == record.id  # the pool's loop
    assert asyncio.run(read()) == record.id  # another loop: the sync call in a thread
    adapter.close()
    with pytest.raises(UsageError, match="closed"):
        asyncio.run(adapter.asearch("first"))
