"""The texts a search by words alone finds (``_native_words``), read without the search's
decoding: the same texts in the same order as the search's hits, on a real native store,
with recency and importance deciding between equal keyword scores."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mnemos.agents import _memops
from mnemos.memory_adapters import MemoryKind
from mnemos.memory_adapters.native import NativeMemoryAdapter, RankingConfig

NS = ("users", "ann")
WORDS = ["otter", "garden", "budget", "kettle", "violin", "ticket", "passport", "heron", "lamp", "river"]
BY_WORDS = _memops._BY_WORDS
NOW = datetime(2026, 3, 1, tzinfo=UTC)
TEXTS = ["the otter near the river", "budget for the garden kettle", "violin", "heron heron lamp ticket",
         "user: what did we decide about the passport?\nann: noted", "nothing here matches", "",
         "what activities has ann ever done with the otter?"]


@pytest.fixture
def store(tmp_path: Path) -> NativeMemoryAdapter:
    adapter = NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing:64", clock=lambda: NOW)
    adapter.add_many([
        {"content": f"note {i} about the {WORDS[i % 10]} and the {WORDS[(i * 3 + 1) % 10]}" + " more" * (i % 3),
         "namespace": NS, "kind": "episodic" if i % 4 else "semantic", "importance": (i % 7) / 7,
         "created_at": NOW - timedelta(days=i % 50)}
        for i in range(200)
    ])
    # the same text many times: equal keyword scores, ordered by recency and importance only
    adapter.add_many([{"content": "the otter near the river", "namespace": NS, "kind": "episodic",
                       "importance": (i % 5) / 5, "created_at": NOW - timedelta(days=3 * i)} for i in range(12)],
                      dedup=False)
    adapter.add_many([{"content": "the otter near the river", "namespace": ("users", "bob"), "kind": "episodic"}])
    adapter.add_many([{"content": "the otter near the river lamp", "namespace": NS, "kind": "episodic",
                       "expires_at": NOW - timedelta(seconds=1)}])
    yield adapter
    adapter.close()


def searched(store: NativeMemoryAdapter, text: str, kind: MemoryKind, limit: int, ranking: RankingConfig,
             namespace: tuple[str, ...] = NS) -> list[str]:
    return [h.record.content for h in store.search(text, namespace=namespace, kinds=kind, limit=limit,
                                                    ranking=ranking)]


@pytest.mark.parametrize("text", TEXTS)
def test_the_texts_are_the_searchs_hits_in_order(store: NativeMemoryAdapter, text: str) -> None:
    for ranking in (BY_WORDS, replace(BY_WORDS, keyword_statistics="store"), replace(BY_WORDS, fusion="rrf")):
        for kind in (MemoryKind.EPISODIC, MemoryKind.SEMANTIC):
            for limit in (1, 5, 30):
                found = store._word_match_contents(text, namespace=NS, kind=kind, limit=limit, ranking=ranking)
                if not text.strip():
                    assert found is None  # no text: a search lists the newest memories
                    continue
                assert found is not None
                assert found == searched(store, text, kind, limit, ranking)


def test_recency_and_importance_order_equal_keyword_scores(store: NativeMemoryAdapter) -> None:
    found = store._word_match_contents("otter river", namespace=NS, kind=MemoryKind.EPISODIC, limit=12,
                                       ranking=BY_WORDS)
    hits = store.search("otter river", namespace=NS, kinds=MemoryKind.EPISODIC, limit=12, ranking=BY_WORDS)
    assert found == [h.record.content for h in hits]
    equal = [h for h in hits if h.record.content == "the otter near the river"]
    assert len(equal) == 12
    assert [h.record.id for h in equal] != sorted(h.record.id for h in equal)  # not the insertion order


def test_a_scoped_view_and_other_namespaces(store: NativeMemoryAdapter) -> None:
    view = store.scoped("users")
    bob = store._word_match_contents("otter river", namespace=("users", "bob"), kind=MemoryKind.EPISODIC,
                                     limit=5, ranking=BY_WORDS)
    assert bob == ["the otter near the river"]
    assert view._word_match_contents("otter river", namespace=("ann",), kind=MemoryKind.EPISODIC, limit=5,
                                      ranking=BY_WORDS) == searched(store, "otter river", MemoryKind.EPISODIC,
                                                                    5, BY_WORDS)


@pytest.mark.parametrize("ranking", [
    RankingConfig(), RankingConfig(mode="hybrid", neighbour_weight=0.0), replace(BY_WORDS, neighbour_weight=0.5),
    replace(BY_WORDS, date_weight=0.3), replace(BY_WORDS, graph_hops=1), replace(BY_WORDS, entity_weight=0.2),
    replace(BY_WORDS, session_weight=0.1), replace(BY_WORDS, question_penalty=0.2),
])
def test_a_ranking_with_another_signal_is_left_to_the_search(store: NativeMemoryAdapter,
                                                              ranking: RankingConfig) -> None:
    assert store._word_match_contents("otter river", namespace=NS, kind=MemoryKind.EPISODIC, limit=5,
                                      ranking=ranking) is None


def test_a_kept_keyword_list_needs_no_mask(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second check of a text on the unchanged store takes the kept keyword list and
    makes no mask of the slots its query may see (nor counts them); the texts are the same."""
    from mnemos.memory_adapters._vectors import VectorCache

    masks: list[object] = []
    original = VectorCache.mask
    monkeypatch.setattr(VectorCache, "mask", lambda self, query: masks.append(query) or original(self, query))
    with NativeMemoryAdapter(tmp_path / "kept.db", embedder="hashing:64", clock=lambda: NOW) as store:
        store.add_many([{"content": f"note {i} about the {WORDS[i % 10]} and the {WORDS[(i * 3 + 1) % 10]}",
                         "namespace": NS} for i in range(50)])
        first = store._word_match_contents("otter river budget", namespace=NS, kind=MemoryKind.EPISODIC,
                                           limit=5, ranking=BY_WORDS)
        assert first and len(masks) == 1
        again = store._word_match_contents("otter river budget", namespace=NS, kind=MemoryKind.EPISODIC,
                                           limit=5, ranking=BY_WORDS)
        assert again == first and len(masks) == 1
        assert first == searched(store, "otter river budget", MemoryKind.EPISODIC, 5, BY_WORDS)
