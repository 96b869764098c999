"""PostgreSQL-adapter behaviour beyond the shared contract: the same ranking and reasons as
native, metadata filters in SQL that agree with Python's, query text that is never SQL or
tsquery syntax, the graph, schema migrations, URLs and the missing-extra error.

All of it runs against the real PostgreSQL with pgvector of the ``pgvector_url`` fixture.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mnemos.exceptions import (
    ConfigurationError,
    EmbedderMismatchError,
    MissingExtraError,
    StorageError,
)
from mnemos.memory_adapters._filters import matches_filter
from mnemos.memory_adapters._postgres_schema import SCHEMA_VERSION, migrate, parse_url
from mnemos.memory_adapters.base import BaseMemoryAdapter, ScoredMemory
from mnemos.memory_adapters.native import NativeMemoryAdapter, RankingConfig
from mnemos.memory_adapters.postgres import PostgresMemoryAdapter
from mnemos.memory_adapters.registry import open_memory
from pgvector_server import Schemas

pytestmark = pytest.mark.pgvector

NS = ("users", "alice")
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def store(pg_schemas: Schemas) -> Iterator[PostgresMemoryAdapter]:
    adapter = PostgresMemoryAdapter(pg_schemas.new_url(), embedder="hashing:256")
    yield adapter
    adapter.close()


def contents(hits: list[ScoredMemory]) -> list[str]:
    return [h.record.content for h in hits]


# -- the same ranking as native ---------------------------------------------------------

_PEOPLE = ["Alice", "Bob", "Chen", "Dana", "Emil", "Farah"]
_THINGS = ["bicycle", "guitar", "garden", "passport", "recipe", "telescope", "kettle", "violin"]
_VERBS = ["bought", "repaired", "painted", "borrowed", "sold", "photographed"]
_PLACES = ["Lisbon", "Porto", "Berlin", "Kyoto", "the harbor", "the market"]


def _corpus(rng: random.Random) -> list[dict[str, Any]]:
    items = []
    for i in range(160):
        person, thing, verb, place = (rng.choice(x) for x in (_PEOPLE, _THINGS, _VERBS, _PLACES))
        kind = "semantic" if i % 5 == 0 else "episodic"
        items.append({
            "content": f"{person} {verb} the {thing} in {place} on day {i % 17}",
            "namespace": NS if i % 3 else ("users", "bob"),
            "kind": kind,
            "importance": round(rng.random(), 2),
            "created_at": NOW - timedelta(hours=160 - i),
            "metadata": {"session": i // 8, "n": i},
            "provenance": {"thread": f"t{i // 40}"},
        })
    return items


def _ranked(store: BaseMemoryAdapter, query: str, **kwargs: Any) -> list[tuple[str, list[str], str]]:
    return [
        (h.record.id, [r.signal for r in h.reasons], next((r.detail for r in h.reasons if r.signal == "keyword"), ""))
        for h in store.search(query, **kwargs)
    ]


@pytest.mark.parametrize("statistics", ["scope", "store"])
def test_search_ranks_and_explains_as_native_does(
    tmp_path: Path, pg_schemas: Schemas, statistics: Literal["scope", "store"]
) -> None:
    """The same records in both stores: the same hits, in the same order, for the same
    reasons, with BM25's statistics per scope (the default) or over the whole store."""
    items = _corpus(random.Random(5))
    clock = lambda: NOW  # noqa: E731
    ranking = RankingConfig(keyword_statistics=statistics)
    native = NativeMemoryAdapter(tmp_path / "n.db", embedder="hashing:256", clock=clock, ranking=ranking)
    postgres = PostgresMemoryAdapter(pg_schemas.new_url(), embedder="hashing:256", clock=clock, ranking=ranking)
    try:
        for store in (native, postgres):
            for start in range(0, len(items), 50):
                store.add_many([{**item, "id": f"m{start + j:04d}"} for j, item in enumerate(items[start : start + 50])])
            store.add_relation("Alice", "knows", "Farah", namespace=NS)  # type: ignore[attr-defined]
        queries = [
            "who repaired the guitar", "Alice bicycle Lisbon", "telescope photographed in Kyoto",
            "what did Bob sell at the market", "violin", "day 3 passport",
            "besides the guitar, what things did Alice repair?", "when did Bob visit Kyoto?",
            "which cities has Alice been to?", "what did Alice and Bob both repair?",
        ]
        compared = 0
        for query in queries:
            for kwargs in (
                {"namespace": NS, "limit": 10},
                {"limit": 5, "kinds": "semantic"},
                {"namespace": NS, "filter": {"session": {"$gte": 4, "$lt": 12}}, "limit": 8},
                {"namespace": NS, "limit": 10, "graph_hops": 2},
                {"namespace": NS, "limit": 10, "ranking": RankingConfig(mode="keyword")},
                # vector only, without the entity round (on by default): which memories it admits
                # depends on the candidates, and the approximate index can bring others than native's
                {"namespace": NS, "limit": 10, "ranking": RankingConfig(mode="vector", neighbour_weight=0, entity_weight=0)},
                {"namespace": NS, "limit": 10, "ranking": RankingConfig(  # the question signals (_rerank)
                    question_penalty=0.3, exclusion_penalty=0.5, speaker_weight=0.05, when_weight=0.1,
                    date_weight=0.1, diversity=0.3)},
                {"namespace": NS, "limit": 10, "ranking": RankingConfig(hop_weight=0.3)},  # _hop
                {"namespace": NS, "limit": 10, "ranking": RankingConfig(fusion="zscore", keyword_weight=4)},
                {"namespace": NS, "limit": 10, "ranking": RankingConfig(context_weight=0.3)},  # _context
                # _feedback, keyword only: with vectors, the candidates near the bottom of the
                # first round can differ (approximate index) and with them the second round's seeds
                {"namespace": NS, "limit": 10, "ranking": RankingConfig(mode="keyword", feedback_weight=0.3)},
                {"namespace": NS, "limit": 10, "ranking": RankingConfig(entity_weight=0.3)},  # _episodic_graph
                {"namespace": NS, "limit": 10, "ranking": RankingConfig(session_weight=0.3)},  # _episodes
                {"namespace": NS, "filter": {"session": {"$gte": 4}}, "limit": 10,
                 "ranking": RankingConfig(session_weight=0.3, session_top=5)},
                {"namespace": NS, "limit": 10, "ranking": RankingConfig(decompose_weight=0.8)},  # _decompose
                {"namespace": NS, "limit": 10, "ranking": RankingConfig(list_weight=0.5)},  # _lists
                {"namespace": NS, "limit": 10, "ranking": RankingConfig(  # _beside
                    neighbour_question_cut=0.5, neighbour_speaker_boost=0.3)},
            ):
                if isinstance(kwargs.get("ranking"), RankingConfig):
                    kwargs = {**kwargs, "ranking": replace(kwargs["ranking"], keyword_statistics=statistics)}
                expected = _ranked(native, query, **kwargs)
                assert _ranked(postgres, query, **kwargs) == expected, (query, kwargs)
                compared += len(expected)
        assert compared > 200
        typed = postgres.search("which cities has Alice been to?", namespace=NS, ranking=RankingConfig(entity_weight=0.3))
        assert any(r.signal == "entity" for h in typed for r in h.reasons)  # the second round took part
        listed = postgres.search("which cities has Alice been to?", namespace=NS, ranking=RankingConfig(list_weight=0.5))
        assert any(r.signal == "list" for h in listed for r in h.reasons)  # the list bridge took part
        sessions = postgres.search("who repaired the guitar", namespace=NS, ranking=RankingConfig(session_weight=0.3))
        assert any(r.signal == "session" for h in sessions for r in h.reasons)  # episodes took part
        split = postgres.search("what did Alice and Bob both repair?", namespace=NS, ranking=RankingConfig(decompose_weight=0.8))
        assert any(r.signal == "decomposition" for h in split for r in h.reasons)  # so did the sub-queries
        hit = postgres.search("Alice bicycle Lisbon", namespace=NS)[0]
        assert {"keyword", "vector", "recency", "importance"} <= {r.signal for r in hit.reasons}
        assert hit.score == pytest.approx(sum(r.contribution for r in hit.reasons))
    finally:
        native.close()
        postgres.close()


