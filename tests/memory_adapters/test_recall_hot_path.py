"""What an agent's recall (one native search for every kind) costs beyond its results: the
records of every kind's page are read in one statement, the scratch table that tokenizes
query words and candidate texts is emptied without tokenizing its rows again, and the
z-score fusion's shares, summed in Python, are numpy's to the last bit (real SQLite, real
FTS5, real vector cache)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from mnemos.memory_adapters import MemoryKind
from mnemos.memory_adapters._ranking import _zshares
from mnemos.memory_adapters.native import NativeMemoryAdapter

NS = ("users", "ann", "agents", "planner")


@pytest.fixture
def store(tmp_path: Path) -> NativeMemoryAdapter:
    rng = random.Random(5)
    words = ["budget", "supplier", "quote", "survey", "permit", "invoice", "kitchen", "attic", "garden"]
    adapter = NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing:64")
    adapter.add_many([
        {"content": (f"user: the {' '.join(rng.sample(words, 3))} ({i})\nplanner: noted" if i % 3 else
                     f"The {' '.join(rng.sample(words, 3))} note {i}"),
         "namespace": NS, "kind": "episodic" if i % 3 else "semantic"}
        for i in range(120)
    ], dedup=False)
    yield adapter
    adapter.close()


def statements(store: NativeMemoryAdapter) -> list[str]:
    seen: list[str] = []
    store._store.conn.set_trace_callback(seen.append)
    store._store.tokenizer.set_trace_callback(seen.append)
    return seen


def test_a_recall_of_every_kind_reads_the_records_of_its_pages_in_one_statement(store: NativeMemoryAdapter) -> None:
    seen = statements(store)
    found = store.search_by_kind("What did we decide about the kitchen quote?",
                                 {MemoryKind.SEMANTIC: 4, MemoryKind.EPISODIC: 4}, namespace=NS)
    assert found[MemoryKind.SEMANTIC] and found[MemoryKind.EPISODIC]
    reads = [sql for sql in seen if sql.lstrip().upper().startswith("SELECT M.ROWID, M.ID")]
    assert len(reads) == 1, reads
    for kind, hits in found.items():  # each list is still what its own search finds
        alone = store.search("What did we decide about the kitchen quote?", namespace=NS, kinds=kind, limit=4)
        assert [h.record.id for h in hits] == [h.record.id for h in alone]


def test_the_scratch_table_is_emptied_without_a_delete(store: NativeMemoryAdapter) -> None:
    seen = statements(store)
    store.search("the kitchen permit 1234 and the attic survey", namespace=NS, limit=5)
    assert any("delete-all" in sql for sql in seen)  # the query's new words were tokenized
    assert not [sql for sql in seen if sql.lstrip().upper().startswith("DELETE FROM T")]


@pytest.mark.parametrize("size", [10, 17, 100, 129, 300])
def test_z_shares_are_numpys(size: int) -> None:
    rng = random.Random(size)
    for trial in range(50):
        raw = [rng.random() * 10 ** rng.randint(-3, 5) for _ in range(size)]
        if trial % 5 == 0:
            raw = [round(x, 1) for x in raw]  # ties
        if trial == 7:
            raw = [2.5] * size  # no spread
        array = np.asarray(raw, dtype=np.float64)
        sd = float(array.std())
        if sd > 1e-12:
            z = (array - float(array.mean())) / sd
            expected = (np.maximum(z, 0.0) / float(z.max())).tolist()
        else:
            expected = [1.0] * size
        assert _zshares(list(enumerate(raw))) == expected
