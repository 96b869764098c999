"""What a native search costs: the keyword list reads each term's postings and no record
text, the vector scan runs without BLAS, and both give the same ranking as the full
computation (real SQLite, real FTS5, real vector files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from mnemos.memory_adapters import _native_keyword, _sketches, _vectors
from mnemos.memory_adapters._sketches import closest, hamming, pack
from mnemos.memory_adapters.base import SearchQuery
from mnemos.memory_adapters.native import NativeMemoryAdapter, RankingConfig

NS = ("users", "ann")
WORDS = ["otter", "garden", "budget", "kettle", "violin", "ticket", "passport", "heron", "lamp", "river"]
KEYWORD = RankingConfig(mode="keyword", neighbour_weight=0)


def note(i: int) -> str:
    """Notes of varied length in which some words come twice (term counts above one)."""
    a, b = WORDS[i % 10], WORDS[(i * 3 + 1) % 10]
    tail = " and then some more words" * (i % 4)
    return f"note {i}: the {a} near the {b}, the {a} again{tail}" if i % 5 == 0 else f"note {i} about the {a} and {b}{tail}"


@pytest.fixture
def store(tmp_path: Path) -> NativeMemoryAdapter:
    adapter = NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing:64")
    adapter.add_many([{"content": note(i), "namespace": NS} for i in range(300)])
    adapter.add_many([{"content": note(i), "namespace": ("users", "bob")} for i in range(40)])
    yield adapter
    adapter.close()


def ranked(hits: list[Any]) -> list[tuple[str, float, tuple[Any, ...]]]:
    """Ids, scores and reasons, less recency (it moves with the clock between searches)."""
    return [
        (h.record.id, round(h.score - sum(r.contribution for r in h.reasons if r.signal == "recency"), 12),
         tuple(r for r in h.reasons if r.signal != "recency"))
        for h in hits
    ]


QUERIES = ["otter garden", "the kettle and the violin", "passport ticket heron lamp river", "budget"]


def test_a_broad_keyword_search_reads_postings_not_record_text_with_the_same_ranking(
    store: NativeMemoryAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.search("warm", namespace=NS)  # the vector cache is built (lengths included)
    statements: list[str] = []
    store._store.conn.set_trace_callback(statements.append)
    fast = {(q, m): ranked(store.search(q, namespace=NS, limit=15, ranking=RankingConfig(mode=m)))
            for q in QUERIES for m in ("keyword", "hybrid")}
    assert all(fast.values())
    # Lengths come from the vector cache; no statement measures a record's text.
    assert not any("trim(" in s for s in statements)
    assert any("JOIN temp.memories_instance v ON v.term = q.term" in s for s in statements)
    # The MATCH path (as a phrase word takes) gives the same scores, ranks and reasons.
    monkeypatch.setattr(_native_keyword, "_one_term_each", lambda expression: False)
    slow = {(q, m): ranked(store.search(q, namespace=NS, limit=15, ranking=RankingConfig(mode=m)))
            for q in QUERIES for m in ("keyword", "hybrid")}
    assert slow == fast


@pytest.mark.parametrize("scope", ["broad", "narrow"])
def test_the_postings_of_every_term_are_read_in_one_statement(store: NativeMemoryAdapter, scope: str) -> None:
    """Whether from the store's index (a scope seeing most of it) or from the matching
    records tokenized again (a small one), a search reads the postings of all its terms
    with one statement, not one per term."""
    namespace = NS if scope == "broad" else ("users", "bob")
    store.search("warm", namespace=namespace)
    statements: list[str] = []
    store._store.conn.set_trace_callback(statements.append)
    store._store.tokenizer.set_trace_callback(statements.append)
    for query in ["passport ticket heron lamp river", "otter garden kettle"]:
        statements.clear()
        assert store.search(query, namespace=namespace, limit=15, ranking=KEYWORD)
        reads = [s for s in statements if " v ON v.term = q.term" in s or " WHERE term = " in s]
        assert len(reads) == 1, reads


def test_a_word_fts5_splits_is_still_matched_as_a_phrase(tmp_path: Path) -> None:
    with NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing:64") as adapter:
        adapter.add_many([
            {"content": "reply to the e_mail today", "namespace": NS},
            {"content": "e is a letter and the mail came late", "namespace": NS},
            {"content": "nothing to see", "namespace": NS},
        ])
        hits = adapter.search("e_mail", namespace=NS, ranking=KEYWORD)
        assert [h.record.content for h in hits] == ["reply to the e_mail today"]


def test_lengths_are_saved_in_the_vector_file_and_mapped_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mnemos.memory_adapters._vectors.SAVE_MIN_ROWS", 20)
    path = tmp_path / "memory.db"
    with NativeMemoryAdapter(path, embedder="hashing:64") as first:
        first.add_many([{"content": note(i), "namespace": NS} for i in range(60)])
        before = ranked(first.search("otter garden", namespace=NS, ranking=KEYWORD))
    with NativeMemoryAdapter(path, embedder="hashing:64") as again:
        after = ranked(again.search("otter garden", namespace=NS, ranking=KEYWORD))
        cache = again._store.cache
        assert cache.from_file
        words = dict(again._store.conn.execute(
            "SELECT rowid, length(trim(content)) - length(replace(trim(content), ' ', '')) + 1 FROM memories"
        ).fetchall())
        assert {int(r): int(n) for r, n in zip(cache.rowids[: cache.n], cache.lengths[: cache.n], strict=True)} == words
    assert after == before


class _Recording(np.ndarray):
    """A cache matrix that notes every ``@`` on it (a BLAS call)."""

    calls: ClassVar[list[tuple[int, ...]]] = []

    def __matmul__(self, other: Any) -> Any:
        _Recording.calls.append(self.shape)
        return np.asarray(self) @ other


@pytest.mark.parametrize("coarse", [False, True])
def test_vector_scans_make_no_blas_call(
    store: NativeMemoryAdapter, monkeypatch: pytest.MonkeyPatch, coarse: bool
) -> None:
    """A multithreaded BLAS splits a scan even under a thread limit; on a busy machine its
    threads wait for cores and a 100k scan cost 4-8 times its CPU time. Scans use einsum."""
    config = RankingConfig(mode="vector", candidates=10)
    if coarse:  # the first pass over sign sketches, then exact re-scoring
        monkeypatch.setattr(_vectors, "EXACT_LIMIT", 1000)
        monkeypatch.setattr(_vectors, "RERANK_FLOOR", 10)
    expected = ranked(store.search("otter garden", namespace=NS, limit=5, ranking=config))
    cache = store._store.cache
    monkeypatch.setattr(cache, "matrix", cache.matrix.view(_Recording))
    for name in _vectors.CODE_ARRAYS:
        monkeypatch.setattr(cache, name, getattr(cache, name).view(_Recording))
    _Recording.calls = []
    found = ranked(store.search("otter garden", namespace=NS, limit=5, ranking=config))
    assert _Recording.calls == []
    assert found == expected and found


def test_episode_neighbours_are_found_without_scanning_a_batch_sharing_one_timestamp(
    tmp_path: Path,
) -> None:
    """The memories of one ``add_many`` share their timestamp; finding a hit's neighbours
    walked every memory of its batch (tens of microseconds a seed at 1,000 a batch).
    SQLite's executed instructions are counted with a progress handler."""
    with NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing:64") as adapter:
        adapter.add_many([{"content": note(i), "namespace": NS} for i in range(3000)])
        adapter.search("warm", namespace=NS)
        steps = [0]

        def count() -> int:
            steps[0] += 1
            return 0

        with_neighbours = []
        for weight in (0.5, 0.0):
            adapter._store.conn.set_progress_handler(count, 100)
            steps[0] = 0
            hits = adapter.search("violin passport", namespace=NS, limit=10,
                                  ranking=RankingConfig(mode="keyword", neighbour_weight=weight))
            with_neighbours.append(steps[0])
            adapter._store.conn.set_progress_handler(None, 100)
            assert hits
    # the neighbour step costs a few index seeks per seed, not a walk through the batch
    assert with_neighbours[0] - with_neighbours[1] < 200, with_neighbours