def test_filters_apply_before_the_limit(store: PostgresMemoryAdapter) -> None:
    for i in range(60):
        store.add(f"weekly report number {i}", namespace=NS, metadata={"team": "red" if i % 20 else "blue"})
    hits = store.search("weekly report", namespace=NS, filter={"team": "blue"}, limit=10)
    assert sorted(contents(hits)) == ["weekly report number 0", "weekly report number 20", "weekly report number 40"]


# -- metadata filters in SQL agree with Python -------------------------------------------------

_VALUES = [None, True, False, 0, 1, 1.0, 2, -3.5, 1e300, 10**20, "", "a", "B", "é", "10", [], [1], ["a", 1],
           {}, {"x": 1}, {"x": "a"}, {"x": {"y": True}}]
_RECORDS: list[dict[str, Any]] = [
    {"k": v, "n": {"x": v}, "k.x": v} if i % 2 else {"k": v, "n": {"x": v}} for i, v in enumerate(_VALUES)
] + [{}, {"n": [1, 2]}, {"n": {"x": {"y": 2}}}]
_scalar = st.sampled_from(_VALUES)
_key = st.sampled_from(["k", "n.x", "k.x", "n.x.y", "missing", "n"])
_condition = st.one_of(
    _scalar,
    st.dictionaries(st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"]), _scalar, min_size=1, max_size=2),
    st.fixed_dictionaries({"$in": st.lists(_scalar, max_size=3)}),
    st.fixed_dictionaries({"$nin": st.lists(_scalar, max_size=3)}),
    st.fixed_dictionaries({"$exists": st.booleans()}),
)


@pytest.fixture(scope="module")
def filter_store(pgvector_url: str) -> Iterator[PostgresMemoryAdapter]:
    schemas = Schemas(pgvector_url)
    adapter = PostgresMemoryAdapter(schemas.new_url(), embedder="hashing:64")
    adapter.add_many([{"content": f"record {i}", "namespace": ("f",), "metadata": md}
                      for i, md in enumerate(_RECORDS)], dedup=False)
    yield adapter
    adapter.close()
    schemas.drop_all()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(_key, _condition, min_size=1, max_size=2))
