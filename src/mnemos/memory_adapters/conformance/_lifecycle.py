"""Lifecycle: updates with history, supersession, deletion, TTL and purge, dedup."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta

import pytest

from mnemos.exceptions import InvalidRecordError, MemoryNotFoundError, UsageError
from mnemos.memory_adapters.base import BaseMemoryAdapter, Capability, MemoryKind
from mnemos.memory_adapters.conformance._base import ConformanceBase, Stores
from mnemos.memory_adapters.conformance._support import ManualClock, exact, snapshot

__all__ = ["LifecycleTests"]


class LifecycleTests(ConformanceBase):
    """Memories change, are superseded, expire and are deleted without losing what must stay."""

    def test_update_keeps_history(self, adapter: BaseMemoryAdapter) -> None:
        self.needs(adapter, Capability.UPDATE)
        first = adapter.add("the meeting is on Monday", namespace=("cal",), metadata={"v": 1})
        second = adapter.update(first.id, content="the meeting is on Tuesday", metadata={"v": 2})
        third = adapter.update(first.id, importance=0.9)
        assert (second.id, third.id) == (first.id, first.id)
        assert [first.version, second.version, third.version] == [1, 2, 3]
        assert third.content == "the meeting is on Tuesday" and third.metadata == {"v": 2}
        assert third.importance == 0.9
        assert third.created_at == first.created_at
        assert first.updated_at <= second.updated_at <= third.updated_at
        assert exact(adapter.get(first.id)) == exact(third)
        assert adapter.count(("cal",)) == 1
        if adapter.supports(Capability.HISTORY):
            history = adapter.history(first.id)
            assert [r.version for r in history] == [1, 2, 3]
            assert [r.content for r in history] == [
                "the meeting is on Monday",
                "the meeting is on Tuesday",
                "the meeting is on Tuesday",
            ]
            assert [r.metadata for r in history] == [{"v": 1}, {"v": 2}, {"v": 2}]
            assert exact(history[0]) == exact(first)
            assert exact(history[-1]) == exact(third)

    def test_update_without_changes_keeps_the_version(self, adapter: BaseMemoryAdapter) -> None:
        self.needs(adapter, Capability.UPDATE)
        record = adapter.add("unchanging", namespace=("u",))
        assert adapter.update(record.id).version == 1
        assert adapter.get(record.id).version == 1

    def test_bad_updates_are_refused_and_change_nothing(self, adapter: BaseMemoryAdapter) -> None:
        self.needs(adapter, Capability.UPDATE)
        record = adapter.add("stable content", namespace=("u",), metadata={"k": "v"})
        before = snapshot(adapter)
        bad = [
            {"content": ""},
            {"content": 17},
            {"metadata": {"x": math.nan}},
            {"metadata": "not a dict"},
            {"importance": 1.5},
            {"importance": "high"},
        ]
        for kwargs in bad:
            with pytest.raises(InvalidRecordError):
                adapter.update(record.id, **kwargs)  # type: ignore[arg-type]
        with pytest.raises(MemoryNotFoundError):
            adapter.update("no-such-id", content="anything")
        with pytest.raises(InvalidRecordError):
            adapter.update("", content="anything")
        assert snapshot(adapter) == before

    def test_update_is_searchable_by_its_new_words(self, adapter: BaseMemoryAdapter) -> None:
        self.needs(adapter, Capability.UPDATE)
        self.needs_search(adapter)
        target = adapter.add("the spare key is under the doormat", namespace=("h",))
        for text in ("the garden hose is in the shed", "the bicycle pump is in the attic"):
            adapter.add(text, namespace=("h",))
        adapter.update(target.id, content="the spare key moved to the mailbox with the padlock")
        hits = adapter.search("mailbox padlock", namespace=("h",), limit=3)
        assert hits and hits[0].record.id == target.id
        assert hits[0].record.content == "the spare key moved to the mailbox with the padlock"
        assert hits[0].record.version == 2

    def test_supersede_keeps_the_old_fact(self, adapter: BaseMemoryAdapter) -> None:
        self.needs(adapter, Capability.SUPERSEDE)
        old = adapter.add(
            "Alice lives in Paris", namespace=("facts",), kind="semantic", metadata={"src": "a"}
        )
        new = adapter.supersede(old.id, "Alice lives in Berlin")
        assert new.id != old.id
        assert (new.kind, new.namespace, new.metadata) == (MemoryKind.SEMANTIC, ("facts",), {"src": "a"})
        assert new.valid_from is not None and new.valid_to is None and not new.superseded
        kept = adapter.get(old.id)
        assert kept.content == "Alice lives in Paris", "the old fact was overwritten"
        assert kept.superseded and kept.superseded_by == new.id
        assert kept.valid_to is not None and kept.valid_from is not None
        assert kept.valid_from <= kept.valid_to
        assert [r.id for r in adapter.list(namespace=("facts",))] == [new.id]
        both = {r.id for r in adapter.list(namespace=("facts",), include_superseded=True)}
        assert both == {old.id, new.id}
        assert adapter.count(("facts",)) == 2, "count() covers superseded facts too"
        if self.can_search(adapter):
            hits = adapter.search("Alice lives Paris", namespace=("facts",))
            assert old.id not in {h.record.id for h in hits}, "a superseded fact was recalled"
            hits = adapter.search("Alice lives Paris", namespace=("facts",), include_superseded=True)
            assert old.id in {h.record.id for h in hits}
        if adapter.supports(Capability.HISTORY):
            assert adapter.history(old.id)[0].content == "Alice lives in Paris"
        with pytest.raises(UsageError):
            adapter.supersede(old.id, "Alice lives in Rome")
        with pytest.raises(MemoryNotFoundError):
            adapter.supersede("no-such-id", "anything")

    def test_delete(self, adapter: BaseMemoryAdapter) -> None:
        self.needs(adapter, Capability.DELETE)
        gone = adapter.add("delete me: the old wifi password", namespace=("d",))
        kept = adapter.add("keep me: the router model", namespace=("d",))
        adapter.delete(gone.id)
        with pytest.raises(MemoryNotFoundError):
            adapter.get(gone.id)
        with pytest.raises(MemoryNotFoundError):
            adapter.delete(gone.id)
        with pytest.raises(MemoryNotFoundError):
            adapter.delete("no-such-id")
        assert [r.id for r in adapter.list(namespace=("d",))] == [kept.id]
        assert adapter.count(("d",)) == 1
        assert adapter.get_many([gone.id]) == [None]
        if self.can_search(adapter):
            hits = adapter.search("old wifi password", namespace=("d",))
            assert gone.id not in {h.record.id for h in hits}
        assert adapter.get(kept.id).content == "keep me: the router model"

    def _ttl_store(self, stores: Stores) -> tuple[BaseMemoryAdapter, float, ManualClock | None]:
        """An adapter, a TTL to use, and a clock to advance (None: really wait)."""
        clock = ManualClock() if self.accepts_clock else None
        adapter = stores.open(clock=clock)
        self.needs(adapter, Capability.TTL)
        return adapter, (60.0 if clock else 1.0), clock

    def test_ttl_expired_memories_are_invisible_then_purged(self, stores: Stores) -> None:
        adapter, ttl, clock = self._ttl_store(stores)
        keep = adapter.add("no expiry: the office address", namespace=("ttl",))
        short = adapter.add("short lived: today's parking spot", namespace=("ttl",), ttl_seconds=ttl)
        long = adapter.add("long lived: this quarter's goals", namespace=("ttl",), ttl_seconds=ttl * 1000)
        assert short.expires_at is not None
        assert {r.id for r in adapter.list(namespace=("ttl",))} == {keep.id, short.id, long.id}
        if clock is not None:
            clock.advance(ttl * 2)
        else:
            time.sleep(max(0.0, (short.expires_at - datetime.now(UTC)).total_seconds()) + 0.3)
        with pytest.raises(MemoryNotFoundError):
            adapter.get(short.id)
        assert {r.id for r in adapter.list(namespace=("ttl",))} == {keep.id, long.id}
        assert adapter.count(("ttl",)) == 2, "count() includes an expired memory"
        if self.can_search(adapter):
            hits = adapter.search("parking spot today", namespace=("ttl",))
            assert short.id not in {h.record.id for h in hits}, "an expired memory was recalled"
        assert adapter.purge() == 1
        assert adapter.purge() == 0
        assert {r.id for r in adapter.list(namespace=("ttl",))} == {keep.id, long.id}
        if adapter.supports(Capability.UPDATE):
            adapter.update(long.id, expires_at=None)
            assert adapter.get(long.id).expires_at is None

    def test_ttl_past_expiry_and_purge_by_namespace(self, adapter: BaseMemoryAdapter) -> None:
        self.needs(adapter, Capability.TTL)
        past = datetime.now(UTC) - timedelta(days=1)
        for text in ("expired one", "expired two"):
            adapter.add(text, namespace=("a",), expires_at=past)
        adapter.add("expired elsewhere", namespace=("b",), expires_at=past)
        alive = adapter.add("alive", namespace=("a",))
        assert [r.id for r in adapter.list()] == [alive.id]
        assert adapter.namespaces() == [("a",)], "a namespace holding only expired memories is listed"
        assert adapter.count() == 1
        assert adapter.purge(("a",)) == 2
        assert adapter.purge(("a",)) == 0
        assert adapter.purge() == 1
        assert [r.id for r in adapter.list()] == [alive.id]

    def test_dedup_of_identical_content(self, adapter: BaseMemoryAdapter) -> None:
        self.needs(adapter, Capability.DEDUP)
        first = adapter.add("Bob is allergic to peanuts", namespace=("p",))
        again = adapter.add("Bob is allergic to peanuts", namespace=("p",), metadata={"x": 1})
        assert again.id == first.id
        assert adapter.count(("p",)) == 1
        elsewhere = adapter.add("Bob is allergic to peanuts", namespace=("q",))
        assert elsewhere.id != first.id
        forced = adapter.add("Bob is allergic to peanuts", namespace=("p",), dedup=False)
        assert forced.id != first.id
        assert adapter.count(("p",)) == 2
        near = adapter.add("Bob is allergic to peanuts.", namespace=("p",))
        assert near.id not in {first.id, forced.id}, "dedup is for identical content only"

    def test_dedup_within_one_batch(self, adapter: BaseMemoryAdapter) -> None:
        self.needs(adapter, Capability.DEDUP)
        batch = [
            {"content": "the wifi name is Orchard", "namespace": ("b",)},
            {"content": "the wifi name is Orchard", "namespace": ("b",)},
            {"content": "the wifi name is Orchard", "namespace": ("c",)},
        ]
        first, second, third = adapter.add_many(batch)
        assert first.id == second.id, "identical content in one batch was stored twice"
        assert third.id != first.id
        assert adapter.count(("b",)) == 1 and adapter.count(("c",)) == 1

    def test_dedup_ignores_expired_memories(self, adapter: BaseMemoryAdapter) -> None:
        self.needs(adapter, Capability.DEDUP, Capability.TTL)
        past = datetime.now(UTC) - timedelta(minutes=1)
        stale = adapter.add("the door code is 4821", namespace=("p",), expires_at=past)
        fresh = adapter.add("the door code is 4821", namespace=("p",))
        assert fresh.id != stale.id, "dedup returned an expired memory"
        assert adapter.get(fresh.id).expires_at is None
        assert [r.id for r in adapter.list(namespace=("p",))] == [fresh.id]
