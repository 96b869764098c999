"""What keeps PostgreSQL searches cheap at scale without changing their ranking: term counts
that stop where they stop mattering, planner statistics that spare counting a common word,
HNSW settings kept on the connection. Against the real PostgreSQL with pgvector of the
``pgvector_url`` fixture; the native store (real SQLite) is the reference ranking.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

import mnemos.memory_adapters.postgres as pg_module
from mnemos.memory_adapters._postgres_io import Query, Steps, run
from mnemos.memory_adapters.native import NativeMemoryAdapter, RankingConfig
from mnemos.memory_adapters.postgres import PostgresMemoryAdapter
from pgvector_server import Schemas

pytestmark = pytest.mark.pgvector

NS = ("bench", "costs")
_NAMES = ["ana", "ben", "carla", "dmitri", "elena", "farid", "grace", "hiro"]
_PLACES = ["harbor", "station", "library", "bakery", "museum", "garage"]


def _items() -> list[dict[str, Any]]:
    """400 memories: 'meeting' in every one, names in an eighth each, places in a sixth,
    and a few rare words."""
    out = []
    for i in range(400):
        rare = " zephyrine" if i % 97 == 5 else ""
        out.append(
            {
                "content": f"meeting {i} with {_NAMES[i % 8]} at the {_PLACES[i % 6]} about item {i % 50}{rare}",
                "namespace": NS,
                "importance": (i % 10) / 10,
            }
        )
    return out


@pytest.fixture
def stores(
    pg_schemas: Schemas, tmp_path: Path
) -> Iterator[tuple[NativeMemoryAdapter, PostgresMemoryAdapter]]:
    native = NativeMemoryAdapter(tmp_path / "ref.db", embedder="hashing:64")
    postgres = PostgresMemoryAdapter(pg_schemas.new_url() + "&pool_size=1", embedder="hashing:64")
    items = _items()
    native.add_many(items)
    postgres.add_many(items)
    postgres.analyze()
    yield native, postgres
    native.close()
    postgres.close()


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[Query]:
    """Every statement the sync adapter's searches run (through the real ``run``)."""
    seen: list[Query] = []

    def recording(conn: Any, steps: Steps[Any]) -> Any:
        def tap() -> Steps[Any]:
            query = next(steps)
            while True:
                seen.append(query)
                rows = yield query
                try:
                    query = steps.send(rows)
                except StopIteration as stop:
                    return stop.value

        return run(conn, tap())

    monkeypatch.setattr(pg_module, "run", recording)
    return seen


def _counted(statements: list[Query]) -> list[tuple[list[str], int]]:
    """(lexemes, cap) of each term-count statement."""
    return [(list(q.params[-2]), int(q.params[-3])) for q in statements if "tsv @@ t.q" in q.sql]


def test_term_budget_keeps_native_ranking_without_counting_past_it(
    stores: tuple[NativeMemoryAdapter, PostgresMemoryAdapter], statements: list[Query]
) -> None:
    """With a posting budget of 40: 'meeting' (400 rows) is dropped, names (50) and places
    (66-67) are kept only beside rarer words. Counts stop at 41 while some term fits, and
    the word the planner's statistics put at five times the cap is not counted at all; the
    keyword results are native's, in native's order (hybrid adds HNSW's approximation)."""
    native, postgres = stores
    config = replace(RankingConfig(), mode="keyword", max_keyword_postings=40)
    for text in [
        "meeting with ana at the harbor zephyrine",
        "meeting with carla",
        "meeting at the museum",
        "the zephyrine item",
        "meeting ana harbor",
    ]:
        statements.clear()
        want = [
            h.record.content for h in native.search(text, namespace=NS, ranking=config, limit=10)
        ]
        got = [
            h.record.content for h in postgres.search(text, namespace=NS, ranking=config, limit=10)
        ]
        assert got == want, text
        counted = _counted(statements)
        assert all("meet" not in lexemes for lexemes, _ in counted), counted
        assert all(cap in (41, 81) for _, cap in counted), counted
    statements.clear()
    postgres.search("ana harbor", namespace=NS, ranking=config)  # every term past the budget
    caps = [cap for _, cap in _counted(statements)]
    assert 81 in caps or not caps  # counted on to twice the budget (or cached from before)


def test_hnsw_settings_stay_on_an_idle_connection_not_inside_a_transaction(
    pgvector_url: str,
) -> None:
    """A statement's ``hnsw.ef_search`` is set once on a connection outside transactions (a
    round trip, not a transaction of four); inside the caller's transaction it is local."""

    def current(value: str) -> Steps[str]:
        rows = yield Query(
            "SELECT current_setting('hnsw.ef_search')", (), (("hnsw.ef_search", value),)
        )
        return str(rows[0][0])

    with psycopg.connect(pgvector_url, autocommit=True) as conn:
        conn.execute("LOAD 'vector'")
        assert run(conn, current("77")) == "77"
        assert conn.execute("SHOW hnsw.ef_search").fetchone()[0] == "77"  # kept for the next search
        assert run(conn, current("77")) == "77"
        with conn.transaction():
            assert run(conn, current("33")) == "33"
        assert conn.execute("SHOW hnsw.ef_search").fetchone()[0] == "77"  # the local one ended
        assert run(conn, current("55")) == "55"


def test_neighbour_links_come_in_one_statement(
    stores: tuple[NativeMemoryAdapter, PostgresMemoryAdapter], statements: list[Query]
) -> None:
    """The seeds and their neighbours either side are one statement; their scores and
    reasons are native's."""
    native, postgres = stores
    config = replace(RankingConfig(), neighbour_weight=0.5, reply_weight=0.0)  # the replies have their own
    want = native.search("zephyrine", namespace=NS, ranking=config, limit=10)
    got = postgres.search("zephyrine", namespace=NS, ranking=config, limit=10)
    assert [h.record.content for h in got] == [h.record.content for h in want]
    assert [[r.signal for r in h.reasons] for h in got] == [
        [r.signal for r in h.reasons] for h in want
    ]
    assert any(r.signal == "neighbour" for h in got for r in h.reasons)
    neighbour_sql = [
        q.sql for q in statements if re.search(r"episode IS NOT NULL|episode = %s", q.sql)
    ]
    assert len(neighbour_sql) == 1, neighbour_sql
