"""The typed items kept with each memory (``entity_items``, ``entity_df``) on both SQL stores.

They are written in the memory's transaction and go with it (update, delete,
purge, erase); the second round of a typed question reads them by index and
gives exactly what the reference computation over the scope's texts gives
(``_episodic_graph.typed_gains``), never a foreign namespace's; an older store
is upgraded on open (its items derived once), and one opened read-only still
answers from its texts. Real SQLite and PostgreSQL (``pgvector_url`` fixture).
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mnemos.memory_adapters import _episodic_graph as eg
from mnemos.memory_adapters._entity_items import entity_steps, run_sqlite
from mnemos.memory_adapters._native_schema import ns_range
from mnemos.memory_adapters._sql_adapter import SqlMemoryAdapter
from mnemos.memory_adapters.conformance import ManualClock
from mnemos.memory_adapters.native import NativeMemoryAdapter, RankingConfig

WORDS = ["kitten", "parrot", "dog", "kayaking", "pottery", "hiking", "Lisbon", "Bergen", "Porto", "guitar",
         "cake", "festival", "sister", "friend", "Nora", "Omar", "the", "a", "went", "with", "our", "saw"]


def _rows(store: SqlMemoryAdapter, sql: str) -> list[tuple[Any, ...]]:
    with store._reading() as conn:
        return [tuple(r) for r in conn.execute(sql).fetchall()]


def _items(store: SqlMemoryAdapter) -> set[tuple[str, str, str]]:
    """(kind, ns, item) of every kept item, for every memory."""
    return {(k, ns, i) for k, ns, i in _rows(store, "SELECT kind, ns, item FROM entity_items")}


def _df(store: SqlMemoryAdapter) -> dict[tuple[str, str, str], int]:
    return {(k, ns, i): int(n) for k, ns, i, n in _rows(store, "SELECT kind, ns, item, n FROM entity_df")}


def test_items_are_kept_with_the_memory_and_go_with_it(sql_store: SqlMemoryAdapter, sql_clock: ManualClock) -> None:
    start = sql_clock()
    say = lambda text, ns, who, **kw: sql_store.add(text, namespace=ns, metadata={"speaker": who}, **kw)  # noqa: E731
    cat = say("Our kitten chased the parrot", ("a",), "Nora")
    say("The kitten sleeps all day", ("a",), "Omar")
    say("We went kayaking", ("a",), "Nora", expires_at=start + timedelta(days=1))
    say("My kitten is grey", ("b",), "Zed")
    assert {("animal", "a/", "kitten"), ("animal", "a/", "parrot"), ("", "a/", "nora"),
            ("activity", "a/", "kayaking"), ("animal", "b/", "kitten")} <= _items(sql_store)
    assert _df(sql_store)[("animal", "a/", "kitten")] == 2 and _df(sql_store)[("", "a/", "nora")] == 2
    sql_store.update(cat.id, content="Our puppy chased the ball")
    assert ("animal", "a/", "parrot") not in _items(sql_store) and ("animal", "a/", "puppy") in _items(sql_store)
    assert _df(sql_store)[("animal", "a/", "kitten")] == 1
    sql_store.delete(cat.id)
    assert ("animal", "a/", "puppy") not in _items(sql_store)
    assert ("animal", "a/", "puppy") not in _df(sql_store)
    sql_clock.set(start + timedelta(days=2))
    sql_store.purge()
    assert ("activity", "a/", "kayaking") not in _items(sql_store) | set(_df(sql_store))
    sql_store.erase(("a",))
    assert {ns for _, ns, _ in _items(sql_store) | set(_df(sql_store))} == {"b/"}


def _corpus(store: SqlMemoryAdapter, seed: int) -> None:
    rng = random.Random(seed)
    for ns in (("p",), ("p", "q"), ("x",)):
        store.add_many([
            {"content": " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) + ".", "namespace": ns,
             "metadata": {"speaker": rng.choice(["Nora", "Omar", "Ida"])} if rng.random() < 0.9 else {}}
            for _ in range(120)
        ])


@pytest.mark.parametrize("prefix", [("p", "q"), ("p",)])  # one namespace, and two under a prefix
def test_kept_items_give_the_reference_gains_by_index(sql_store: SqlMemoryAdapter, prefix: tuple[str, ...]) -> None:
    _corpus(sql_store, 5)
    _, params = ns_range(prefix, "ns")
    texts = _rows(sql_store, "SELECT rowid, ns, content, provenance, metadata FROM memories ORDER BY rowid")
    low, high = (params[0], params[1]) if params else ("", "\uffff")
    rows, people = eg.derived_rows(t for t in texts if low <= t[1] < high)
    ids = [t[0] for t in texts if low <= t[1] < high]
    foreign = {t[0] for t in texts} - set(ids)
    rng = random.Random(1)
    for text in ("What pets does Nora have?", "What activities does Omar do?", "Which cities has Ida visited?",
                 "Who are Nora's friends?", "What do they like?"):
        planned = eg.plan(text, 0.2)
        for limit in (5, 100):
            keep = rng.sample(ids, 30)
            got = _gains(sql_store, text, prefix, keep, limit)
            want = eg.typed_gains(rows, planned[0], people, planned[1], 0.2, keep, limit) if planned else {}
            assert got == want, text
            assert not set(got) & foreign


def _gains(store: SqlMemoryAdapter, text: str, prefix: tuple[str, ...], keep: list[int],
           limit: int) -> dict[int, tuple[str, float]]:
    """The second round as the store computes it, read by index."""
    if isinstance(store, NativeMemoryAdapter):
        with store._reading() as conn:
            return run_sqlite(conn, entity_steps(text, prefix, ns_range, 0.2, keep, limit))
    from mnemos.memory_adapters._entity_items import entity_steps as steps
    from mnemos.memory_adapters._postgres_io import fetch, run
    from mnemos.memory_adapters._postgres_store import ns_cond

    def driven() -> Any:
        gen = steps(text, prefix, lambda p, c: (ns_cond(p, c)[0].replace("%s", "?"), ns_cond(p, c)[1]),
                    0.2, keep, limit)
        try:
            sql, args = next(gen)
            while True:
                sql, args = gen.send(list((yield from fetch(sql.replace("?", "%s"), args))))
        except StopIteration as done:
            return done.value

    with store._reading() as conn:
        return run(conn, driven())  # type: ignore[no-any-return]


def test_a_typed_question_reads_no_text_of_the_scope(tmp_path: Path) -> None:
    store = NativeMemoryAdapter(tmp_path / "m.db", embedder="hashing:64")
    store.add_many([{"content": f"Note {i}: our kitten slept, the parrot talked.", "namespace": ("a",),
                     "metadata": {"speaker": "Nora"}} for i in range(50)])
    seen: list[str] = []
    with store._reading() as conn:
        conn.set_trace_callback(seen.append)
        try:
            gains = run_sqlite(conn, entity_steps("What pets does Nora have?", ("a",), ns_range, 0.2, []))
        finally:
            conn.set_trace_callback(None)
    assert len(gains) == 50
    assert seen and not any("memories" in statement.replace("entity_", "") for statement in seen)
    store.close()


def _downgrade(path: Path) -> None:
    """Make ``path`` what an older mnemos wrote: schema version 1, no kept items."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(
        "DROP TRIGGER memories_ad_items; DROP TRIGGER entity_items_ai; DROP TRIGGER entity_items_ad;"
        "DROP TABLE entity_items; DROP TABLE entity_df; DELETE FROM meta WHERE key = 'entity_items';"
        "UPDATE meta SET value = '1' WHERE key = 'schema_version';"
    )
    conn.close()


