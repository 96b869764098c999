"""Native-adapter behaviour beyond the shared contract (which the conformance suite covers):
hybrid ranking and its reasons, the episode-neighbour and graph signals, the embedder
record and re-embedding, stats, injection-safe keyword queries, the shared vector cache."""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from mnemos.exceptions import EmbedderMismatchError, ImportFormatError, UsageError
from mnemos.memory_adapters.base import MemoryKind, ScoredMemory
from mnemos.memory_adapters.native import NativeMemoryAdapter, RankingConfig

NS = ("users", "alice")


@pytest.fixture
def store(tmp_path: Path) -> NativeMemoryAdapter:
    adapter = NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing:256")
    yield adapter
    adapter.close()


def signals(hit: ScoredMemory) -> dict[str, float]:
    return {r.signal: r.contribution for r in hit.reasons}


def contents(hits: list[ScoredMemory]) -> list[str]:
    return [h.record.content for h in hits]


# -- hybrid ranking ---------------------------------------------------------------------


def test_hybrid_hits_carry_keyword_vector_recency_and_importance_reasons(store: NativeMemoryAdapter) -> None:
    store.add("Alice adopted a golden retriever puppy named Biscuit", namespace=NS, kind="semantic")
    store.add("The quarterly budget review is on Friday", namespace=NS)
    store.add("Bob prefers green tea over coffee", namespace=NS, kind="semantic")

    hits = store.search("what is the name of Alice's puppy?", namespace=NS)

    top = hits[0]
    assert top.record.content.startswith("Alice adopted")
    found = signals(top)
    assert {"keyword", "vector", "recency", "importance"} <= set(found)
    assert found["keyword"] > 0 and found["vector"] > 0
    assert top.score == pytest.approx(sum(found.values()))
    keyword = next(r for r in top.reasons if r.signal == "keyword")
    assert "rank 1" in keyword.detail
    assert "keyword" in top.explain() and "vector" in top.explain()


def test_a_record_matching_more_query_words_ranks_higher(store: NativeMemoryAdapter) -> None:
    store.add("We hiked up the mountain trail at dawn", namespace=NS, metadata={"session": 1})
    store.add("The mountain was covered in snow", namespace=NS, metadata={"session": 2})
    store.add("Dinner was pasta with tomato sauce", namespace=NS, metadata={"session": 3})

    hits = store.search("mountain trail hike", namespace=NS, limit=3)

    assert contents(hits) == ["We hiked up the mountain trail at dawn", "The mountain was covered in snow"]


def test_importance_and_recency_break_ties_between_equal_matches(tmp_path: Path) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    store = NativeMemoryAdapter(tmp_path / "m.db", embedder="hashing:256", clock=lambda: now)
    low = store.add("deploy the service on Monday", namespace=NS, importance=0.1, metadata={"n": 1})
    high = store.add("deploy the service on Tuesday", namespace=NS, importance=0.9, metadata={"n": 2})
    keyword_only = RankingConfig(mode="keyword", neighbour_weight=0)
    hits = store.search("deploy service", namespace=NS, limit=2, ranking=keyword_only)
    assert [h.record.id for h in hits] == [high.id, low.id]
    assert hits[0].reasons[0].detail.startswith("rank 1") and hits[1].reasons[0].detail.startswith("rank 1")
    assert signals(hits[0])["importance"] > 0 > signals(hits[1])["importance"]

    old = store.add("rotate the api keys", namespace=("ops",), created_at=now - timedelta(days=300))
    new = store.add("rotate the api keys now", namespace=("ops",), created_at=now - timedelta(days=1))
    no_text_signals = RankingConfig(mode="keyword", recency_weight=0.5, neighbour_weight=0)
    hits = store.search("rotate api keys", namespace=("ops",), ranking=no_text_signals)
    assert hits[0].record.id == new.id
    assert signals(hits[0])["recency"] > signals(hits[1])["recency"]
    assert {h.record.id for h in hits} == {old.id, new.id}
    store.close()


