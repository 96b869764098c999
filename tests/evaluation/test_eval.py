"""``mnemos eval`` on LoCoMo-format and JSONL files, against ``benchmarks/locomo_retrieval.py``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mnemos.cli import app
from mnemos.evaluation import answer_supported, load_eval_set, parse_config, run_eval
from mnemos.exceptions import UsageError
from mnemos.memory_adapters.native import NativeMemoryAdapter

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"

_FACTS = [
    ("Caroline", "I adopted a grey cat called Pixel last spring."),
    ("Melanie", "That's lovely! I started pottery classes on Tuesdays."),
    ("Caroline", "My sister Ana lives in Porto and teaches chemistry."),
    ("Melanie", "I ran my first half marathon in Lisbon in October."),
    ("Caroline", "We painted the kitchen yellow over the weekend."),
    ("Melanie", "My favourite book is The Left Hand of Darkness."),
    ("Caroline", "I'm learning to play the cello with a teacher from Vienna."),
    ("Melanie", "The pottery teacher showed us how to glaze bowls."),
    ("Caroline", "Pixel the cat knocked over my cello stand yesterday."),
    ("Melanie", "Next month I am flying to Porto for a conference."),
]


def locomo_file(path: Path) -> Path:
    """A small conversation in LoCoMo's release format (two sessions, questions with evidence)."""
    body: dict[str, Any] = {"speaker_a": "Caroline", "speaker_b": "Melanie"}
    for session in (1, 2):
        turns = _FACTS[(session - 1) * 5 : session * 5]
        body[f"session_{session}_date_time"] = f"1:56 pm on {session + 7} May, 2023"
        body[f"session_{session}"] = [
            {"speaker": s, "dia_id": f"D{session}:{i}", "text": t}
            for i, (s, t) in enumerate(turns, start=1)
        ]
    qa = [
        {"question": "What is the name of Caroline's cat?", "answer": "Pixel",
         "evidence": ["D1:1"], "category": 4},
        {"question": "Where does Caroline's sister live?", "answer": "Porto",
         "evidence": ["D1:3"], "category": 4},
        {"question": "What classes does Melanie take and what did she learn there?",
         "answer": "pottery, glazing bowls", "evidence": ["D1:2; D2:3"], "category": 1},
        {"question": "Which instrument is Caroline learning?", "answer": "cello",
         "evidence": ["D2:2"], "category": 4},
        {"question": "When did Melanie run a half marathon?", "answer": "October",
         "evidence": ["D1:4"], "category": 2},
        {"question": "What did Melanie say about her brother?", "adversarial_answer": "nothing",
         "evidence": ["D2:1"], "category": 5},
    ]
    path.write_text(json.dumps({"sample_id": "tiny", "conversation": body, "qa": qa}), encoding="utf-8")
    return path


def benchmark_native(paths: list[Path], ks: list[int]) -> dict[str, Any]:
    """The ``native`` row of benchmarks/locomo_retrieval.py, run in this process."""
    pytest.importorskip("rank_bm25")
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import locomo_retrieval
        from rich.console import Console

        from mnemos.memory_adapters.native import RankingConfig

        run = locomo_retrieval.Run("hashing", ks, {"native": RankingConfig()}, False, Console(quiet=True))
        run.execute([locomo_retrieval.load_conversation(p) for p in paths])
        return run.report()["systems"]["native"]
    finally:
        sys.path.remove(str(BENCHMARKS))


