"""benchmarks/locomo_retrieval.py times the search a caller makes: search(text), the adapter embedding it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from test_eval import locomo_file

from mnemos.memory_adapters.embedders import HashingEmbedder

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_search_with_query_embedding_is_a_search_that_embeds_the_question(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each question is embedded once beforehand (the "query embedding" column) and once more
    inside the timed search with its embedding, not looked up in the table of the first."""
    pytest.importorskip("rank_bm25")
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import locomo_retrieval
    finally:
        sys.path.remove(str(BENCHMARKS))
    from rich.console import Console

    from mnemos.memory_adapters.native import RankingConfig

    embedded: list[str] = []
    real = HashingEmbedder.embed_query

    def counting(self: HashingEmbedder, text: str) -> Any:
        embedded.append(text)
        return real(self, text)

    monkeypatch.setattr(HashingEmbedder, "embed_query", counting)
    path = locomo_file(tmp_path / "tiny.json")
    conversation = locomo_retrieval.load_conversation(path)
    run = locomo_retrieval.Run("hashing", [5], {"native": RankingConfig()}, False, Console(quiet=True))
    run.execute([conversation])
    report = run.report()
    questions = [q.text for q in conversation.questions]
    assert sorted(embedded) == sorted(questions * 2)
    assert report["search_with_query_embedding"]["n"] == len(questions)
    assert report["search_plus_query_embedding"]["n"] == len(questions)
    assert report["systems"]["native"]["search_latency"]["n"] == len(questions)
