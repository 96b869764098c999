"""What a native search reads of its best hits: the neighbour round and the reply round
seed from mostly the same hits, and each of their rows is read from SQLite once per
search; a page's records decode a shared provenance once (real SQLite, real FTS5, real
vector cache)."""

from __future__ import annotations

import re
from pathlib import Path

from mnemos.memory_adapters import Provenance
from mnemos.memory_adapters.conformance import ManualClock
from mnemos.memory_adapters.native import NativeMemoryAdapter

NS = ("users", "ann")
TOPICS = ["the garden shed", "the boat trip", "the piano lessons", "the kitchen tiles"]


def _store(path: Path) -> NativeMemoryAdapter:
    adapter = NativeMemoryAdapter(path, embedder="hashing:64", clock=ManualClock())
    turns = []
    for i in range(60):
        topic = TOPICS[i % len(TOPICS)]
        text = f"Did you finish {topic} yet?" if i % 3 == 0 else f"We talked about {topic} and step {i}."
        turns.append({"content": text, "namespace": NS, "kind": "episodic",
                      "provenance": {"agent": "ann", "thread": "t1"}})
    adapter.add_many(turns)
    return adapter


def test_the_neighbour_and_reply_rounds_read_each_seed_row_once(tmp_path: Path) -> None:
    store = _store(tmp_path / "memory.db")
    store.search("warm", namespace=NS)
    statements: list[str] = []
    store._store.conn.set_trace_callback(statements.append)
    hits = store.search("did you finish the garden shed", namespace=NS, limit=10)
    store._store.conn.set_trace_callback(None)
    assert any(r.signal == "neighbour" for h in hits for r in h.reasons)
    assert any(r.signal == "reply" for h in hits for r in h.reasons)
    # the rows of the seeds: their id, namespace, episode and time (and text, for a question)
    reads = [s for s in statements if re.match(r"SELECT rowid, id, ns, episode, created_at\b.* WHERE rowid IN \(", s)]
    assert len(reads) >= 1
    rowids = [int(r) for s in reads for r in s.split("IN (", 1)[1].split(")", 1)[0].split(",")]
    assert len(rowids) == len(set(rowids))
    store.close()


def test_records_of_a_page_share_a_decoded_provenance(tmp_path: Path) -> None:
    store = _store(tmp_path / "memory.db")
    hits = store.search("the garden shed", namespace=NS, limit=5)
    assert len(hits) == 5
    provenances = {id(h.record.provenance) for h in hits}
    assert len(provenances) == 1
    assert hits[0].record.provenance == Provenance(agent="ann", thread="t1")
    store.close()
