"""BM25's parameters as ranking settings (``RankingConfig.bm25_b``/``bm25_k1``), on the
native store and on PostgreSQL (both real), with the built-in hashing embedder and with a
neural one's preference for the length normalisation (``Embedder.bm25_b``)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from mnemos.exceptions import ConfigurationError
from mnemos.memory_adapters._sql_adapter import SqlMemoryAdapter
from mnemos.memory_adapters.embedders import HashingEmbedder, LangChainEmbedder
from mnemos.memory_adapters.embedders.base import CLASSIC_BM25_B, DENSE_BM25_B
from mnemos.memory_adapters.native import NativeMemoryAdapter, RankingConfig

NS = ("u", "bm25")

SHORT = "apricot pie"
LONG = ("apricot apricot harvest ledger tractor orchard fence barn meadow river bridge lantern "
        "compass anchor saddle kettle pepper walnut violin canyon")
FILLER = ["granite quarry", "velvet curtain", "copper kettle", "amber lantern", "marble statue",
          "cedar cabin", "silver spoon", "linen shirt", "olive grove", "basalt cliff"]


def _top(store: SqlMemoryAdapter, b: float | None, statistics: str = "scope") -> str:
    ranking = RankingConfig(mode="keyword", bm25_b=b, keyword_statistics=statistics)  # type: ignore[arg-type]
    return store.search("apricot", namespace=NS, limit=2, ranking=ranking)[0].record.content


def _fill(store: SqlMemoryAdapter) -> None:
    store.add_many([{"content": text, "namespace": NS} for text in [SHORT, LONG, *FILLER]])


def test_length_normalisation_follows_bm25_b(sql_store: SqlMemoryAdapter) -> None:
    """Full normalisation favours the short record saying the word once; none favours the long
    one saying it twice. Asked in turn on the unchanged store, so a keyword list kept from
    the first search must not answer the second."""
    _fill(sql_store)
    assert _top(sql_store, 1.0) == SHORT
    assert _top(sql_store, 0.0) == LONG
    assert _top(sql_store, 1.0) == SHORT
    assert _top(sql_store, 0.75) == SHORT  # the default, unchanged


@pytest.mark.pgvector
def test_postgres_store_statistics_follow_bm25_b(pg_schemas: object) -> None:
    """PostgreSQL computes BM25 in SQL over the whole table with ``keyword_statistics="store"``."""
    from mnemos.memory_adapters.postgres import PostgresMemoryAdapter

    store = PostgresMemoryAdapter(pg_schemas.new_url(), embedder="hashing:64")  # type: ignore[attr-defined]
    try:
        _fill(store)
        assert _top(store, 1.0, "store") == SHORT
        assert _top(store, 0.0, "store") == LONG
    finally:
        store.close()


def test_native_store_statistics_keep_fts5_bm25(store: NativeMemoryAdapter) -> None:
    """FTS5's own bm25 (native, ``keyword_statistics="store"``) has fixed parameters: b is not read."""
    _fill(store)
    assert _top(store, 1.0, "store") == _top(store, 0.0, "store") == SHORT


@pytest.mark.parametrize("field,value", [
    ("bm25_b", -0.1), ("bm25_b", 1.5), ("bm25_b", math.nan), ("bm25_b", "0.3"), ("bm25_b", True),
    ("bm25_b", "none"),
    ("bm25_k1", 0.0), ("bm25_k1", -1.0), ("bm25_k1", math.inf), ("bm25_k1", None),
])
def test_bm25_parameters_are_checked(field: str, value: object) -> None:
    with pytest.raises(ConfigurationError, match=field):
        RankingConfig(**{field: value})  # type: ignore[arg-type]


def test_bm25_parameters_accept_their_range() -> None:
    assert RankingConfig(bm25_b=0, bm25_k1=2).bm25_b == 0
    assert RankingConfig(bm25_b=1.0).bm25_b == 1.0
    assert RankingConfig().bm25_b is None and RankingConfig().bm25_k1 == 1.2


def _neural() -> LangChainEmbedder:
    return LangChainEmbedder(DeterministicFakeEmbedding(size=64), name="fake-neural")


@pytest.fixture(params=["native", pytest.param("postgres", marks=pytest.mark.pgvector)])
def neural_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlMemoryAdapter]:
    """Each SQL store with a neural (LangChain-wrapped) embedder."""
    adapter: SqlMemoryAdapter
    if request.param == "native":
        adapter = NativeMemoryAdapter(tmp_path / "m.db", embedder=_neural())
    else:
        from mnemos.memory_adapters.postgres import PostgresMemoryAdapter

        adapter = PostgresMemoryAdapter(request.getfixturevalue("pg_schemas").new_url(), embedder=_neural())
    yield adapter
    adapter.close()


def test_the_default_length_normalisation_is_the_embedders() -> None:
    """Lexical hashing keeps BM25's usual 0.75, neural embedders take the value chosen
    leave-one-out with MiniLM; a value set in the ranking wins over either."""
    from mnemos.memory_adapters.embedders.sentence_transformers import SentenceTransformerEmbedder

    assert HashingEmbedder.bm25_b == CLASSIC_BM25_B == 0.75
    assert SentenceTransformerEmbedder.bm25_b == LangChainEmbedder.bm25_b == DENSE_BM25_B < CLASSIC_BM25_B
    assert RankingConfig().bm25_b_for(HashingEmbedder(64)) == 0.75
    assert RankingConfig().bm25_b_for(_neural()) == DENSE_BM25_B
    assert RankingConfig(bm25_b=0.9).bm25_b_for(_neural()) == 0.9
    assert RankingConfig(bm25_b=0).bm25_b_for(HashingEmbedder(64)) == 0


def test_a_neural_embedders_store_ranks_with_its_length_normalisation(neural_store: SqlMemoryAdapter) -> None:
    """By default the keyword list of a store with a neural embedder normalises lengths by
    its preference (0.3: the long record saying the word twice wins), on native and
    PostgreSQL alike; an explicit ``bm25_b`` wins, also on the unchanged store right after
    (a keyword list kept from the first search must not answer it)."""
    _fill(neural_store)
    assert _top(neural_store, None) == LONG
    assert _top(neural_store, 0.75) == SHORT
    assert _top(neural_store, None) == _top(neural_store, DENSE_BM25_B) == LONG


def test_the_hashing_embedders_store_keeps_classic_bm25(sql_store: SqlMemoryAdapter) -> None:
    _fill(sql_store)
    assert _top(sql_store, None) == _top(sql_store, 0.75) == SHORT
