"""A search embeds its query on a worker thread while its keyword search runs on the caller's."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from mnemos.memory_adapters import _native_search
from mnemos.memory_adapters.embedders import HashingEmbedder
from mnemos.memory_adapters.native import NativeMemoryAdapter


class WaitsForTheKeywordSearch(HashingEmbedder):
    """The hashing embedder, declared to embed outside the GIL like a model; a query's
    embedding waits (up to 5 s) until the keyword search has begun, and records whether it did."""

    parallel_query = True

    def __init__(self) -> None:
        super().__init__(256)
        self.keyword_started = threading.Event()
        self.overlapped: list[bool] = []
        self.threads: list[int] = []

    def embed_query(self, text: str) -> Any:
        self.threads.append(threading.get_ident())
        self.overlapped.append(self.keyword_started.wait(5))
        return super().embed_query(text)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[NativeMemoryAdapter, WaitsForTheKeywordSearch]:
    embedder = WaitsForTheKeywordSearch()
    adapter = NativeMemoryAdapter(tmp_path / "memory.db", embedder=embedder)
    adapter.add_many([
        {"content": text, "namespace": ["u"]}
        for text in (
            "Caroline painted a sunrise over the lake last week.",
            "Melanie adopted a guinea pig named Oscar.",
            "The pottery class meets on Tuesdays.",
        )
    ])
    real = _native_search.keyword_match

    def keyword_match(*args: Any, **kwargs: Any) -> Any:
        embedder.keyword_started.set()
        return real(*args, **kwargs)

    monkeypatch.setattr(_native_search, "keyword_match", keyword_match)
    yield adapter, embedder
    adapter.close()


def test_the_query_embedding_runs_beside_the_keyword_search(store: Any) -> None:
    adapter, embedder = store
    hits = adapter.search("what did Caroline paint", limit=2)
    assert hits[0].record.content.startswith("Caroline painted")
    assert embedder.overlapped == [True]
    assert embedder.threads != [threading.get_ident()]
    # the same text again is served from the store's table of recent query vectors
    embedder.keyword_started.clear()
    assert adapter.search("what did Caroline paint", limit=2)[0].record.id == hits[0].record.id
    assert embedder.overlapped == [True]


def test_search_by_kind_embeds_once_beside_the_keyword_search(store: Any) -> None:
    adapter, embedder = store
    found = adapter.search_by_kind("guinea pig", {"episodic": 2, "semantic": 2})
    assert embedder.overlapped == [True]
    assert any(hit.record.content.startswith("Melanie") for hits in found.values() for hit in hits)


def test_an_embedder_that_holds_the_gil_embeds_on_the_callers_thread(tmp_path: Path) -> None:
    calls: list[int] = []

    class Counting(HashingEmbedder):
        def embed_query(self, text: str) -> Any:
            calls.append(threading.get_ident())
            return super().embed_query(text)

    adapter = NativeMemoryAdapter(tmp_path / "memory.db", embedder=Counting(256))
    try:
        adapter.add("Melanie adopted a guinea pig named Oscar.", namespace=["u"])
        assert adapter.search("guinea pig", limit=1)
        assert calls == [threading.get_ident()]
    finally:
        adapter.close()