def test_sql_filters_select_what_python_filters_select(
    filter_store: PostgresMemoryAdapter, flt: dict[str, Any]
) -> None:
    expected = sorted(f"record {i}" for i, md in enumerate(_RECORDS) if matches_filter(md, flt))
    assert sorted(r.content for r in filter_store.list(namespace=("f",), filter=flt, limit=None)) == expected
    hits = filter_store.search("record", namespace=("f",), filter=flt, limit=len(_RECORDS))
    assert sorted(contents(hits)) == expected


def test_metadata_round_trips_number_for_number(store: PostgresMemoryAdapter) -> None:
    metadata = {"big": 1e300, "float": 1.0, "int": 1, "bool": True, "tiny": 5e-324, "z": 0, "a": [1.5, "x"]}
    record = store.add("numbers", namespace=NS, metadata=metadata)
    got = store.get(record.id).metadata
    assert got == metadata
    assert [type(v) for v in got.values()] == [type(v) for v in metadata.values()]
    assert list(got) == list(metadata)


# -- text is never syntax ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["it's", "a'b\"c", "\\", "foo:*", "!not & (this | that)", "<-> <2>", "'; DROP TABLE memories; --",
     "%s %(x)s", "über-straße", "\u0000x", "(((", "*"],
)
def test_user_text_never_reaches_sql_or_tsquery_as_syntax(store: PostgresMemoryAdapter, query: str) -> None:
    store.add("Notes: it's a test of ! & | <-> operators in über-straße", namespace=NS)
    store.search(query, namespace=NS)  # no syntax error, whatever the text
    assert store.count() == 1


def test_tsquery_operators_are_searched_as_words(store: PostgresMemoryAdapter) -> None:
    store.add("the straße office", namespace=NS)
    store.add("something else entirely", namespace=NS)
    keyword_only = RankingConfig(mode="keyword", neighbour_weight=0)
    assert contents(store.search("straße & !office", namespace=NS, ranking=keyword_only)) == ["the straße office"]


# -- the graph ------------------------------------------------------------------------------------


def test_relations_entities_and_related(store: PostgresMemoryAdapter) -> None:
    fact = store.add("Alice works at Acme Corp in Lisbon", namespace=NS, kind="semantic")
    other = store.add("Acme Corp opened an office in Porto", namespace=NS, kind="semantic")
    store.add_relation("Acme Corp", "owns", "Globex", namespace=NS, memory_id=fact.id)
    store.add_relation("Globex", "based_in", "Berlin", namespace=NS)
    store.add_relation("Acme Corp", "rivals", "Initech", namespace=("users", "bob"))
    assert store.entities(fact.id) == ["Acme Corp", "Alice", "Lisbon"]
    assert [h.record.id for h in store.related(fact.id)] == [other.id]
    near = store.relations("acme corp", namespace=NS, hops=2)
    assert [(r.subject, r.predicate, r.object) for r in near] == [
        ("Acme Corp", "owns", "Globex"), ("Globex", "based_in", "Berlin")]
    assert [r.predicate for r in store.relations("Acme Corp", namespace=NS)] == ["owns"]
    assert [r.predicate for r in store.relations("Acme Corp", hops=2)] == ["owns", "based_in", "rivals"]
    store.delete(fact.id)  # the relation it came from goes with it
    assert [r.predicate for r in store.relations("Globex", namespace=NS)] == ["based_in"]


# -- schema, URLs, opening ---------------------------------------------------------------------------


