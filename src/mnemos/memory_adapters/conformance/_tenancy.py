"""Tenancy: ids cannot cross scopes, and erasing a scope leaves nothing of it behind."""

from __future__ import annotations

import asyncio
import io
import json
import math
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mnemos.exceptions import MemoryNotFoundError, MnemosError, ScopeViolationError, UsageError
from mnemos.memory_adapters.base import BaseMemoryAdapter, Capability, MemoryKind, MemoryRecord
from mnemos.memory_adapters.conformance._base import ConformanceBase, Stores
from mnemos.memory_adapters.conformance._fuzz import run_fuzz
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

    # -- erasure ------------------------------------------------------------------------

    def _populate_user(self, root: BaseMemoryAdapter, user: tuple[str, ...]) -> list[str]:
        ids = [
            root.add(f"{user[-1]} likes the harbour walk", namespace=(*user, "notes")).id,
            root.add(f"{user[-1]} works at Northwind Traders", namespace=(*user, "facts"), kind="semantic").id,
            root.add(f"{user[-1]} always answers briefly", namespace=(*user, "agents", "a"), kind="procedural").id,
        ]
        if root.supports(Capability.UPDATE):
            root.update(ids[0], content=f"{user[-1]} likes the harbour walk at dusk")
        if root.supports(Capability.SUPERSEDE):
            ids.append(root.supersede(ids[1], f"{user[-1]} works at Contoso now").id)
        return ids

    def test_erase_user_removes_everything_of_that_user_and_nothing_else(self, stores: Stores) -> None:
        root = stores.open()
        self.needs(root, Capability.DELETE)
        alice_ids = self._populate_user(root, ALICE)
        self._populate_user(root, BOB)
        near = root.add("a sibling whose name starts the same", namespace=("users", "alice2", "n"))
        outside = snapshot(stores.open(BOB)), root.get(near.id)
        erased = root.erase_user("alice")
        assert erased == len(alice_ids)
        assert root.list(namespace=ALICE, limit=None, include_superseded=True) == []
        assert root.namespaces(ALICE) == [] and root.count(ALICE) == 0
        for memory_id in alice_ids:
            with pytest.raises(MemoryNotFoundError):
                root.get(memory_id)
        assert (snapshot(stores.open(BOB)), root.get(near.id)) == outside
        if self.can_search(root):
            assert all(h.record.namespace[:2] != ALICE for h in root.search("harbour walk Contoso", limit=20))
        assert root.erase_user("alice") == 0

    def test_a_scoped_erase_stays_in_its_scope(self, stores: Stores) -> None:
        root = stores.open()
        self.needs(root, Capability.DELETE)
        self._populate_user(root, ALICE)
        self._populate_user(root, BOB)
        before = snapshot(stores.open(ALICE))
        bob = stores.open(BOB)
        assert bob.erase(()) >= 3
        assert bob.count() == 0 and root.count(BOB) == 0
        assert snapshot(stores.open(ALICE)) == before
        view = root.scoped(*ALICE)
        assert view.erase(("notes",)) == 1
        assert view.namespaces() == [("agents", "a"), ("facts",)]
        with pytest.raises(UsageError):
            view.erase("notes")  # type: ignore[arg-type]
        with pytest.raises(UsageError):
            view.erase_user(17)  # type: ignore[arg-type]

    def test_erase_takes_expired_memories_too(self, stores: Stores) -> None:
        root = stores.open()
        self.needs(root, Capability.DELETE, Capability.TTL)
        root.add("an expired secret of alice", namespace=(*ALICE, "n"), ttl_seconds=0.05)
        kept = root.add("bob's expired note", namespace=(*BOB, "n"), ttl_seconds=0.05)
        time.sleep(0.1)
        assert root.erase_user("alice") == 1
        assert root.purge(BOB) == 1, "erase of one user purged another's expired memory"
        assert kept.id

    def test_async_erase(self, stores: Stores) -> None:
        root = stores.open()
        self.needs(root, Capability.DELETE)
        self._populate_user(root, ALICE)
        assert asyncio.run(root.aerase_user("alice")) >= 3
        self._populate_user(root, BOB)
        assert asyncio.run(root.aerase(BOB)) >= 3
        assert root.count() == 0

    def test_delete_with_history_takes_superseded_predecessors(self, adapter: BaseMemoryAdapter) -> None:
        self.needs(adapter, Capability.DELETE, Capability.SUPERSEDE)
        first = adapter.add("the office is in Leeds", namespace=("f",), kind="semantic")
        second = adapter.supersede(first.id, "the office is in York")
        third = adapter.supersede(second.id, "the office is in Hull")
        other = adapter.add("the depot is in Leeds", namespace=("f",), kind="semantic")
        adapter.delete(third.id)
        assert {r.id for r in adapter.list(include_superseded=True)} == {first.id, second.id, other.id}
        fourth = adapter.supersede(other.id, "the depot is in Selby")
        adapter.delete(fourth.id, with_history=True)
        assert {r.id for r in adapter.list(include_superseded=True)} == {first.id, second.id}

    # -- bad input ----------------------------------------------------------------------

    def test_fuzzed_calls_end_in_results_or_typed_errors(self, stores: Stores) -> None:
        """A seeded fuzz of the public API: no raw exception, nothing changed outside
        the fuzzed scope, every read of the scope works afterwards, the storage is sound."""
        report = run_fuzz(lambda scope: stores.open(scope), calls=self.fuzz_calls, seed=self.fuzz_seed)
        details = "\n".join(report.examples.values())
        assert report.untyped == 0, report.summary() + "\n" + details
        assert report.changed_outside == 0, report.summary()
        assert report.poisoned == [], report.poisoned
        assert self.integrity_check(stores.location) in (None, "ok")

    def test_each_bad_input_found_by_fuzzing_is_a_typed_error(self, stores: Stores, tmp_path: Path) -> None:
        root = stores.open()
        kept = root.add("a memory that must survive", namespace=("n",), metadata={"k": 1})
        before = snapshot(root)
        far_east = timezone(timedelta(hours=23, minutes=59))
        calls: list[Callable[[], object]] = [
            lambda: root.add("x", namespace=("bad\udc80part",)),
            lambda: root.add("x", namespace=("n",), metadata={"s": "bad \ud834 value"}),
            lambda: root.add("x", namespace=("n",), metadata={"bad \udfff key": 1}),
            lambda: root.get("bad\ud800id"),
            lambda: root.get_many(["bad\ud800id"]),
            lambda: root.list(filter={"k": "bad\ud800value"}),
            lambda: root.namespaces(("bad\udc80",)),
            lambda: root.count(("bad\udc80",)),
            lambda: root.list(since="tomorrow"),  # type: ignore[arg-type]
            lambda: root.add("x", namespace=("n",), expires_at="tomorrow"),  # type: ignore[arg-type]
            lambda: root.add("x", namespace=("n",), ttl_seconds=math.inf),
            lambda: root.add("x", namespace=("n",), ttl_seconds=1e308),
            lambda: root.list(limit=10**30),
            lambda: root.list(offset=10**30),
            lambda: root.list(since=datetime(1, 1, 1, tzinfo=far_east)),
            lambda: root.add("x", namespace=("n",), created_at=datetime(1, 1, 1, tzinfo=far_east)),
            lambda: root.list(kinds=5),  # type: ignore[arg-type]
            lambda: root.list(since=17),  # type: ignore[arg-type]
            lambda: root.add_many("not a list"),  # type: ignore[arg-type]
            lambda: root.add_many([["content", "x"]]),  # type: ignore[list-item]
            lambda: root.add("x", namespace=("n",), metadata=_deep(5000)),
            lambda: root.add("x", namespace=("n",), metadata=_deep(980)),
            lambda: root.list(filter={"k": {"$in": [_deep(2000)]}}),
        ]
        if self.can_search(root):
            calls += [
                lambda: root.search("lone \ud800 surrogate"),
                lambda: root.search("x", limit=10**30),
                lambda: root.search("x", since="tomorrow"),  # type: ignore[arg-type]
            ]
        if root.supports(Capability.UPDATE):
            calls += [
                lambda: root.update(kept.id, metadata=_deep(5000)),
                lambda: root.update(kept.id, importance=math.nan),
            ]
        if root.supports(Capability.PRESERVE_IDS):
            binary = tmp_path / "binary.jsonl"
            binary.write_bytes(bytes(range(256)) * 8)
            deep_line = '{"id": "d", "namespace": ["n"], "metadata": ' + '{"a": ' * 5000 + "1" + "}" * 5001
            calls += [
                lambda: root.import_jsonl(binary),
                lambda: root.import_jsonl(io.StringIO(deep_line + "\n")),
                lambda: root.import_jsonl(42),  # type: ignore[arg-type]
            ]
        for index, call in enumerate(calls):
            with pytest.raises(MnemosError):
                call()
            assert snapshot(root) == before, f"bad call #{index} changed the store"
        if root.supports(Capability.TIME_FILTER):
            assert [r.id for r in root.list(since="2020-01-01")] == [kept.id]  # type: ignore[arg-type]
        assert root.list(namespace=("n",)) == [root.get(kept.id)]


def _deep(depth: int) -> dict[str, object]:
    value: dict[str, object] = {"leaf": 1}
    for _ in range(depth):
        value = {"n": value}
    return value
