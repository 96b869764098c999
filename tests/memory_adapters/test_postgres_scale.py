"""PostgreSQL-adapter behaviour that keeps it fast at scale: searches stay on the HNSW
index however often they repeat, a bulk load builds the index once after the rows, and
the index holds half-precision vectors. Against the real PostgreSQL with pgvector of the
``pgvector_url`` fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import psycopg
import pytest

from mnemos.exceptions import UsageError
from mnemos.memory_adapters.native import RankingConfig
from mnemos.memory_adapters.postgres import PostgresMemoryAdapter
from pgvector_server import Schemas

pytestmark = pytest.mark.pgvector

NS = ("users", "alice")
_THINGS = ["bicycle", "guitar", "garden", "passport", "recipe", "telescope", "kettle", "violin"]


def _items(n: int) -> list[dict[str, object]]:
    return [{"content": f"note {i}: the {_THINGS[i % 8]} number {i} near harbor {i % 13}", "namespace": NS}
            for i in range(n)]


@pytest.fixture
def one_connection(pg_schemas: Schemas) -> Iterator[PostgresMemoryAdapter]:
    adapter = PostgresMemoryAdapter(pg_schemas.new_url() + "&pool_size=1", embedder="hashing:64")
    yield adapter
    adapter.close()


def test_repeated_vector_searches_keep_a_plan_for_their_own_vector(one_connection: PostgresMemoryAdapter) -> None:
    """psycopg prepares a statement after 5 runs, and PostgreSQL then tries a generic plan:
    one that cannot see the query vector or the namespace range and so sorts the whole
    namespace by distance instead of walking the HNSW index (seconds at 100,000 memories)."""
    store = one_connection
    store.add_many(_items(400))
    store.analyze()
    vector_only = replace(RankingConfig(), mode="vector")
    for word in ["bicycle", "guitar", "garden", "passport", "recipe", "telescope", "kettle", "violin"] * 2:
        assert store.search(f"the {word}", namespace=NS, ranking=vector_only)
    with store._store.pool.connection() as conn:  # the pool's only connection: the one that searched
        plans = conn.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            ("%ORDER BY m.embedding%",),
        ).fetchall()
    assert plans, "the vector search statement was prepared"
    assert all(generic == 0 and custom >= 10 for generic, custom in plans), plans


def test_bulk_load_builds_the_vector_index_once_after_the_rows(one_connection: PostgresMemoryAdapter) -> None:
    store = one_connection
    assert store.has_vector_index()
    with store.bulk_load(maintenance_work_mem="64MB"):
        assert not store.has_vector_index()
        first = store.add_many(_items(300))
        hit = store.search("the violin number 7", namespace=NS, ranking=replace(RankingConfig(), mode="vector"))[0]
        assert hit.record.id == first[7].id  # searchable during the load (an exact scan)
    assert store.has_vector_index()
    hit = store.search("the violin number 15", namespace=NS)[0]
    assert hit.record.id == first[15].id
    with pytest.raises(RuntimeError, match="load failed"), store.bulk_load():
        store.add("added before the failure", namespace=NS)
        raise RuntimeError("load failed")
    assert store.has_vector_index() and store.count() == 301  # what was added stays, the index is back
    assert store.missing_indexes() == []
    with pytest.raises(UsageError, match="maintenance_work_mem"):
        store.build_vector_index(maintenance_work_mem="lots; DROP TABLE memories")


def test_bulk_load_defers_the_gin_indexes_too(one_connection: PostgresMemoryAdapter) -> None:
    """Full-text and metadata GIN indexes (no pending list) are rewritten page by page on
    every insert; a bulk load drops them with the HNSW index and builds all three after
    the rows, and keyword and metadata searches keep working (by scans) in between."""
    store = one_connection
    assert store.missing_indexes() == []
    with store.bulk_load():
        assert store.missing_indexes() == ["memories_tsv", "memories_meta", "memories_embedding"]
        first = store.add_many([{**item, "metadata": {"n": i}} for i, item in enumerate(_items(200))])
        keyword = replace(RankingConfig(), mode="keyword")
        assert store.search("telescope harbor", namespace=NS, ranking=keyword, filter={"n": 13})[0].record.id == (
            first[13].id
        )
    assert store.missing_indexes() == []
    with store._store.reading() as conn:  # the planner takes the rebuilt GIN index again
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN SELECT rowid FROM memories WHERE tsv @@ 'telescop'::tsquery AND meta @> '{\"n\": 13}'"
        ))
        conn.execute("RESET enable_seqscan")
    assert "memories_tsv" in plan or "memories_meta" in plan, plan
    store._store.pool.close()  # a process that died inside a load: the next one builds what is missing
    reopened = PostgresMemoryAdapter(store._store.settings.conninfo + f"&schema={store.schema}", embedder="hashing:64")
    try:
        with reopened._store.writing() as conn:
            conn.execute("DROP INDEX memories_tsv")
        assert reopened.missing_indexes() == ["memories_tsv"]
        reopened.build_vector_index()
        assert reopened.missing_indexes() == []
    finally:
        reopened.close()


def test_the_vector_index_holds_half_precision_vectors(one_connection: PostgresMemoryAdapter) -> None:
    store = one_connection
    with psycopg.connect(store._store.settings.conninfo, autocommit=True) as conn:
        (definition,) = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND indexname = 'memories_embedding'",
            (store.schema,),
        ).fetchone()
    assert "halfvec(64)" in definition and "halfvec_cosine_ops" in definition


def test_the_docs_bulk_load_example_runs(one_connection: PostgresMemoryAdapter) -> None:
    """The bulk-load example of docs/postgres.md, run as written."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "postgres.md").read_text(encoding="utf-8")
    example = text.split("  ```python\n", 1)[1].split("  ```", 1)[0]
    batches = [_items(50), _items(100)[50:]]
    exec(compile("\n".join(line[2:] for line in example.splitlines()), "docs/postgres.md", "exec"),
         {"memory": one_connection, "batches": batches})
    assert one_connection.count() == 100 and one_connection.has_vector_index()
