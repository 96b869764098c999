"""A search on the native store does no repeated work per query text, and reads no more
of the keyword index than the searching scope needs (real SQLite, real FTS5), with the
same results as the full computation."""

from __future__ import annotations

from pathlib import Path

import pytest

from mnemos.memory_adapters import MemoryKind, _native_keyword
from mnemos.memory_adapters.embedders.hashing import HashingEmbedder
from mnemos.memory_adapters.native import NativeMemoryAdapter, RankingConfig

TOPICS = ["garden shed", "heat pump", "solar panel", "bicycle repair"]


@pytest.fixture
def store(tmp_path: Path) -> NativeMemoryAdapter:
    """Twenty scopes holding the same kind of notes, so every word matches in all of them."""
    adapter = NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing:64")
    adapter.add_many([
        {"content": f"{who} wrote note {i} about the {TOPICS[i % 4]} and the {TOPICS[(i + 1) % 4]} quote",
         "namespace": ("users", who), "kind": "episodic" if i % 3 else "semantic"}
        for who in (f"user{j}" for j in range(20)) for i in range(12)
    ])
    yield adapter
    adapter.close()


def ranked(hits: list) -> list[tuple[str, tuple]]:
    """Ids and reasons, less recency (it moves with the clock between two searches)."""
    return [(h.record.id, tuple(r for r in h.reasons if r.signal != "recency")) for h in hits]