def test_keyword_and_vector_modes_report_only_their_signal(store: NativeMemoryAdapter) -> None:
    store.add("saffron risotto recipe", namespace=NS)
    keyword = store.search("saffron", ranking=RankingConfig(mode="keyword"))
    vector = store.search("saffron", ranking=RankingConfig(mode="vector"))
    assert "vector" not in signals(keyword[0]) and "keyword" in signals(keyword[0])
    assert "keyword" not in signals(vector[0]) and "vector" in signals(vector[0])


# -- filters are applied before the cut-off ---------------------------------------------------


def test_filters_apply_before_the_limit(store: NativeMemoryAdapter) -> None:
    items = [
        {"content": f"coffee tasting note number {i} coffee coffee", "namespace": NS, "metadata": {"k": "x"}}
        for i in range(150)
    ]
    items += [{"content": f"a remark about coffee {i}", "namespace": NS, "metadata": {"k": "rare"}} for i in range(3)]
    store.add_many(items)

    hits = store.search("coffee", namespace=NS, filter={"k": "rare"}, limit=5)

    assert len(hits) == 3
    assert all(h.record.metadata == {"k": "rare"} for h in hits)


def test_expired_and_superseded_records_are_not_ranked(store: NativeMemoryAdapter) -> None:
    fact = store.add("Alice lives in Lisbon", namespace=NS, kind="semantic")
    store.supersede(fact.id, "Alice lives in Porto")
    store.add("Alice visited Lisbon briefly", namespace=NS, expires_at=datetime(2000, 1, 1, tzinfo=UTC))

    hits = store.search("Alice Lisbon", namespace=NS)
    assert "Alice lives in Lisbon" not in contents(hits)
    assert "Alice visited Lisbon briefly" not in contents(hits)
    assert "Alice lives in Lisbon" in contents(store.search("Alice Lisbon", include_superseded=True))


def test_a_hit_only_recency_and_importance_vouch_for_is_not_returned(store: NativeMemoryAdapter) -> None:
    store.add("Alice is vegetarian", namespace=NS, kind="semantic", importance=0.9)

    assert store.search("pasta without meat", namespace=NS) == []
    assert contents(store.search("is Alice vegetarian?", namespace=NS)) == ["Alice is vegetarian"]


@pytest.mark.parametrize("coarse", [False, True], ids=["exact", "coarse-pass"])
def test_search_by_kind_returns_what_each_kind_search_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, coarse: bool
) -> None:
    if coarse:  # make a small store take the large-store path: projection first, exact re-scoring
        monkeypatch.setattr("mnemos.memory_adapters._vectors.EXACT_LIMIT", 0)
        monkeypatch.setattr("mnemos.memory_adapters._vectors.RERANK_FLOOR", 5)
    clock = datetime(2026, 5, 1, tzinfo=UTC)
    adapter = NativeMemoryAdapter(tmp_path / "m.db", embedder="hashing:128", clock=lambda: clock,
                                  ranking=RankingConfig(candidates=5))
    words = ["garden", "tomato", "budget", "trip", "kitchen", "paint", "river", "coffee", "piano", "bike"]
    adapter.add_many([
        {"content": f"{words[i % 10]} {words[(i * 3) % 10]} note {i}", "namespace": NS,
         "kind": ("semantic", "episodic", "procedural")[i % 3], "created_at": clock - timedelta(hours=i)}
        for i in range(600)
    ] + [{"content": "garden tomato elsewhere", "namespace": ("users", "bob")}], dedup=False)
    try:
        for query in ("garden tomato", "coffee and a piano", "zzz qqq"):
            both = adapter.search_by_kind(query, {"semantic": 4, "episodic": 3}, namespace=NS)
            for kind, limit in (("semantic", 4), ("episodic", 3)):
                alone = adapter.search(query, namespace=NS, kinds=kind, limit=limit)
                assert [(h.record.id, h.score) for h in both[MemoryKind(kind)]] == [
                    (h.record.id, h.score) for h in alone
                ]
                assert all(h.record.kind is MemoryKind(kind) for h in alone)
        assert len(adapter.search_by_kind("garden", {"episodic": 3}, namespace=NS)[MemoryKind.EPISODIC]) == 3
        with pytest.raises(UsageError):
            adapter.search_by_kind("garden", {"episodic": 0}, namespace=NS)
        with pytest.raises(UsageError):
            adapter.search_by_kind("garden", {"dreams": 2}, namespace=NS)
    finally:
        adapter.close()


