"""The list bridge (``_lists``): items the best hits of a list question hold lift their other holders.

Real stores on the shared SQL core (native SQLite and PostgreSQL with pgvector,
the built-in hashing embedder) with synthetic conversations: "What does Nora
do to de-stress?" finds the turn that says "running ... to de-stress"; the
turn of another session that only says "went running by the river" shares
no word with the question and reaches the page only through the bridge, and
never from another namespace, another person, or past the query's filter.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from mnemos.memory_adapters._sql_adapter import SqlMemoryAdapter
from mnemos.memory_adapters.native import RankingConfig

NS = ("chat", "a")
QUERY = "What does Nora do to de-stress?"
OFF = RankingConfig(neighbour_weight=0, entity_weight=0, date_weight=0)
ON = replace(OFF, list_weight=0.8)


def _say(store: SqlMemoryAdapter, who: str, text: str, session: int, ns: tuple[str, ...] = NS) -> str:
    """A turn said by ``who`` (named in its metadata only, as a chat log would keep it)."""
    return store.add(text, namespace=ns, metadata={"session": session, "speaker": who}).id


def _conversation(store: SqlMemoryAdapter) -> tuple[str, str]:
    """The seed turn and the turn only the bridge reaches."""
    seed = _say(store, "Nora", "Long runs help me de-stress, so I keep running farther.", 1)
    river = _say(store, "Nora", "Went running by the river at dawn, lovely light.", 7)
    _say(store, "Omar", "Running in the rain again this morning, soaked.", 8)  # Omar's, not Nora's
    for i in range(14):  # turns sharing the question's words, holding no item of the kind
        _say(store, "Omar" if i % 2 else "Nora", f"Does Nora feel stress at work, round {i}?", 20 + i)
    return seed, river


def _ids(store: SqlMemoryAdapter, ranking: RankingConfig, **kwargs: object) -> list[str]:
    return [h.record.id for h in store.search(QUERY, namespace=NS, limit=5, ranking=ranking, **kwargs)]  # type: ignore[arg-type]


def test_the_items_of_the_best_hits_bring_their_other_holders(sql_store: SqlMemoryAdapter) -> None:
    seed, river = _conversation(sql_store)
    assert seed in _ids(sql_store, OFF) and river not in _ids(sql_store, OFF)
    hits = sql_store.search(QUERY, namespace=NS, limit=5, ranking=ON)
    assert river in [h.record.id for h in hits]
    hit = next(h for h in hits if h.record.id == river)
    reason = next(r for r in hit.reasons if r.signal == "list")
    assert reason.contribution > 0 and "running" in reason.detail
    assert hit.score == pytest.approx(sum(r.contribution for r in hit.reasons))
    # the other person's mention of the item gains nothing: Nora was asked about
    assert all(r.signal != "list" for h in sql_store.search(QUERY, namespace=NS, limit=30, ranking=ON)
               if h.record.metadata.get("speaker") == "Omar" for r in h.reasons)


def test_the_bridge_stays_in_the_scope_and_the_filter(sql_store: SqlMemoryAdapter) -> None:
    _seed, river = _conversation(sql_store)
    elsewhere = _say(sql_store, "Nora", "Went running along the canal, then coffee.", 9, ns=("chat", "b"))
    above = _say(sql_store, "Nora", "Went running round the park with the dog.", 9, ns=("chat",))
    found = {h.record.id for h in sql_store.search(QUERY, namespace=NS, limit=50, ranking=ON)}
    assert river in found and not found & {elsewhere, above}
    # the other namespace's bridge reaches its own memories only
    other = _say(sql_store, "Nora", "Long runs help me de-stress, running is my thing.", 1, ns=("chat", "b"))
    found = {h.record.id for h in sql_store.search(QUERY, namespace=("chat", "b"), limit=50, ranking=ON)}
    assert found == {other, elsewhere}
    # a holder the filter hides is not admitted
    assert river not in _ids(sql_store, ON, filter={"session": {"$lt": 5}})
    sql_store.delete(river)
    assert river not in _ids(sql_store, ON)


def test_questions_that_ask_for_no_list_take_no_bridge(sql_store: SqlMemoryAdapter) -> None:
    _conversation(sql_store)
    for query in ("When did Nora go running?", "Is the report due today?", "running by the river"):
        for hit in sql_store.search(query, namespace=NS, limit=20, ranking=ON):
            assert all(r.signal != "list" for r in hit.reasons)


def test_an_excluded_item_is_not_bridged(sql_store: SqlMemoryAdapter) -> None:
    """ "Besides running": the seed turn holds running, but its other holders must not gain."""
    _seed, river = _conversation(sql_store)
    query = "Besides running, what does Nora do to de-stress?"
    hits = sql_store.search(query, namespace=NS, limit=30, ranking=ON)
    assert all("running" not in r.detail for h in hits for r in h.reasons if r.signal == "list")
    assert any(h.record.id == river for h in hits)  # found (it says "running"), but not bridged