def test_a_query_text_is_embedded_once(store: NativeMemoryAdapter, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = HashingEmbedder.embed_query
    monkeypatch.setattr(HashingEmbedder, "embed_query", lambda self, text: calls.append(text) or original(self, text))
    first = ranked(store.search("the heat pump quote", namespace=("users", "user3")))
    again = ranked(store.search("the heat pump quote", namespace=("users", "user3")))
    assert first == again and first
    store.search_by_kind("the heat pump quote", {"episodic": 3, "semantic": 3}, namespace=("users", "user4"))
    assert calls == ["the heat pump quote"]
    store.search("a bicycle repair", namespace=("users", "user3"))
    assert calls == ["the heat pump quote", "a bicycle repair"]


def test_a_new_embedder_is_not_served_the_old_query_vectors(store: NativeMemoryAdapter) -> None:
    before = ranked(store.search("the heat pump quote", namespace=("users", "user3")))
    store.reembed("hashing:128")
    after = store.search("the heat pump quote", namespace=("users", "user3"))
    assert after and store._store.query_vectors
    assert all(vector.shape == (128,) for vector in store._store.query_vectors.values())
    assert {h.record.id for h in after} & {i for i, _ in before}


def test_a_query_text_is_tokenized_once(store: NativeMemoryAdapter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_native_keyword, "_WORD_TERMS", {})  # no word known from an earlier search
    statements: list[str] = []
    store._store.tokenizer.set_trace_callback(statements.append)
    for _ in range(3):
        store.search("garden shed", namespace=("users", "user1"))
    assert sum("FROM v ORDER BY doc, offset" in s for s in statements) == 1


def test_a_word_is_tokenized_once_across_texts_with_the_terms_a_whole_text_gives(
    store: NativeMemoryAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_native_keyword, "_WORD_TERMS", {})
    texts = ["Running the e_mail relay", "relays running late", "an e_mail about the Café's runners", "runner"]
    inserted: list[str] = []
    store._store.tokenizer.set_trace_callback(inserted.append)
    with store._store.lock:
        by_word = [_native_keyword._query_terms(store._store, t) for t in texts]
    tokenized = [s for s in inserted if s.startswith("INSERT INTO t (rowid")]
    # each distinct word went to the tokenizer once
    assert len(tokenized) == len({w for words, _ in by_word for w in words}) == 8
    # The same terms, and the same first word for each, as tokenizing each text alone.
    monkeypatch.setattr(_native_keyword, "_WORD_TERMS", {})
    monkeypatch.setattr(_native_keyword, "_WORD_CACHE", 0)  # nothing kept: every text on its own
    store._store.query_terms.clear()
    with store._store.lock:
        alone = [_native_keyword._query_terms(store._store, t) for t in texts]
    assert by_word == alone
    assert any(len([t for t, w in word_of.items() if w == "e_mail"]) == 2 for _, word_of in alone)


def test_a_small_scope_reads_only_its_own_term_counts(store: NativeMemoryAdapter,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    statements: list[str] = []
    store._store.conn.set_trace_callback(statements.append)
    queries = [("users", f"user{j}") for j in (0, 7, 19)]
    scoped = [ranked(store.search("heat pump quote garden", namespace=ns, limit=8)) for ns in queries]
    by_kind = store.search_by_kind("solar panel note", {"episodic": 4, "semantic": 4}, namespace=queries[1])
    assert not any("memories_instance" in s for s in statements)
    assert all(scoped)
    # The whole file's postings give the same scores, ranks and reasons.
    monkeypatch.setattr(_native_keyword, "SCRATCH_ROWS", 0)
    statements.clear()
    store._store.kept_lists.clear()  # the lists of the same searches were kept
    assert [ranked(store.search("heat pump quote garden", namespace=ns, limit=8)) for ns in queries] == scoped
    full = store.search_by_kind("solar panel note", {"episodic": 4, "semantic": 4}, namespace=queries[1])
    assert {k: ranked(v) for k, v in full.items()} == {k: ranked(v) for k, v in by_kind.items()}
    assert any("memories_instance" in s for s in statements)


def test_a_scope_seeing_most_matches_reads_the_index(tmp_path: Path) -> None:
    adapter = NativeMemoryAdapter(tmp_path / "one.db", embedder="hashing:64")
    try:
        adapter.add_many([{"content": f"note {i} about the {TOPICS[i % 4]}", "namespace": ("users", "ann")}
                          for i in range(40)])
        statements: list[str] = []
        adapter._store.conn.set_trace_callback(statements.append)
        assert adapter.search("garden shed", namespace=("users", "ann"))
        assert any("memories_instance" in s for s in statements)
    finally:
        adapter.close()


def keyword_queries(store: NativeMemoryAdapter) -> list[str]:
    """The FTS5 MATCH statements the store runs from now on (one per computed keyword list)."""
    seen: list[str] = []
    store._store.conn.set_trace_callback(
        lambda sql: seen.append(sql) if sql.startswith("SELECT group_concat(rowid, ' ') FROM memories_fts") else None)
    return seen


BY_WORDS = RankingConfig(mode="keyword", neighbour_weight=0.0, date_weight=0.0, entity_weight=0.0)


def test_a_keyword_list_of_an_unchanged_store_is_computed_once(store: NativeMemoryAdapter, tmp_path: Path) -> None:
    """An agent's recall, then its novelty check by words asking the same keyword query of
    the episodes: the second takes the first's list, and finds what it finds alone."""
    ns = ("users", "user3")
    seen = keyword_queries(store)
    recalled = store.search_by_kind("the heat pump quote", {"semantic": 5, "episodic": 5}, namespace=ns)
    assert len(seen) == 1 and recalled[MemoryKind.EPISODIC]
    words = store.search("the heat pump quote", namespace=ns, kinds="episodic", limit=5, ranking=BY_WORDS)
    assert len(seen) == 1
    alone = NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing:64")
    try:
        assert ranked(words) == ranked(alone.search("the heat pump quote", namespace=ns, kinds="episodic",
                                                    limit=5, ranking=BY_WORDS))
    finally:
        alone.close()
    # another scope, or the facts alone, is another list
    store.search("the heat pump quote", namespace=("users", "user4"), kinds="episodic", limit=5, ranking=BY_WORDS)
    assert len(seen) == 2


def test_a_kept_keyword_list_is_dropped_when_the_store_changes(store: NativeMemoryAdapter, tmp_path: Path) -> None:
    ns = ("users", "user3")
    store.search("the heat pump quote", namespace=ns, kinds="episodic", limit=5, ranking=BY_WORDS)
    mine = store.add("the heat pump quote came in at last", namespace=ns, kind="episodic")
    found = store.search("the heat pump quote", namespace=ns, kinds="episodic", limit=5, ranking=BY_WORDS)
    assert mine.id in {h.record.id for h in found}
    other = NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing:64")  # another writer
    try:
        theirs = other.add("the heat pump quote quote heat pump again", namespace=ns, kind="episodic")
    finally:
        other.close()
    found = store.search("the heat pump quote", namespace=ns, kinds="episodic", limit=5, ranking=BY_WORDS)
    assert theirs.id in {h.record.id for h in found}


def test_a_query_text_is_analysed_once_across_scopes(store: NativeMemoryAdapter, monkeypatch: pytest.MonkeyPatch) -> None:
    """The agents of a graph recall with one text, node after node, each in its own scope."""
    from mnemos.memory_adapters import _native_search

    text = "what did Carla say about the solar panel quote"
    calls: list[str] = []
    original = _native_search.analyze
    monkeypatch.setattr(_native_search, "_ANALYSES", {}, raising=False)  # none kept from earlier tests
    monkeypatch.setattr(_native_search, "analyze", lambda t: calls.append(t) or original(t))
    found = [ranked(store.search(text, namespace=("users", f"user{j}"))) for j in range(3)]
    assert calls == [text]
    assert all(found)