def test_listing_by_metadata_matches_exactly_what_the_filter_says(store: NativeMemoryAdapter) -> None:
    for i, metadata in enumerate([
        {"subject": "user", "attribute": "diet"}, {"subject": "User", "attribute": "diet"},
        {"subject": 5, "attribute": "diet"}, {"subject": ["user"], "attribute": "diet"},
        {"sub": {"ject": "user"}, "attribute": "diet"}, {"subject": "user", "attribute": "pet"},
        {'we"ird\\key': "user"},
    ]):
        store.add(f"fact {i}", namespace=NS, kind="semantic", metadata=metadata)

    def listed(flt: dict[str, object]) -> list[str]:
        return sorted(r.content for r in store.list(namespace=NS, filter=flt))

    assert listed({"subject": "user", "attribute": "diet"}) == ["fact 0"]
    assert listed({"subject": {"$eq": "user"}}) == ["fact 0", "fact 5"]
    assert listed({"sub.ject": "user"}) == ["fact 4"]
    assert listed({"subject": 5}) == ["fact 2"]
    assert listed({'we"ird\\key': "user"}) == ["fact 6"]
    assert listed({"subject": "nobody"}) == []


# -- episode neighbours -----------------------------------------------------------------------


def test_adjacent_events_of_the_same_session_share_score(store: NativeMemoryAdapter) -> None:
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    turns = [
        "Did you go anywhere fun last weekend?",
        "Yes, I finally went to the aquarium downtown.",
        "Wonderful, what did you like most?",
        "The jellyfish tank, it glows in the dark.",
    ]
    for i, text in enumerate(turns):
        store.add(text, namespace=NS, metadata={"session": "s1"}, created_at=start + timedelta(minutes=i))
    store.add("Wonderful weather for a picnic", namespace=NS, metadata={"session": "s2"},
              created_at=start + timedelta(days=5))

    hits = store.search("aquarium", namespace=NS, limit=5)

    by_text = {h.record.content: h for h in hits}
    assert hits[0].record.content == turns[1]
    for neighbour in (turns[0], turns[2]):
        reason = next(r for r in by_text[neighbour].reasons if r.signal == "neighbour")
        assert reason.contribution > 0
        assert hits[0].record.id in reason.detail
    # Not next to a hit and matching nothing: recency alone does not make it a result.
    assert "Wonderful weather for a picnic" not in by_text

    off = store.search("aquarium", namespace=NS, limit=5, ranking=RankingConfig(neighbour_weight=0))
    assert all("neighbour" not in signals(h) for h in off)


def test_neighbours_follow_the_provenance_thread(store: NativeMemoryAdapter) -> None:
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    store.add("I booked flights to Reykjavik", namespace=NS, provenance={"thread": "a"}, created_at=t0)
    store.add("unrelated words here", namespace=NS, provenance={"thread": "b"},
              created_at=t0 + timedelta(seconds=1))
    store.add("we leave on the ninth", namespace=NS, provenance={"thread": "a"},
              created_at=t0 + timedelta(seconds=2))

    hits = {h.record.content: h for h in store.search("Reykjavik flights", namespace=NS)}
    assert "neighbour" in signals(hits["we leave on the ninth"])
    assert "unrelated words here" not in hits  # another thread: no neighbour, no match


# -- the entity graph ----------------------------------------------------------------------------


def test_entities_are_extracted_from_semantic_memories(store: NativeMemoryAdapter) -> None:
    fact = store.add('Alice Smith joined Acme Corp to work on "Project Falcon".', namespace=NS, kind="semantic")
    episode = store.add("Alice Smith said hello", namespace=NS)
    assert {"Alice Smith", "Acme Corp", "Project Falcon"} <= set(store.entities(fact.id))
    assert store.entities(episode.id) == []


