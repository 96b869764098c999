"""Consolidation on a real native store with planted near-duplicates: merged, none lost, reversible."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mnemos.cli import app
from mnemos.memory_adapters.base import MemoryKind
from mnemos.memory_adapters.consolidation import (
    consolidate,
    novelty,
    reinforce,
    similarity,
    unmerge,
)
from mnemos.memory_adapters.native import NativeMemoryAdapter

FACTS = [
    "Alice lives in Lisbon with her two cats",
    "The quarterly report is due on the fifth of March",
    "Bob is allergic to peanuts and shellfish",
    "The office wifi password is taped under the router",
    "Carol plays the cello in a community orchestra",
    "The car needs new winter tyres before December",
    "Dan prefers his coffee black with no sugar",
    "The spare house key is with the neighbour at number 12",
]
# the same facts said again, a little differently (case, punctuation, a filler word)
NEAR_DUPLICATES = [
    "alice lives in Lisbon with her two cats.",
    "The quarterly report is due on the fifth of March!",
    "Bob is allergic to peanuts and to shellfish",
    "the office wifi password is taped under the router",
    "Carol plays the cello in a community orchestra.",
]
# look alike, but say something else: must never be merged
TRAPS = [
    "The quarterly report is due on the sixth of March",
    "Alice lives in Porto with her two cats",
    "Dan prefers his tea black with no sugar",
]


@pytest.fixture
def store(tmp_path: Path) -> NativeMemoryAdapter:
    adapter = NativeMemoryAdapter(tmp_path / "m.db")
    yield adapter
    adapter.close()


def _plant(store: NativeMemoryAdapter, kind: str = "semantic") -> dict[str, str]:
    ids = {}
    for text in FACTS + NEAR_DUPLICATES + TRAPS:
        ids[text] = store.add(text, namespace=("users", "u1"), kind=kind, dedup=False).id
    return ids


@pytest.mark.parametrize("kind", ["semantic", "episodic"])
def test_near_duplicates_merge_and_no_fact_is_lost(store: NativeMemoryAdapter, kind: str) -> None:
    ids = _plant(store, kind)
    report = consolidate(store, ("users",), decay_after_days=None)
    assert report.merged == len(NEAR_DUPLICATES)
    assert len(report.merges) == len(NEAR_DUPLICATES)
    merged_ids = {i for m in report.merges for i in m.merged} | {m.survivor for m in report.merges}
    assert not merged_ids & {ids[t] for t in TRAPS}  # different facts stay apart
    live = store.list(namespace=("users",), limit=None)
    assert len(live) == len(FACTS) + len(TRAPS)
    # every original is still stored, unchanged, and reachable from its survivor
    for text, memory_id in ids.items():
        assert store.get(memory_id).content == text
    for merge in report.merges:
        survivor = store.get(merge.survivor)
        assert survivor.metadata["merged_from"] == merge.merged
        for original in merge.merged:
            record = store.get(original)
            assert record.superseded_by == merge.survivor and record.metadata["merged_into"] == merge.survivor
    # search finds each fact once, from its survivor
    hits = store.search("Bob allergic peanuts shellfish", namespace=("users",), limit=5)
    assert sum("allergic" in h.record.content for h in hits) == 1


def test_merges_are_reversible_and_dry_run_changes_nothing(store: NativeMemoryAdapter) -> None:
    _plant(store)
    before = {r.id: (r.content, r.version) for r in store.list(namespace=(), limit=None)}
    preview = consolidate(store, dry_run=True)
    assert preview.merged == len(NEAR_DUPLICATES)
    assert {r.id: (r.content, r.version) for r in store.list(namespace=(), limit=None)} == before
    report = consolidate(store, decay_after_days=None)
    for merge in report.merges:
        assert sorted(unmerge(store, merge.survivor)) == sorted(merge.merged)
    assert {r.id for r in store.list(namespace=(), limit=None)} == set(before)
    assert consolidate(store, decay_after_days=None).merged == len(NEAR_DUPLICATES)  # and again


def test_consolidation_keeps_to_one_namespace(store: NativeMemoryAdapter) -> None:
    store.add("Alice lives in Lisbon", namespace=("users", "a"), kind="semantic")
    store.add("Alice lives in Lisbon.", namespace=("users", "b"), kind="semantic", dedup=False)
    assert consolidate(store, decay_after_days=None).merged == 0


def test_used_memories_gain_importance_and_unused_ones_decay(tmp_path: Path) -> None:
    now = [NativeMemoryAdapter(tmp_path / "clock.db").now()]
    store = NativeMemoryAdapter(tmp_path / "m.db", clock=lambda: now[0])
    try:
        used = store.add("The boat is moored at pier four", namespace=("n",), kind="semantic")
        idle = store.add("The bakery closes at six", namespace=("n",), kind="semantic")
        assert reinforce(store, [used.id]) == 1
        assert store.get(used.id).importance == pytest.approx(0.55)
        assert store.get(used.id).metadata["used_count"] == 1
        now[0] = now[0] + timedelta(days=20)
        reinforce(store, [used.id])
        now[0] = now[0] + timedelta(days=20)  # idle: 40 days unused; used: 20 days ago
        report = consolidate(store, decay_after_days=30)
        assert report.decayed == 1
        assert store.get(idle.id).importance == pytest.approx(0.45)
        assert store.get(used.id).importance == pytest.approx(0.6)
    finally:
        store.close()


def test_novelty_is_high_for_new_and_low_for_known_text(store: NativeMemoryAdapter) -> None:
    store.add("Alice lives in Lisbon with her two cats", namespace=("n",), kind="semantic")
    assert novelty(store, ("n",), "alice lives in lisbon with her two cats") == 0.0
    assert novelty(store, ("n",), "The printer on floor three is out of toner") == 1.0
    assert similarity("a b c", "a b d") == 0.5



def test_word_sets_are_the_regex_words_and_stored_texts_are_split_once() -> None:
    """An ASCII text is split without the regular expression, into the same words; the
    texts a novelty check compares with (the same few matches turn after turn) are split once."""
    import re

    from mnemos.memory_adapters import consolidation

    every_ascii = "".join(map(chr, range(128)))
    texts = [every_ascii, every_ascii[::-1], "Step_3: it's 10:30, don't\tSTOP!\x1cnow__x", "Café ÉTÉ naïve ß ﬁ", ""]
    for text in texts:
        assert consolidation._words(text) == set(re.findall(r"\w+", text.casefold()))
    stored = ["the heat pumps report is due", "the boiler permit, note 2655"]
    consolidation._stored_words.cache_clear()
    first = consolidation.best_similarity("user: the heat pumps report?", stored)
    assert consolidation.best_similarity("user: the heat pumps report?", stored) == first == 4 / 7
    assert consolidation._stored_words.cache_info().hits == 2


def test_cli_consolidate_json_and_undo(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    with NativeMemoryAdapter(db) as store:
        _plant(store)
    runner = CliRunner()
    out = runner.invoke(app, ["memory", "consolidate", "--store", str(db), "--json"])
    assert out.exit_code == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["merged"] == len(NEAR_DUPLICATES)
    survivor = report["merges"][0]["survivor"]
    undone = runner.invoke(app, ["memory", "consolidate", "--store", str(db), "--undo", survivor])
    assert undone.exit_code == 0 and "restored 1" in undone.stdout
    again = runner.invoke(app, ["memory", "consolidate", "--store", str(db), "--undo", survivor])
    assert again.exit_code == 2 and "no merged originals" in again.stderr
    with NativeMemoryAdapter(db) as store:
        assert len(store.list(namespace=(), kinds=MemoryKind.SEMANTIC, limit=None)) == (
            len(FACTS) + len(TRAPS) + 1)