def test_the_first_pass_of_a_large_store_keeps_what_an_exact_scan_ranks_best(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a store large enough for the first pass, the rows it keeps for exact scoring hold
    nearly all of the exact top 10 (a 64-float random projection kept about 80% at 100k rows:
    its estimates of the cosine are too rough to rank many near neighbours)."""
    rng = np.random.default_rng(5)
    vocabulary = [f"w{i}" for i in range(400)]
    texts = [" ".join(rng.choice(vocabulary, size=8)) for _ in range(3000)]
    with NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing:256") as adapter:
        adapter.add_many([{"content": t, "namespace": NS} for t in texts])
        adapter.search("warm", namespace=NS)
        cache = adapter._store.cache
        monkeypatch.setattr(_vectors, "EXACT_LIMIT", 0)  # the coarse pass, whatever the size
        monkeypatch.setattr(_vectors, "RERANK_FLOOR", 0)  # keeps 20 x 10 = 200 rows of 3,000
        mask = cache.mask(SearchQuery(text="x", namespace_prefix=NS))
        exact = cache.matrix[: cache.n].astype(np.float64)
        kept = []
        for query in texts[:40]:
            vector = np.asarray(adapter._store.embedder.embed_query(query[:20]), dtype=np.float32)
            rowids, _ = cache.top_each(vector, [mask], 10)[0]
            scores = exact @ vector
            tenth = np.sort(scores[mask[: cache.n]])[-10]
            kept.append(np.mean(scores[cache.slot_of.lookup(rowids)] >= tenth - 1e-6))
        assert np.mean(kept) >= 0.98


def test_postings_are_parsed_and_merged_by_numpy() -> None:
    """The rowids of a posting list come as one space-separated string: they are parsed
    without a Python object each, and merged across terms without hashing."""
    rng = np.random.default_rng(3)
    values = rng.integers(1, 10**12, size=5000)
    parsed = _native_keyword._ints(" ".join(map(str, values)))
    assert parsed.dtype == np.int64 and np.array_equal(parsed, values)
    assert len(_native_keyword._ints(None)) == len(_native_keyword._ints("")) == 0
    repeated = np.concatenate([values, values[:100], values[-7:]])
    assert np.array_equal(_native_keyword._distinct(repeated), np.unique(values))
    assert len(_native_keyword._distinct(np.zeros(0, dtype=np.int64))) == 0


def test_term_postings_count_each_term_in_each_record(tmp_path: Path) -> None:
    """One statement's postings give, per (term, record), how often the record holds the
    term (FTS5's own count), ordered by term then record, terms by their index."""
    with NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing:64") as adapter:
        adapter.add_many([{"content": note(i), "namespace": NS} for i in range(60)])
        conn = adapter._store.conn
        terms = ["otter", "note", "garden", "absent"]
        term_ids, docs, counts = _native_keyword._term_postings(conn, "temp.memories_instance", terms)
        expected = [
            (i, doc, float(n))
            for i, term in enumerate(terms)
            for doc, n in conn.execute(
                "SELECT doc, count(*) FROM temp.memories_instance WHERE term = ? GROUP BY doc ORDER BY doc", (term,)
            )
        ]
        assert list(zip(term_ids.tolist(), docs.tolist(), counts.tolist(), strict=True)) == expected
        assert max(counts) > 1 and 3 not in term_ids
        assert all(len(a) == 0 for a in _native_keyword._term_postings(conn, "temp.memories_instance", ["absent"]))


def test_sketch_distances_and_the_closest_rows() -> None:
    """The Hamming distance of packed sign sketches counts the differing signs, with or
    without numpy's bit count; the closest rows are the smallest distances, the first
    of those tied at the limit, in row order."""
    rng = np.random.default_rng(11)
    signs = rng.random((300, 512)) > 0.5
    words = pack(signs)
    query = rng.random(512) > 0.5
    distances = hamming([words[:, i] for i in range(8)], pack(query[None, :])[0])
    assert np.array_equal(distances, (signs != query).sum(axis=1))
    assert np.array_equal(_sketches._POPCOUNT[np.arange(256, dtype=np.uint8)], [bin(i).count("1") for i in range(256)])
    picked = closest(distances, 40)
    assert len(picked) == 40 and np.all(np.diff(picked) > 0)
    limit = np.sort(distances)[39]
    assert np.all(distances[picked] <= limit)
    assert np.count_nonzero(distances < limit) == np.count_nonzero(distances[picked] < limit)
    tied = np.flatnonzero(distances == limit)
    assert np.array_equal(picked[distances[picked] == limit], tied[: len(picked[distances[picked] == limit])])