def test_an_old_schema_is_upgraded_in_place(pg_schemas: Schemas) -> None:
    schema = pg_schemas.new()
    url = pg_schemas.url_for(schema)
    with psycopg.connect(pg_schemas.url, autocommit=True) as conn:
        assert migrate(conn, schema, dims=64, text_search="english", embedder="hashing:v1:64", target=1)[0] == 1
        conn.execute(
            f"""INSERT INTO "{schema}".memories (id, ns, kind, content, content_hash, metadata, created_at,
                updated_at, importance, provenance, version, doc_len, embedding)
                VALUES ('old1', 'a/', 'episodic', 'kept across the upgrade', 'h', '{{}}', now(), now(), 0.5,
                '{{}}', 1, 4, array_fill(0.125, ARRAY[64])::"public".vector)"""
        )
    with PostgresMemoryAdapter(url) as adapter:
        assert adapter.get("old1").content == "kept across the upgrade"
        assert adapter.stats()["schema_version"] == SCHEMA_VERSION
        assert contents(adapter.search("kept upgrade")) == ["kept across the upgrade"]
    with psycopg.connect(pg_schemas.url, autocommit=True) as conn:
        indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s", (schema,))}
        assert {"memories_meta", "memories_tsv", "memories_embedding"} <= indexes
        conn.execute(f"""UPDATE "{schema}".meta SET value = '99' WHERE key = 'schema_version'""")
    with pytest.raises(StorageError, match="upgrade mnemos"):
        PostgresMemoryAdapter(url)


def test_two_schemas_are_two_stores(pg_schemas: Schemas) -> None:
    with PostgresMemoryAdapter(pg_schemas.new_url(), embedder="hashing") as a, \
            PostgresMemoryAdapter(pg_schemas.new_url(), embedder="hashing") as b:
        a.add("only in a", namespace=NS)
        assert b.count() == 0 and a.count() == 1


def test_open_memory_reads_the_url_and_records_the_embedder(pg_schemas: Schemas) -> None:
    url = pg_schemas.new_url()
    for scheme in ("postgresql://", "postgres://"):
        adapter = open_memory(url.replace("postgresql://", scheme, 1), scope=("users",), embedder="hashing:64")
        assert isinstance(adapter, PostgresMemoryAdapter) and adapter.scope == ("users",)
        adapter.close()
    with pytest.raises(EmbedderMismatchError):
        PostgresMemoryAdapter(url, embedder="hashing:128")
    with PostgresMemoryAdapter(url) as reopened:
        assert reopened.embedder.name == "hashing:v1:64"


def test_url_options_are_read_and_checked() -> None:
    settings_ = parse_url("postgres://u:p@h:5433/db?schema=team_a&pool_size=8&sslmode=require&text_search=simple")
    assert (settings_.schema, settings_.pool_size, settings_.text_search) == ("team_a", 8, "simple")
    assert settings_.conninfo == "postgresql://u:p@h:5433/db?sslmode=require"
    for bad in ("postgresql://h/db?schema=Robert');", "postgresql://h/db?pool_size=0", "postgresql://h/db?pool_size=x",
                "mysql://h/db"):
        with pytest.raises(ConfigurationError):
            parse_url(bad)


def test_an_unreachable_server_is_a_storage_error() -> None:
    with pytest.raises(StorageError):
        PostgresMemoryAdapter("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")


def test_the_missing_extra_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg_pool", None)
    with pytest.raises(MissingExtraError, match=r'pip install "mnemos\[postgres\]"'):
        PostgresMemoryAdapter("postgresql://localhost/db")


async def test_async_twins(store: PostgresMemoryAdapter) -> None:
    record = await store.aadd("asynchronous note about the harbor", namespace=NS)
    hits = await store.asearch("harbor", namespace=NS)
    assert [h.record.id for h in hits] == [record.id]
    assert (await store.aget(record.id)).content == record.content


def test_stats(store: PostgresMemoryAdapter) -> None:
    store.add("a fact about Rome", namespace=NS, kind="semantic")
    store.add("an event", namespace=NS)
    stats = store.stats()
    assert stats["total"] == 2 and stats["by_kind"]["semantic"] == 1
    assert stats["by_namespace"] == {"users/alice": 2}
    assert stats["entities"] == 1 and stats["disk_size"] > 0
    assert stats["text_search"] == "english" and stats["embedder"] == "hashing:v1:256"


def test_the_docs_example_runs(pg_schemas: Schemas, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Python example of docs/postgres.md, run as written against the test server."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "postgres.md").read_text(encoding="utf-8")
    example = text.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("DATABASE_URL", pg_schemas.new_url())
    exec(compile(example, "docs/postgres.md", "exec"), {})