def test_graph_hops_pull_in_memories_linked_through_entities(store: NativeMemoryAdapter) -> None:
    store.add("Alice works at Acme", namespace=NS, kind="semantic")
    acme = store.add("Acme is headquartered in Berlin", namespace=NS, kind="semantic")
    berlin = store.add("Berlin hosts a big film festival", namespace=NS, kind="semantic")
    for i in range(20):
        store.add(f"filler fact number {i} about gardening", namespace=NS, kind="semantic")
    narrow = RankingConfig(candidates=1, neighbour_weight=0, graph_seeds=1)

    plain = store.search("Where does Alice work?", namespace=NS, limit=3, ranking=narrow)
    assert all("graph" not in signals(h) for h in plain)

    one = store.search("Where does Alice work?", namespace=NS, limit=3, ranking=narrow, graph_hops=1)
    assert one[1].record.id == acme.id
    graph = next(r for r in one[1].reasons if r.signal == "graph")
    assert graph.value == 1 and graph.contribution > 0
    assert berlin.id not in {h.record.id for h in one[:2]}

    two = store.search("Where does Alice work?", namespace=NS, limit=3, ranking=narrow, graph_hops=2)
    by_id = {h.record.id: h for h in two}
    assert next(r for r in by_id[berlin.id].reasons if r.signal == "graph").value == 2

    related = store.related(acme.id, hops=1)
    assert {h.record.content for h in related} == {"Alice works at Acme", "Berlin hosts a big film festival"}
    with pytest.raises(UsageError):
        store.search("Alice", graph_hops=-1)


def test_relations_are_traversed_by_hops_and_confined_to_the_scope(tmp_path: Path) -> None:
    root = NativeMemoryAdapter(tmp_path / "g.db", embedder="hashing:256")
    alice = root.scoped("users", "alice")
    bob = root.scoped("users", "bob")
    alice.add_relation("Lisbon", "capital of", "Portugal", namespace=("facts",))
    alice.add_relation("Portugal", "member of", "European Union", namespace=("facts",))
    alice.add_relation("European Union", "founded in", "1993", namespace=("facts",))
    bob.add_relation("Lisbon", "twinned with", "Rio", namespace=("facts",))

    one = alice.relations("lisbon")
    assert [(r.subject, r.predicate, r.object) for r in one] == [("Lisbon", "capital of", "Portugal")]
    assert one[0].namespace == ("facts",)
    two = alice.relations("Lisbon", hops=2)
    assert {r.object for r in two} == {"Portugal", "European Union"}
    assert {r.object for r in bob.relations("Lisbon", hops=3)} == {"Rio"}
    assert {r.object for r in root.relations("Lisbon")} == {"Portugal", "Rio"}

    fact = alice.add("Lisbon is sunny", namespace=("facts",), kind="semantic")
    alice.add_relation("Lisbon", "has weather", "sun", namespace=("facts",), memory_id=fact.id)
    assert any(r.memory_id == fact.id for r in alice.relations("Lisbon"))
    alice.delete(fact.id)
    assert all(r.memory_id != fact.id for r in alice.relations("Lisbon"))
    with pytest.raises(UsageError):
        alice.add_relation("", "x", "y", namespace=("facts",))
    root.close()


def test_graph_relations_link_memories_for_multi_hop_search(store: NativeMemoryAdapter) -> None:
    store.add("Carol manages the Orion team", namespace=NS, kind="semantic")
    launch = store.add("Zephyr launches in April", namespace=NS, kind="semantic")
    narrow = RankingConfig(candidates=1, neighbour_weight=0, graph_seeds=1)
    before = store.search("Carol", namespace=NS, graph_hops=2, ranking=narrow)
    assert all("graph" not in signals(h) for h in before)

    store.add_relation("Orion", "builds", "Zephyr", namespace=NS)
    after = store.search("Carol", namespace=NS, graph_hops=2, ranking=narrow)
    by_id = {h.record.id: h for h in after}
    assert "graph" in signals(by_id[launch.id])


# -- embedder record and re-embedding ---------------------------------------------------------