def cli_eval(*args: str) -> Any:
    result = CliRunner().invoke(app, ["eval", *args, "--json"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def _same(report: dict[str, Any], native: dict[str, Any], ks: list[int]) -> None:
    keys = [f"recall@{k}" for k in ks] + [f"hit@{k}" for k in ks] + ["mrr", "n"]
    assert {k: report["overall"][k] for k in keys} == pytest.approx(
        {k: native["overall"][k] for k in keys}
    )
    assert report["by_category"].keys() == native["by_category"].keys()
    for name, row in native["by_category"].items():
        assert report["by_category"][name] == pytest.approx(row)


def test_eval_reproduces_the_benchmark_on_a_locomo_file(tmp_path: Path) -> None:
    path = locomo_file(tmp_path / "tiny.json")
    report = cli_eval(str(path), "--k", "1,3")
    _same(report, benchmark_native([path], [1, 3]), [1, 3])
    assert report["overall"]["n"] == 5  # the adversarial question is left out of overall
    assert report["memories"] == 10
    assert report["search_latency"]["n"] == 6
    assert report["context"]["memories_mean"] > 0


@pytest.mark.skipif(not os.environ.get("MNEMOS_LOCOMO_DIR"), reason="set MNEMOS_LOCOMO_DIR to the LoCoMo files")
def test_eval_reproduces_the_benchmark_on_real_locomo() -> None:
    """On the first real LoCoMo conversation found in $MNEMOS_LOCOMO_DIR (a few seconds)."""
    path = sorted(Path(os.environ["MNEMOS_LOCOMO_DIR"]).glob("*.json"))[0]
    report = cli_eval(str(path), "--k", "5,10")
    _same(report, benchmark_native([path], [5, 10]), [5, 10])


def test_jsonl_with_memories_and_two_configs_side_by_side(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    lines = [
        {"id": "m1", "content": "Alice moved to Lisbon in May."},
        {"id": "m2", "content": "Bob's dog is called Rex."},
        {"id": "m3", "content": "The team meets every Thursday at ten."},
        {"question": "Where does Alice live now?", "evidence": ["m1"], "answer": "Lisbon"},
        {"question": "What is the dog's name?", "evidence": ["m2"], "answer": "Rex"},
        {"question": "When does the team meet?", "evidence": ["m3"]},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    both = cli_eval(str(path), "--k", "1,2", "--config", "name=hybrid",
                    "--config", "name=keyword,mode=keyword")
    first, second = both["configs"]
    assert first["config"]["name"] == "hybrid" and second["config"]["ranking"] == {"mode": "keyword"}
    assert first["overall"]["n"] == 3 and first["overall"]["hit@2"] == 1.0
    table = CliRunner().invoke(app, ["eval", str(path), "--config", "name=A",
                                     "--config", "name=B,mode=vector"], env={"COLUMNS": "160"})
    assert table.exit_code == 0, table.stderr
    assert "recall@5" in table.stdout and "Δ (2 − 1)" in table.stdout


def test_answers_with_the_offline_model_are_graded(tmp_path: Path) -> None:
    path = locomo_file(tmp_path / "tiny.json")
    report = run_eval([load_eval_set(path)], ks=[3], model=_offline())
    answers = report["answers"]
    assert answers["questions"] == 5  # the adversarial question has no gold answer
    assert 0 <= answers["accuracy"] <= 1
    # the offline model repeats a recalled line: every answer it gives is supported
    assert answers["hallucination_rate"] == 0.0
    sample = answers["samples"][0]
    assert sample["gold"] == "Pixel" and sample["answer"].startswith("Based on what I remember")
    assert sample["supported"] is True


def _offline() -> Any:
    from mnemos.agents.models import resolve_model

    return resolve_model("offline")


def test_hallucination_proxy() -> None:
    memories = ["Alice moved to Lisbon in May.", "Bob's dog is called Rex."]
    assert answer_supported("Alice lives in Lisbon.", memories)
    assert not answer_supported("Alice lives in Lisbon. She owns three horses in Texas.", memories)


def test_question_only_jsonl_runs_against_a_store(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with NativeMemoryAdapter(db) as store:
        store.add("The boiler is serviced every October.", namespace=("docs",),
                  kind="semantic", metadata={"section": "Home > Boiler"})
        store.add("Bins go out on Monday night.", namespace=("docs",),
                  kind="semantic", metadata={"section": "Home > Bins"})
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"question": "when are the bins collected",
                                     "evidence": ["Home > Bins"]}) + "\n", encoding="utf-8")
    report = cli_eval(str(questions), "--store", str(db), "--ns", "docs",
                      "--evidence-key", "section", "--k", "1")
    assert report["overall"]["recall@1"] == 1.0 and report["memories"] == 0
    missing = CliRunner().invoke(app, ["eval", str(questions)])
    assert missing.exit_code == 2 and "--store" in missing.stderr


def test_bad_input_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "evidence": []}\n', encoding="utf-8")
    with pytest.raises(UsageError, match="evidence"):
        load_eval_set(bad)
    with pytest.raises(UsageError, match="unknown --config key"):
        parse_config("rrf=3")
    result = CliRunner().invoke(app, ["eval", str(tmp_path / "none.json")])
    assert result.exit_code == 2 and "no such file" in result.stderr


def test_an_optional_number_is_parsed_as_a_number_or_none() -> None:
    """``bm25_b`` defaults to None (the embedder's preference): a number or ``none`` sets it."""
    assert parse_config("bm25_b=0.3").ranking.bm25_b == 0.3
    assert parse_config("bm25_b=none").ranking.bm25_b is None
    with pytest.raises(UsageError, match="bm25_b is a number"):
        parse_config("bm25_b=low")


def _consolidation_benchmark() -> Any:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import consolidation

        return consolidation
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_consolidation_with_planted_copies_keeps_every_fact_and_recall(tmp_path: Path) -> None:
    bench = _consolidation_benchmark()
    report = bench.measure([locomo_file(tmp_path / "tiny.json")], plant=0.5, embedder="hashing", ks=[3])
    assert report["planted_copies"] > 0
    assert report["merged"] == report["planted_copies"] and report["facts_lost"] == 0
    recall = report["recall"]
    assert recall["consolidated"]["recall@3"] >= recall["clean"]["recall@3"]


@pytest.mark.skipif(not os.environ.get("MNEMOS_LOCOMO_DIR"), reason="set MNEMOS_LOCOMO_DIR to the LoCoMo files")
def test_consolidation_on_real_locomo_is_no_worse() -> None:
    path = sorted(Path(os.environ["MNEMOS_LOCOMO_DIR"]).glob("*.json"))[0]
    report = _consolidation_benchmark().measure([path], plant=0.1, embedder="hashing", ks=[10])
    assert report["facts_lost"] == 0 and report["merged"] >= report["planted_copies"]
    assert report["recall"]["consolidated"]["recall@10"] >= report["recall"]["clean"]["recall@10"] - 0.005
