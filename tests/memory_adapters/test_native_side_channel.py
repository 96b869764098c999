"""Keyword statistics are per scope: what one scope stores cannot be read from the
scores and reasons of a search in another."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from mnemos.memory_adapters.native import NativeMemoryAdapter

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def _fingerprint(store: NativeMemoryAdapter, query: str) -> list[tuple[str, float, list[tuple[str, float, float, str]]]]:
    return [
        (hit.record.id, hit.score, [(r.signal, r.value, r.contribution, r.detail) for r in hit.reasons])
        for hit in store.search(query, limit=10)
    ]


def test_reasons_in_one_scope_ignore_what_another_scope_stores(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    root = NativeMemoryAdapter(path, embedder="hashing", clock=lambda: NOW)
    alice = root.scoped("users", "alice")
    alice.add("the lighthouse keeper rows out at dawn", namespace=("notes",))
    alice.add("a lighthouse lighthouse on the cliff, painted red and white, very old", namespace=("notes",))
    alice.add("the keeper's logbook mentions a storm", namespace=("notes",))
    alice.add("bread, milk and lighthouse-shaped biscuits", namespace=("shopping",))
    queries = ["lighthouse", "lighthouse keeper", "keeper storm logbook"]
    before = {q: _fingerprint(alice, q) for q in queries}
    bob = root.scoped("users", "bob")
    bob.add_many(
        [{"content": f"lighthouse {'x ' * (i % 40)}number {i}", "namespace": ("spam",)} for i in range(600)]
        + [{"content": f"keeper {i}", "namespace": ("spam",)} for i in range(300)]
    )
    after = {q: _fingerprint(alice, q) for q in queries}
    assert after == before
    keyword = [r for hit in alice.search("lighthouse") for r in hit.reasons if r.signal == "keyword"]
    assert keyword and all("bm25" in r.detail for r in keyword)
    root.close()