def test_opening_with_another_embedder_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    with NativeMemoryAdapter(path, embedder="hashing:256") as store:
        store.add("kept safe", namespace=NS)
    with pytest.raises(EmbedderMismatchError) as err:
        NativeMemoryAdapter(path, embedder="hashing:512")
    assert err.value.stored == "hashing:v1:256" and err.value.given == "hashing:v1:512"
    with NativeMemoryAdapter(path) as reopened:  # no embedder: the recorded one
        assert reopened.embedder.name == "hashing:v1:256"
        assert contents(reopened.search("kept")) == ["kept safe"]


def test_reembed_switches_the_store_to_a_new_embedder(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    store = NativeMemoryAdapter(path, embedder="hashing:256")
    store.add_many([{"content": f"note {i} about sailing boats", "namespace": NS} for i in range(5)])
    store.add("orange marmalade", namespace=NS)
    assert store.search("marmalade", ranking=RankingConfig(mode="vector"))[0].record.content == "orange marmalade"
    progress: list[tuple[int, int]] = []

    count = store.reembed("hashing:512", on_progress=lambda d, t: progress.append((d, t)), batch_size=4)

    assert count == 6 and progress == [(4, 6), (6, 6)]
    assert store.embedder.name == "hashing:v1:512"
    assert store.stats()["embedder"] == "hashing:v1:512"
    top = store.search("marmalade", ranking=RankingConfig(mode="vector"))[0]
    assert top.record.content == "orange marmalade"
    store.close()
    with pytest.raises(EmbedderMismatchError):
        NativeMemoryAdapter(path, embedder="hashing:256")
    with NativeMemoryAdapter(path, embedder="hashing:512") as reopened:
        assert reopened.count() == 6


def test_a_reembed_by_another_process_is_noticed(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    first = NativeMemoryAdapter(path, embedder="hashing:256")
    first.add("river otters", namespace=NS)
    first.search("otters")
    second = NativeMemoryAdapter(path, embedder="hashing:256")
    second.reembed("hashing:128")
    with pytest.raises(EmbedderMismatchError):
        first.search("otters")
    first.close()
    second.close()


# -- keyword query safety -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "found"),
    [('"AND OR NOT ( * :', 1), ("über-straße", 1), ("NEAR(", 0), ("col:value", 0), ("^start", 0),
     ("a'b\"c", 0), ("*", 0), ("(((", 0), ("-", 0), ("\u0000x", 0)],
)
def test_user_text_never_reaches_fts_as_syntax(store: NativeMemoryAdapter, query: str, found: int) -> None:
    store.add("Notes: AND OR NOT are words too (really) * star: über-straße", namespace=NS)
    hits = store.search(query, namespace=NS)  # no FTS5 syntax error, whatever the text
    assert len(hits) == found


def test_fts_operators_are_searched_as_words(store: NativeMemoryAdapter) -> None:
    store.add("the NEAR field office", namespace=NS)
    store.add("something else entirely", namespace=NS)
    keyword_only = RankingConfig(mode="keyword", neighbour_weight=0)
    hits = store.search('NEAR("field"', namespace=NS, ranking=keyword_only)
    assert contents(hits) == ["the NEAR field office"]


# -- stats, import, shared cache ---------------------------------------------------------------------


def test_stats_reports_counts_size_embedder_and_schema(store: NativeMemoryAdapter) -> None:
    store.add("a fact about Rome", namespace=NS, kind="semantic")
    store.add("an event", namespace=NS)
    store.add("a rule", namespace=("agents", "planner"), kind="procedural")
    store.add("gone", namespace=NS, expires_at=datetime(2000, 1, 1, tzinfo=UTC))

    stats = store.stats()

    assert stats["total"] == 3
    assert stats["by_kind"] == {"episodic": 1, "semantic": 1, "procedural": 1}
    assert stats["by_namespace"] == {"agents/planner": 1, "users/alice": 2}
    assert stats["expired_pending_purge"] == 1
    assert stats["embedder"] == "hashing:v1:256" and stats["embedder_dims"] == 256
    assert stats["schema_version"] == 2  # 2: the typed items kept with each memory
    assert stats["file_size"] > 0
    assert store.scoped("users").stats()["by_namespace"] == {"alice": 2}


def test_import_reports_progress_per_batch_in_one_transaction(store: NativeMemoryAdapter, tmp_path: Path) -> None:
    lines = [
        json.dumps({
            "id": f"id{i}", "namespace": ["imp"], "kind": "episodic", "content": f"imported {i}",
            "created_at": "2026-01-01T00:00:00+00:00", "updated_at": "2026-01-01T00:00:00+00:00",
        })
        for i in range(5)
    ]
    progress: list[tuple[int, int]] = []
    assert store.import_jsonl(io.StringIO("\n".join(lines)), batch_size=2,
                              on_progress=lambda d, t: progress.append((d, t))) == 5
    assert progress == [(2, 5), (4, 5), (5, 5)]
    assert contents(store.search("imported 3", namespace=("imp",)))[0] == "imported 3"

    broken = io.StringIO("\n".join([*lines[:2], "{not json"]).replace("id0", "id9"))
    with pytest.raises(ImportFormatError):
        store.import_jsonl(broken)
    assert store.count(("imp",)) == 5


def test_the_vector_cache_follows_other_connections(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    reader = NativeMemoryAdapter(path, embedder="hashing:256")
    writer = NativeMemoryAdapter(path, embedder="hashing:256")
    vector = RankingConfig(mode="vector", neighbour_weight=0)
    first = writer.add("penguins waddle on ice", namespace=NS)
    assert contents(reader.search("penguins", ranking=vector)) == ["penguins waddle on ice"]

    writer.add("kangaroos hop in the outback", namespace=NS)
    writer.update(first.id, content="walruses rest on ice")
    hits = reader.search("walruses", ranking=vector)
    assert hits[0].record.content == "walruses rest on ice"
    assert hits[0].reasons[0].value > 0.5
    assert reader.search("kangaroos", ranking=vector)[0].record.content == "kangaroos hop in the outback"

    writer.delete(first.id)
    assert "walruses rest on ice" not in contents(reader.search("walruses", ranking=vector))
    reader.close()
    writer.close()


def test_the_store_file_is_wal_and_consistent(store: NativeMemoryAdapter) -> None:
    store.add_many([{"content": f"row {i}", "namespace": NS} for i in range(50)])
    store.update(store.list(limit=1)[0].id, content="changed")
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.execute("INSERT INTO memories_fts(memories_fts, rank) VALUES ('integrity-check', 1)")
    conn.close()


def test_opening_a_directory_or_a_non_store_file_is_a_clear_error(tmp_path: Path) -> None:
    from mnemos.exceptions import ConfigurationError, StorageError

    with pytest.raises(ConfigurationError):
        NativeMemoryAdapter(tmp_path)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError):
        NativeMemoryAdapter(junk)
    assert junk.read_bytes().startswith(b"this is not a database")


def test_an_in_memory_store_needs_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    with NativeMemoryAdapter(":memory:", embedder="hashing:64") as store:
        store.add("ephemeral thought", namespace=NS)
        assert contents(store.search("ephemeral")) == ["ephemeral thought"]
    assert list(workdir.iterdir()) == []


def test_purge_removes_expired_memories_with_their_relations(tmp_path: Path) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    clock = {"now": now}
    store = NativeMemoryAdapter(tmp_path / "p.db", embedder="hashing:64", clock=lambda: clock["now"])
    fact = store.add("Dana leads Apollo", namespace=NS, kind="semantic", ttl_seconds=60)
    store.add_relation("Dana", "leads", "Apollo", namespace=NS, memory_id=fact.id)
    clock["now"] = now + timedelta(minutes=5)
    assert store.purge() == 1
    assert store.relations("Dana") == []
    assert store.stats()["expired_pending_purge"] == 0
    store.close()


def test_a_search_leaves_the_process_blas_threads_as_it_found_them(store: NativeMemoryAdapter) -> None:
    store.add_many([{"content": f"note {i} about gardens", "namespace": NS} for i in range(50)])
    with threadpool_limits(limits=2, user_api="blas"):
        before = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
        assert store.search("gardens", namespace=NS, limit=3)
        after = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    assert after == before
