"""The async twins (``aadd``, ``asearch``...) behave like the sync methods.

Each test drives its coroutine with :func:`asyncio.run`, so the suite needs
no async pytest plugin.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from mnemos.exceptions import InvalidRecordError, MemoryNotFoundError
from mnemos.memory_adapters.base import BaseMemoryAdapter, Capability
from mnemos.memory_adapters.conformance._base import ConformanceBase
from mnemos.memory_adapters.conformance._support import exact

__all__ = ["AsyncTests"]


class AsyncTests(ConformanceBase):
    """Async and sync forms agree, and async errors are the same typed errors."""

    def test_async_twins_match_sync(self, adapter: BaseMemoryAdapter) -> None:
        async def scenario() -> None:
            record = await adapter.aadd("async memory about the lighthouse", namespace=("as",))
            await adapter.aadd_many(
                [{"content": f"async batch item {i} about harbours", "namespace": ("as", "b")} for i in range(3)]
            )
            assert exact(await adapter.aget(record.id)) == exact(adapter.get(record.id))
            assert [exact(r) for r in await adapter.alist(namespace=("as",))] == [
                exact(r) for r in adapter.list(namespace=("as",))
            ]
            assert await adapter.anamespaces() == adapter.namespaces() == [("as",), ("as", "b")]
            if self.can_search(adapter):
                async_hits = await adapter.asearch("lighthouse", namespace=("as",), limit=5)
                sync_hits = adapter.search("lighthouse", namespace=("as",), limit=5)
                assert [h.record.id for h in async_hits] == [h.record.id for h in sync_hits]
                assert async_hits[0].record.id == record.id
            if adapter.supports(Capability.UPDATE):
                updated = await adapter.aupdate(record.id, content="async lighthouse, repainted")
                assert updated.version == 2 and adapter.get(record.id).content == updated.content
            if adapter.supports(Capability.HISTORY):
                assert [r.version for r in await adapter.ahistory(record.id)] == [1, 2]
            if adapter.supports(Capability.SUPERSEDE):
                fact = await adapter.aadd("async fact v1", namespace=("as",), kind="semantic")
                newer = await adapter.asupersede(fact.id, "async fact v2")
                assert adapter.get(fact.id).superseded_by == newer.id
            if adapter.supports(Capability.TTL):
                past = datetime.now(UTC) - timedelta(hours=1)
                await adapter.aadd("async expired", namespace=("as", "ttl"), expires_at=past)
                assert await adapter.apurge(("as", "ttl")) == 1
            if adapter.supports(Capability.DELETE):
                await adapter.adelete(record.id)
                with pytest.raises(MemoryNotFoundError):
                    await adapter.aget(record.id)

        asyncio.run(scenario())

    def test_async_errors_are_typed(self, adapter: BaseMemoryAdapter) -> None:
        async def scenario() -> None:
            with pytest.raises(InvalidRecordError):
                await adapter.aadd("   ", namespace=("as",))
            with pytest.raises(InvalidRecordError):
                await adapter.aadd("fine", namespace=("as",), importance=2)
            with pytest.raises(MemoryNotFoundError):
                await adapter.aget("no-such-id")
            assert await adapter.alist() == []

        asyncio.run(scenario())

    def test_async_concurrent_adds_lose_nothing(self, adapter: BaseMemoryAdapter) -> None:
        async def scenario() -> list[str]:
            records = await asyncio.gather(
                *(adapter.aadd(f"concurrent async write {i}", namespace=("as",)) for i in range(60))
            )
            return [r.id for r in records]

        ids = asyncio.run(scenario())
        assert len(set(ids)) == 60
        assert {r.id for r in adapter.list(namespace=("as",), limit=None)} == set(ids)
