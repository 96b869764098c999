"""Isolation: nothing crosses namespaces, and a scoped adapter cannot reach outside its scope."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from mnemos.exceptions import InvalidNamespaceError, InvalidRecordError, MemoryNotFoundError
from mnemos.memory_adapters._namespace import MAX_DEPTH, MAX_PART_LENGTH
from mnemos.memory_adapters.base import BaseMemoryAdapter, Capability, MemoryRecord
from mnemos.memory_adapters.conformance._base import ConformanceBase, Stores
from mnemos.memory_adapters.conformance._support import snapshot

__all__ = ["IsolationTests"]


class IsolationTests(ConformanceBase):
    """Namespaces and scopes keep memories apart."""

    def test_nothing_crosses_namespaces(self, adapter: BaseMemoryAdapter) -> None:
        alice = ("users", "alice")
        bob = ("users", "bob")
        a1 = adapter.add("Our project codename is Bluebird", namespace=alice)
        b1 = adapter.add("Our project codename is Bluebird", namespace=bob)
        b2 = adapter.add("Bob's project deadline is in June", namespace=bob)
        assert a1.id != b1.id, "identical content in two namespaces was merged"
        assert {r.id for r in adapter.list(namespace=alice)} == {a1.id}
        assert {r.id for r in adapter.list(namespace=bob)} == {b1.id, b2.id}
        if self.can_search(adapter):
            hits = adapter.search("project codename Bluebird deadline", namespace=alice, limit=10)
            assert [h.record.id for h in hits] == [a1.id]
        if adapter.supports(Capability.DELETE):
            adapter.delete(a1.id)
            assert adapter.get(b1.id).content == "Our project codename is Bluebird"
            assert adapter.list(namespace=alice) == []

    def test_deepest_and_longest_namespaces_round_trip(self, adapter: BaseMemoryAdapter) -> None:
        deep = tuple(f"level{i}" for i in range(MAX_DEPTH))
        wide = ("w" * MAX_PART_LENGTH, "ü" * MAX_PART_LENGTH)
        for namespace in (deep, wide):
            record = adapter.add("a memory far down", namespace=namespace)
            assert adapter.get(record.id).namespace == namespace
            assert [r.id for r in adapter.list(namespace=namespace[:-1])] == [record.id]
        for bad in ((*deep, "one-more"), ("x" * (MAX_PART_LENGTH + 1),), ("tab\there",)):
            with pytest.raises((InvalidNamespaceError, InvalidRecordError)):
                adapter.add("too deep or too long", namespace=bad)

    def test_two_handles_on_one_store_see_each_others_changes(self, stores: Stores) -> None:
        first, second = stores.open(), stores.open()
        kept = first.add("the blue kettle is in the kitchen", namespace=("h",))
        changed = first.add("the spare charger is in the red drawer", namespace=("h",))
        doomed = first.add("the parcel tracking number is 7781", namespace=("h",))
        searchable = self.can_search(first)
        if searchable:
            first.search("kettle charger parcel", namespace=("h",))  # warm any caches
        if second.supports(Capability.UPDATE):
            second.update(changed.id, content="the spare charger moved to the garden shed")
            assert first.get(changed.id).content == "the spare charger moved to the garden shed"
            if searchable:
                hits = first.search("charger garden shed", namespace=("h",), limit=1)
                assert hits and hits[0].record.id == changed.id
                assert hits[0].record.content.endswith("garden shed")
        if second.supports(Capability.DELETE):
            second.delete(doomed.id)
            with pytest.raises(MemoryNotFoundError):
                first.get(doomed.id)
            if searchable:
                hits = first.search("parcel tracking number 7781", namespace=("h",))
                assert doomed.id not in {h.record.id for h in hits}, "a deleted memory was recalled"
        fresh = second.add("the umbrella is behind the front door", namespace=("h",))
        assert first.get(fresh.id).content == "the umbrella is behind the front door"
        if searchable:
            hits = first.search("umbrella front door", namespace=("h",), limit=1)
            assert hits and hits[0].record.id == fresh.id
        assert first.get(kept.id) == second.get(kept.id)

    def _two_tenants(self, root: BaseMemoryAdapter) -> tuple[MemoryRecord, MemoryRecord]:
        mine = root.add("tenant one keeps the blue notebook", namespace=("tenants", "t1", "notes"))
        theirs = root.add("tenant two keeps the red notebook", namespace=("tenants", "t2", "notes"))
        return mine, theirs

    def _check_confined(
        self, root: BaseMemoryAdapter, view: BaseMemoryAdapter, mine: MemoryRecord, theirs: MemoryRecord
    ) -> None:
        before_theirs = root.get(theirs.id)
        assert view.get(mine.id).namespace == ("notes",), "a scoped view returns relative namespaces"
        assert [r.id for r in view.list()] == [mine.id]
        assert view.namespaces() == [("notes",)]
        assert view.count() == 1
        with pytest.raises(MemoryNotFoundError):
            view.get(theirs.id)
        assert view.get_many([theirs.id, mine.id])[0] is None
        if self.can_search(view):
            hits = view.search("tenant keeps the notebook red blue", limit=10)
            assert [h.record.id for h in hits] == [mine.id]
            assert hits[0].record.namespace == ("notes",)
        if view.supports(Capability.UPDATE):
            with pytest.raises(MemoryNotFoundError):
                view.update(theirs.id, content="overwritten from outside")
        if view.supports(Capability.DELETE):
            with pytest.raises(MemoryNotFoundError):
                view.delete(theirs.id)
        if view.supports(Capability.SUPERSEDE):
            with pytest.raises(MemoryNotFoundError):
                view.supersede(theirs.id, "superseded from outside")
        if view.supports(Capability.HISTORY):
            with pytest.raises(MemoryNotFoundError):
                view.history(theirs.id)
        if view.supports(Capability.EXPORT):
            out = io.StringIO()
            assert view.export_jsonl(out) == 1
            assert theirs.id not in out.getvalue()
        added = view.add("written through the view", namespace=("notes",))
        escaped = view.add("an attempt to climb out", namespace=("..", "t2"))
        assert root.get(added.id).namespace == ("tenants", "t1", "notes")
        assert root.get(escaped.id).namespace == ("tenants", "t1", "..", "t2")
        assert root.list(namespace=("tenants", "t2")) == [before_theirs]
        assert root.get(theirs.id) == before_theirs

    def test_scoped_adapter_cannot_reach_outside(self, stores: Stores) -> None:
        root = stores.open()
        mine, theirs = self._two_tenants(root)
        view = stores.open(("tenants", "t1"))
        assert view.scope == ("tenants", "t1")
        self._check_confined(root, view, mine, theirs)

    def test_scoped_view_cannot_reach_outside(self, stores: Stores) -> None:
        root = stores.open()
        mine, theirs = self._two_tenants(root)
        view = root.scoped("tenants", "t1")
        self._check_confined(root, view, mine, theirs)
        view.close()
        assert root.get(theirs.id).id == theirs.id, "closing a view closed its parent"
        narrower = view.scoped("notes")
        assert narrower.scope == ("tenants", "t1", "notes")
        assert narrower.get(mine.id).namespace == ()

    def test_scope_is_a_prefix_of_whole_parts(self, stores: Stores) -> None:
        root = stores.open()
        inside = root.add("inside the scope", namespace=("t", "x"))
        near = [
            root.add("a sibling with a longer name", namespace=("tt", "x")),
            root.add("a sibling matching a LIKE pattern", namespace=("a%b", "x")),
        ]
        assert [r.id for r in stores.open(("t",)).list()] == [inside.id]
        like = stores.open(("a%",))
        assert like.list() == []
        with pytest.raises(MemoryNotFoundError):
            like.get(near[1].id)

    def test_scoped_purge_touches_only_its_scope(self, stores: Stores) -> None:
        root = stores.open()
        self.needs(root, Capability.TTL)
        past = datetime.now(UTC) - timedelta(hours=1)
        root.add("expired inside", namespace=("s1", "n"), expires_at=past)
        root.add("expired outside", namespace=("s2", "n"), expires_at=past)
        before = snapshot(root)
        assert stores.open(("s1",)).purge() == 1
        assert snapshot(root) == before  # expired records were invisible anyway
        assert root.purge() == 1, "the purge of one scope removed another scope's memories"
