"""Tenancy: ids cannot cross scopes, and erasing a scope leaves nothing of it behind."""

from __future__ import annotations

import io
import json

import pytest

from mnemos.exceptions import MemoryNotFoundError, ScopeViolationError, UsageError
from mnemos.memory_adapters.base import BaseMemoryAdapter, Capability, MemoryKind, MemoryRecord
from mnemos.memory_adapters.conformance._base import ConformanceBase, Stores
from mnemos.memory_adapters.conformance._support import exact, snapshot

__all__ = ["TenancyTests"]

ALICE = ("users", "alice")
BOB = ("users", "bob")


class TenancyTests(ConformanceBase):
    """A scoped adapter given another scope's id neither overwrites nor reads that memory."""

    def _alice_fact(self, root: BaseMemoryAdapter) -> MemoryRecord:
        record = root.add("Alice's door code is 4471", namespace=(*ALICE, "facts"), kind="semantic")
        if root.supports(Capability.UPDATE):
            record = root.update(record.id, content="Alice's door code is 9902")
        return record

    def _assert_untouched(
        self, root: BaseMemoryAdapter, bob: BaseMemoryAdapter, record: MemoryRecord, before: list[str]
    ) -> None:
        assert snapshot(root) == before, "a foreign id changed another scope's memory"
        assert exact(root.get(record.id)) == exact(record)
        with pytest.raises(MemoryNotFoundError):
            bob.get(record.id)
        if bob.supports(Capability.HISTORY):
            with pytest.raises(MemoryNotFoundError):
                bob.history(record.id)
            history = root.history(record.id)
            assert all(r.namespace[:2] == ALICE for r in history)
        assert bob.list(limit=None, include_superseded=True) == []

    def test_add_many_with_a_foreign_id_is_refused(self, stores: Stores) -> None:
        root = stores.open()
        record = self._alice_fact(root)
        before = snapshot(root)
        bob = stores.open(BOB)
        with pytest.raises(ScopeViolationError):
            bob.add_many([{"content": "x", "namespace": ("x",), "id": record.id}])
        with pytest.raises(ScopeViolationError):
            bob.add_many([
                {"content": "a harmless first item", "namespace": ("x",)},
                {"content": "x", "namespace": ("x",), "id": record.id, "kind": "semantic"},
            ])
        self._assert_untouched(root, bob, record, before)

    def test_add_many_through_a_view_with_a_foreign_id_is_refused(self, stores: Stores) -> None:
        root = stores.open()
        record = self._alice_fact(root)
        before = snapshot(root)
        bob = root.scoped(*BOB)
        with pytest.raises(ScopeViolationError):
            bob.add_many([{"content": "x", "namespace": ("x",), "id": record.id}])
        self._assert_untouched(root, bob, record, before)

    def test_import_with_a_foreign_id_is_refused(self, stores: Stores) -> None:
        root = stores.open()
        self.needs(root, Capability.PRESERVE_IDS)
        record = self._alice_fact(root)
        before = snapshot(root)
        bob = stores.open(BOB)
        line = dict(record.to_dict(), namespace=["x"], content="bob now owns this")
        with pytest.raises(ScopeViolationError):
            bob.import_jsonl(io.StringIO(json.dumps(line) + "\n"))
        self._assert_untouched(root, bob, record, before)

    def test_an_id_in_scope_can_still_be_replaced(self, stores: Stores) -> None:
        root = stores.open()
        self.needs(root, Capability.PRESERVE_IDS)
        bob = stores.open(BOB)
        mine = bob.add("bob's first note", namespace=("notes",))
        line = dict(mine.to_dict(), content="bob's note, re-imported")
        assert bob.import_jsonl(io.StringIO(json.dumps(line) + "\n")) == 1
        assert bob.get(mine.id).content == "bob's note, re-imported"
        again = bob.add_many([{"content": "bob's note, third form", "namespace": ("notes",), "id": mine.id}])
        assert again[0].id == mine.id and bob.get(mine.id).content == "bob's note, third form"

    def test_ids_are_checked_before_anything_is_stored(self, stores: Stores) -> None:
        root = stores.open()
        for bad in ("", "x" * 1000, "bad\ud800id", "nul\x00id", 17):
            with pytest.raises(UsageError):
                root.add_many([{"content": "content", "namespace": ("n",), "id": bad}])
            with pytest.raises(UsageError):
                root.get(bad)  # type: ignore[arg-type]
        assert root.count() == 0

    def test_history_stays_in_scope(self, stores: Stores) -> None:
        root = stores.open()
        self.needs(root, Capability.HISTORY, Capability.UPDATE)
        record = self._alice_fact(root)
        alice = stores.open(ALICE)
        assert [r.namespace for r in alice.history(record.id)] == [("facts",), ("facts",)]
        assert [r.kind for r in alice.history(record.id)] == [MemoryKind.SEMANTIC] * 2