def test_an_older_store_answers_read_only_and_is_upgraded_on_open(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    store = NativeMemoryAdapter(path, embedder="hashing:64")
    pets = [store.add(text, namespace=("a",), metadata={"speaker": "Nora"}).id
            for text in ("Our kitten broke a vase.", "The parrot says hello.")]
    for i in range(12):
        store.add(f"Does Nora have a minute, round {i}?", namespace=("a",), metadata={"speaker": "Omar"})
    ranking = RankingConfig(neighbour_weight=0, entity_weight=0.3)
    query = "What pets does Nora have?"
    before = [h.record.id for h in store.search(query, namespace=("a",), limit=20, ranking=ranking)]
    assert set(pets) <= set(before)
    store.close()
    _downgrade(path)
    reader = NativeMemoryAdapter(path, embedder="hashing:64", read_only=True)  # derived from the texts
    assert [h.record.id for h in reader.search(query, namespace=("a",), limit=20, ranking=ranking)] == before
    reader.close()
    store = NativeMemoryAdapter(path, embedder="hashing:64")
    assert store.stats()["schema_version"] == 2
    assert ("animal", "a/", "kitten") in _items(store)
    assert [h.record.id for h in store.search(query, namespace=("a",), limit=20, ranking=ranking)] == before
    store.close()


def test_items_kept_by_another_version_are_derived_again_on_open(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    store = NativeMemoryAdapter(path, embedder="hashing:64")
    store.add("Our kitten broke a vase.", namespace=("a",))
    with store._writing() as conn:
        conn.execute("DELETE FROM entity_items")
        conn.execute("UPDATE meta SET value = 'old' WHERE key = 'entity_items'")
    store.close()
    store = NativeMemoryAdapter(path, embedder="hashing:64")
    assert ("animal", "a/", "kitten") in _items(store)
    assert _rows(store, "SELECT value FROM meta WHERE key = 'entity_items'") == [(eg.ITEMS_VERSION,)]
    assert _df(store)[("animal", "a/", "kitten")] == 1
    store.add("The kitten sleeps all day.", namespace=("a",))  # the counters follow writes again
    assert _df(store)[("animal", "a/", "kitten")] == 2
    store.close()


def test_items_kept_by_the_previous_extraction_are_derived_again_on_open(tmp_path: Path) -> None:
    """A store written when "-ing" words of captions and posture counted as activities
    (items version 2) keeps the new extraction's items after it is opened once."""
    path = tmp_path / "m.db"
    store = NativeMemoryAdapter(path, embedder="hashing:64")
    store.add("Nora: Look! [shared an image: a woman standing by a kiln]", namespace=("a",))
    with store._writing() as conn:
        memory = conn.execute("SELECT rowid FROM memories").fetchone()[0]
        conn.execute("INSERT OR IGNORE INTO entity_items (kind, ns, item, memory, speaker) "
                     "VALUES ('activity', 'a/', 'standing', ?, NULL)", (memory,))
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'entity_items'")
    assert ("activity", "a/", "standing") in _items(store)
    store.close()
    store = NativeMemoryAdapter(path, embedder="hashing:64")
    assert ("activity", "a/", "standing") not in _items(store)
    assert _rows(store, "SELECT value FROM meta WHERE key = 'entity_items'") == [(eg.ITEMS_VERSION,)]
    store.close()


@pytest.mark.pgvector
def test_a_postgres_store_of_version_3_is_upgraded_with_its_items(pg_schemas: Any) -> None:
    from mnemos.memory_adapters.postgres import PostgresMemoryAdapter

    url = pg_schemas.new_url()
    store = PostgresMemoryAdapter(url, embedder="hashing:64")
    store.add("Our kitten broke a vase.", namespace=("a",), metadata={"speaker": "Nora"})
    with store._writing() as conn:
        conn.execute("DROP TABLE entity_items; DROP TABLE entity_df; DROP FUNCTION entity_df_count()")
        conn.execute("DELETE FROM meta WHERE key = 'entity_items'")
        conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    store.close()
    store = PostgresMemoryAdapter(url, embedder="hashing:64")
    assert store.stats()["schema_version"] >= 4
    assert {("animal", "a/", "kitten"), ("", "a/", "nora")} <= _items(store)
    hits = store.search("What pets does Nora have?", namespace=("a",), ranking=replace(RankingConfig(), entity_weight=0.3))
    assert any(r.signal == "entity" for h in hits for r in h.reasons)
    store.close()
