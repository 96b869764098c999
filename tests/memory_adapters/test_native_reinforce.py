"""Reinforcing used memories on the real native store: one read and one statement for all of
them, the text and its full-text index left alone, and the same record, history, scope and
audit as one ``update`` per memory."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mnemos.memory_adapters.consolidation import reinforce
from mnemos.memory_adapters.native import NativeMemoryAdapter
from mnemos.memory_adapters.privacy import AuditLog

NS = ("users", "ann")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[NativeMemoryAdapter]:
    adapter = NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing:64")
    yield adapter
    adapter.close()


def fts_pages(store: NativeMemoryAdapter) -> list[tuple[Any, ...]]:
    return store._store.conn.execute("SELECT * FROM memories_fts_data ORDER BY id").fetchall()


def statements(store: NativeMemoryAdapter) -> list[str]:
    seen: list[str] = []
    store._store.conn.set_trace_callback(seen.append)
    return seen


def test_reinforce_reads_once_and_leaves_the_text_index_alone(store: NativeMemoryAdapter) -> None:
    ids = [store.add(f"ann waters the fern number {i}", namespace=NS).id for i in range(5)]
    index = fts_pages(store)
    seen = statements(store)
    assert reinforce(store, [*ids, ids[0]]) == 5  # a repeated id counts once
    store._store.conn.set_trace_callback(None)
    reads = [s for s in seen if s.lstrip().upper().startswith("SELECT") and "FROM memories" in s]
    assert len(reads) == 1
    assert fts_pages(store) == index
    for memory_id in ids:
        record = store.get(memory_id)
        assert record.metadata["used_count"] == 1 and record.version == 2
        assert record.importance == pytest.approx(0.55)
    assert store.search("fern number 3", namespace=NS, limit=1)[0].record.id == ids[3]


def test_an_update_that_keeps_the_text_leaves_the_text_index_alone(store: NativeMemoryAdapter) -> None:
    record = store.add("ann keeps bees behind the barn", namespace=NS)
    index = fts_pages(store)
    store.update(record.id, importance=0.9, metadata={"checked": True})
    assert fts_pages(store) == index
    store.update(record.id, content="ann keeps goats behind the barn")
    assert fts_pages(store) != index
    assert store.search("goats", namespace=NS, limit=1)[0].record.id == record.id
    assert not [h for h in store.search("bees", namespace=NS, limit=5) if h.record.id == record.id
                and any(r.signal == "keyword" for r in h.reasons)]


def test_reinforce_keeps_history_and_stays_in_scope(tmp_path: Path) -> None:
    now = [NativeMemoryAdapter(tmp_path / "clock.db").now()]
    root = NativeMemoryAdapter(tmp_path / "m.db", embedder="hashing:64", clock=lambda: now[0])
    try:
        mine = root.add("ann likes plums", namespace=NS, metadata={"source": "chat"})
        other = root.add("bob likes pears", namespace=("users", "bob"))
        fleeting = root.add("ann is at the station", namespace=NS, ttl_seconds=60)
        now[0] += timedelta(minutes=5)
        ann = root.scoped("users", "ann")
        events: list[dict[str, Any]] = []
        ann.set_audit(AuditLog(events.append), actor="tester")
        assert reinforce(ann, [mine.id, other.id, fleeting.id, "no-such-id"]) == 1
        assert root.get(other.id).version == 1  # out of the view's scope: untouched
        assert [r.version for r in root.history(mine.id)] == [1, 2]
        old, new = root.history(mine.id)
        assert old.metadata == {"source": "chat"} and old.importance == pytest.approx(0.5)
        assert new.metadata["source"] == "chat" and new.metadata["last_used"] == now[0].isoformat()
        assert new.updated_at == now[0]
        assert [(e["action"], e["ids"]) for e in events] == [("update", [mine.id])]
    finally:
        root.close()


def test_reinforce_through_a_redactor_takes_the_generic_path(store: NativeMemoryAdapter) -> None:
    record = store.add("ann's code is 1234", namespace=NS)
    store.set_redactor(lambda text: text.replace("1234", "[code]"))
    assert reinforce(store, [record.id]) == 1
    assert store.get(record.id).metadata["used_count"] == 1


def test_a_write_batch_begins_at_its_first_write_and_commits_once(store: NativeMemoryAdapter) -> None:
    seen = statements(store)
    with store._batch():
        assert not store._store.conn.in_transaction  # nothing written yet: no lock taken
        first = store.add("ann planted tulips", namespace=NS)
        second = store.add("ann planted roses", namespace=NS)
        assert reinforce(store, [first.id]) == 1
    store._store.conn.set_trace_callback(None)
    assert [s for s in seen if s.strip().upper() in ("BEGIN IMMEDIATE", "COMMIT")] == ["BEGIN IMMEDIATE", "COMMIT"]
    assert store.get(first.id).metadata["used_count"] == 1 and store.get(second.id).content == "ann planted roses"
    with store._batch():
        pass  # a batch that writes nothing begins nothing
    with pytest.raises(RuntimeError), store._batch():
        lost = store.add("ann planted daisies", namespace=NS)
        raise RuntimeError("the turn failed")
    assert store.get_many([lost.id]) == [None]  # rolled back with the batch
    assert not store._store.conn.in_transaction and store._store.write_depth == 0
    assert store.add("ann planted lilies", namespace=NS).content == "ann planted lilies"


def test_reinforce_writes_the_history_line_of_each_record(store: NativeMemoryAdapter) -> None:
    """Each reinforced memory's history line is its old record's JSON, to the byte, whatever
    its columns hold (times, validity, successor, unicode, a provenance missing keys or null),
    and the audit names each memory's own agent."""
    import json

    from mnemos.memory_adapters._native_store import RECORD_COLUMNS, row_to_record

    first = store.add("ann's fern", namespace=NS, metadata={"note": "grün ✓", "tags": ["a", 1, 2.5, None]},
                      provenance={"agent": "gärtner", "thread": "t1", "message_ids": ["m1", "m2"]},
                      ttl_seconds=3600, importance=0.98)
    second = store.add("ann's cactus", namespace=NS, kind="semantic")
    store.supersede(second.id, "ann's cactus is gone")
    conn = store._store.conn
    with conn:
        conn.execute("UPDATE memories SET provenance = '{\"source\": \"old\"}' WHERE id = ?", (second.id,))
    third = store.add("ann's moss", namespace=("users", "ann", "garden"))
    with conn:
        conn.execute("UPDATE memories SET provenance = 'null' WHERE id = ?", (third.id,))
    rows = {row[1]: row for row in conn.execute(f"SELECT {RECORD_COLUMNS} FROM memories m")}
    expected = {i: json.dumps(row_to_record(row).to_dict(), ensure_ascii=False) for i, row in rows.items()}
    events: list[dict[str, Any]] = []
    store.set_audit(AuditLog(events.append))
    assert store._reinforce([first.id, second.id, third.id], 0.05) == 3
    stored = {(i, v): line for i, v, line in conn.execute("SELECT id, version, record FROM history")}
    assert stored[first.id, 1] == expected[first.id] and stored[third.id, 1] == expected[third.id]
    assert stored[second.id, rows[second.id][14]] == expected[second.id]  # the old version, superseded
    assert store.get(first.id).importance == 1.0
    assert [(e["who"], e["ids"]) for e in events] == [("gärtner", [first.id]), (None, [second.id]),
                                                      (None, [third.id])]
