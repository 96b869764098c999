"""MnemosStore follows LangGraph's store contract: the same tests pass on LangGraph's own
``InMemoryStore`` and on MnemosStore over the native and MemGPT adapters (and over a
native adapter that does not keep given ids, which exercises the lookup by key)."""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from langgraph.store.base import (
    BaseStore,
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    PutOp,
    SearchOp,
)
from langgraph.store.memory import InMemoryStore

from mnemos.memory_adapters import Capability, MnemosStore, open_store
from mnemos.memory_adapters.base import utcnow
from mnemos.memory_adapters.embedders.hashing import HashingEmbedder
from mnemos.memory_adapters.memgpt import MemGPTMemoryAdapter
from mnemos.memory_adapters.native import NativeMemoryAdapter

_EMBEDDER = HashingEmbedder()


def _embed(texts: list[str]) -> list[list[float]]:
    return [list(map(float, row)) for row in _EMBEDDER.embed(texts)]


class _NoGivenIds(NativeMemoryAdapter):
    """A native adapter that declares no PRESERVE_IDS, like Mem0 or Zep: items are found by key."""

    capabilities: ClassVar[frozenset[Capability]] = NativeMemoryAdapter.capabilities - {Capability.PRESERVE_IDS}


def _open(kind: str, path: Path, fields: list[str] | None = None) -> BaseStore:
    index: dict[str, Any] = {"fields": fields} if fields else {}
    if kind == "inmemory":
        return InMemoryStore(index={"embed": _embed, "dims": _EMBEDDER.dims, **index})  # type: ignore[typeddict-item]
    if kind == "native":
        return MnemosStore(NativeMemoryAdapter(path / "m.db", embedder="hashing"), index=index or None)  # type: ignore[arg-type]
    if kind == "memgpt":
        return MnemosStore(MemGPTMemoryAdapter(path / "g.db", embedder="hashing"), index=index or None)  # type: ignore[arg-type]
    return MnemosStore(_NoGivenIds(path / "k.db", embedder="hashing"), index=index or None)  # type: ignore[arg-type]


KINDS = ["inmemory", "native", "memgpt", "by-key"]


@pytest.fixture(params=KINDS)
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., BaseStore]]:
    opened: list[BaseStore] = []

    def make(fields: list[str] | None = None) -> BaseStore:
        store = _open(request.param, tmp_path, fields)
        opened.append(store)
        return store

    yield make
    for store in opened:
        if isinstance(store, MnemosStore):
            store.close()


@pytest.fixture
def store(opener: Callable[..., BaseStore]) -> BaseStore:
    return opener()


def test_put_get_roundtrip(store: BaseStore) -> None:
    store.put(("users", "alice"), "prefs", {"theme": "dark", "langs": ["en", "pt"], "n": 3})
    item = store.get(("users", "alice"), "prefs")
    assert isinstance(item, Item)
    assert item.value == {"theme": "dark", "langs": ["en", "pt"], "n": 3}
    assert (item.namespace, item.key) == (("users", "alice"), "prefs")
    assert isinstance(item.created_at, datetime) and isinstance(item.updated_at, datetime)
    assert store.get(("users", "alice"), "other") is None
    assert store.get(("users", "bob"), "prefs") is None
    assert store.get(("users",), "prefs") is None  # a parent namespace is another namespace


def test_put_replaces_and_delete_removes(store: BaseStore) -> None:
    ns = ("docs",)
    store.put(ns, "a", {"text": "first"})
    first = store.get(ns, "a")
    store.put(ns, "a", {"text": "second"})
    second = store.get(ns, "a")
    assert first is not None and second is not None
    assert second.value == {"text": "second"}
    assert second.updated_at >= first.updated_at
    assert [i.key for i in store.search(ns)] == ["a"]  # still one item
    store.delete(ns, "a")
    assert store.get(ns, "a") is None
    store.delete(ns, "a")  # deleting a missing key is not an error
    assert store.search(ns) == []


def test_search_by_prefix_with_limit_and_offset(store: BaseStore) -> None:
    for i in range(7):
        store.put(("docs", "team", f"p{i % 2}"), f"k{i}", {"text": f"note {i}", "i": i})
    store.put(("other",), "x", {"text": "elsewhere"})
    everything = store.search(("docs",), limit=100)
    assert sorted(i.key for i in everything) == [f"k{i}" for i in range(7)]
    assert {i.key for i in store.search(("docs", "team", "p1"))} == {"k1", "k3", "k5"}
    pages = [store.search(("docs",), limit=3, offset=o) for o in (0, 3, 6)]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert sorted(i.key for p in pages for i in p) == sorted(i.key for i in everything)
    assert all(i.score is None for i in everything)  # no query, no score


def test_filters_follow_langgraph(store: BaseStore) -> None:
    ns = ("items",)
    store.put(ns, "a", {"color": "red", "size": 3, "meta": {"tag": "x", "n": 1}})
    store.put(ns, "b", {"color": "blue", "size": 5, "meta": {"tag": "y", "n": 2}})
    store.put(ns, "c", {"color": "red", "size": 8, "meta": {"tag": "y", "n": 3}})

    def keys(**flt: Any) -> set[str]:
        return {i.key for i in store.search(ns, filter=flt)}

    assert keys(color="red") == {"a", "c"}
    assert keys(color="red", size=8) == {"c"}
    assert keys(size={"$gt": 3}) == {"b", "c"}
    assert keys(size={"$gte": 3, "$lt": 8}) == {"a", "b"}
    assert keys(color={"$ne": "red"}) == {"b"}
    assert keys(meta={"tag": "y"}) == {"b", "c"}  # a nested dict matches key by key
    assert keys(color="green") == set()


def test_query_ranks_the_relevant_item_first(store: BaseStore) -> None:
    ns = ("docs",)
    store.put(ns, "py", {"text": "Python tutorial for beginners"})
    store.put(ns, "ts", {"text": "TypeScript guide"})
    store.put(ns, "cook", {"text": "Cooking with tomatoes"})
    found = store.search(ns, query="python tutorial", limit=2)
    assert found[0].key == "py"
    assert found[0].score is not None
    assert len(found) == 2
    filtered = store.search(ns, query="python tutorial", filter={"text": "TypeScript guide"})
    assert [i.key for i in filtered] == ["ts"]


def test_index_false_items_are_never_ranked(store: BaseStore) -> None:
    ns = ("docs",)
    store.put(ns, "hidden", {"text": "python python python"}, index=False)
    store.put(ns, "shown", {"text": "python snakes"})
    found = store.search(ns, query="python", limit=10)
    assert found[0].key == "shown" and found[0].score is not None
    hidden = [i for i in found if i.key == "hidden"]
    assert hidden and hidden[0].score is None  # still returned, unranked
    assert store.get(ns, "hidden") is not None


def test_index_fields_choose_what_is_ranked(opener: Callable[..., BaseStore]) -> None:
    store = opener(fields=["title"])
    ns = ("docs",)
    store.put(ns, "body-only", {"title": "Gardening", "body": "quantum physics lecture"})
    store.put(ns, "title", {"title": "Quantum physics", "body": "gardening"})
    assert store.search(ns, query="quantum physics", limit=1)[0].key == "title"
    # a per-item index overrides the store's fields
    store.put(ns, "per-item", {"title": "Zebra", "note": "astronomy telescope"}, index=["note"])
    assert store.search(ns, query="astronomy telescope", limit=1)[0].key == "per-item"


def test_list_namespaces(store: BaseStore) -> None:
    for ns in [("a", "b", "c"), ("a", "b", "d", "e"), ("a", "b", "d", "i"), ("a", "b", "f"), ("a", "c", "f")]:
        store.put(ns, "k", {"v": 1})
    assert store.list_namespaces(prefix=("a", "b"), max_depth=3) == [("a", "b", "c"), ("a", "b", "d"), ("a", "b", "f")]
    assert store.list_namespaces(suffix=("f",)) == [("a", "b", "f"), ("a", "c", "f")]
    assert store.list_namespaces(prefix=("a", "*", "f")) == [("a", "b", "f"), ("a", "c", "f")]
    assert store.list_namespaces(prefix=("a", "b"), limit=2, offset=1) == [("a", "b", "d", "e"), ("a", "b", "d", "i")]
    assert len(store.list_namespaces()) == 5


def test_batch_mixes_operations(store: BaseStore) -> None:
    results = store.batch([
        PutOp(("n",), "k1", {"text": "one"}),
        PutOp(("n",), "k2", {"text": "two"}),
        GetOp(("n",), "k1"),
        SearchOp(("n",), limit=10),
        ListNamespacesOp(match_conditions=(), limit=10),
    ])
    assert results[0] is None and results[1] is None
    # an in-memory store answers a batch's reads before applying its writes; either order is LangGraph's
    assert results[2] is None or results[2].value == {"text": "one"}
    assert store.batch([GetOp(("n",), "k1")])[0].value == {"text": "one"}  # type: ignore[union-attr]
    assert sorted(i.key for i in store.search(("n",))) == ["k1", "k2"]


def test_bad_namespaces_are_refused(store: BaseStore) -> None:
    with pytest.raises(InvalidNamespaceError):
        store.put((), "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError):
        store.put(("langgraph", "x"), "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError):
        store.put(("a.b",), "k", {"v": 1})


def test_async_twins(store: BaseStore) -> None:
    async def run() -> None:
        await store.aput(("users", "u1"), "a", {"text": "likes green tea"})
        await store.aput(("users", "u2"), "a", {"text": "likes coffee"})
        got = await store.aget(("users", "u1"), "a")
        assert got is not None and got.value == {"text": "likes green tea"}
        found = await store.asearch(("users",), query="green tea", limit=1)
        assert [(i.namespace, i.key) for i in found] == [(("users", "u1"), "a")]
        assert await store.alist_namespaces(prefix=("users",)) == [("users", "u1"), ("users", "u2")]
        await store.adelete(("users", "u1"), "a")
        assert await store.aget(("users", "u1"), "a") is None

    asyncio.run(run())


# --- what only a mnemos store does -------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.parametrize("kind", ["native", "memgpt"])
def test_ttl_expires_and_reads_refresh_it(tmp_path: Path, kind: str) -> None:
    clock = _Clock()
    adapter = (NativeMemoryAdapter(tmp_path / "t.db", embedder="hashing", clock=clock) if kind == "native"
               else MemGPTMemoryAdapter(tmp_path / "t.db", embedder="hashing", clock=clock))
    store = MnemosStore(adapter, ttl={"default_ttl": 10})
    try:
        assert store.supports_ttl
        store.put(("s",), "default", {"v": 1})
        store.put(("s",), "short", {"v": 2}, ttl=1)
        store.put(("s",), "forever", {"v": 3}, ttl=None)
        clock.now += timedelta(minutes=2)
        assert store.get(("s",), "short") is None
        assert store.get(("s",), "default") is not None  # this read refreshes its 10 minutes
        clock.now += timedelta(minutes=9)
        assert store.get(("s",), "default", refresh_ttl=False) is not None
        clock.now += timedelta(minutes=2)
        assert store.get(("s",), "default") is None
        assert {i.key for i in store.search(("s",))} == {"forever"}
        assert store.sweep_ttl() == 2
    finally:
        store.close()


def test_inmemory_store_refuses_ttl_as_langgraph_does() -> None:
    with pytest.raises(NotImplementedError):
        InMemoryStore().put(("s",), "k", {"v": 1}, ttl=1)


def test_items_are_mnemos_memories(tmp_path: Path) -> None:
    adapter = NativeMemoryAdapter(tmp_path / "m.db", embedder="hashing")
    store = MnemosStore(adapter)
    try:
        store.put(("memories", "alice"), "m1", {"data": "Alice's favourite city is Lisbon"})
        hit = adapter.search("favourite city", namespace=("memories", "alice"))[0]
        assert hit.record.content == "Alice's favourite city is Lisbon"
        assert hit.record.metadata["store_key"] == "m1"
        store.put(("memories", "alice"), "m1", {"data": "Alice's favourite city is Porto"})
        assert adapter.history(hit.record.id)[0].content == "Alice's favourite city is Lisbon"
        adapter.add("an agent's own episode", namespace=("memories", "alice"))
        assert [i.key for i in store.search(("memories",))] == ["m1"]  # only store items are items
        adapter.add("a note outside the store", namespace=("agents", "planner"))
        assert store.list_namespaces() == [("memories", "alice")]
        store.delete(("memories", "alice"), "m1")
        assert store.list_namespaces() == []  # unlike InMemoryStore, no empty namespaces linger
    finally:
        adapter.close()


def test_scope_isolates_users(tmp_path: Path) -> None:
    root = NativeMemoryAdapter(tmp_path / "m.db", embedder="hashing")
    try:
        alice, bob = MnemosStore(root.scoped("users", "alice")), MnemosStore(root.scoped("users", "bob"))
        alice.put(("notes",), "k", {"text": "alice secret"})
        bob.put(("notes",), "k", {"text": "bob secret"})
        assert alice.get(("notes",), "k").value == {"text": "alice secret"}  # type: ignore[union-attr]
        assert bob.get(("notes",), "k").value == {"text": "bob secret"}  # type: ignore[union-attr]
        assert [i.value["text"] for i in bob.search(("notes",), query="secret")] == ["bob secret"]
        assert MnemosStore(root).list_namespaces() == [("users", "alice", "notes"), ("users", "bob", "notes")]
    finally:
        root.close()


@pytest.mark.parametrize("url", ["native", "memgpt"])
def test_items_persist_across_processes(tmp_path: Path, url: str) -> None:
    target = f"{url}://{tmp_path / 'shared.db'}"
    writer = textwrap.dedent(f"""
        from mnemos import open_store
        store = open_store({target!r}, embedder="hashing")
        store.put(("users", "alice"), "prefs", {{"food": "pizza"}})
        store.put(("users", "alice"), "prefs", {{"food": "sushi"}})
        store.close()
    """)
    subprocess.run([sys.executable, "-c", writer], check=True, timeout=120)
    store = open_store(target, embedder="hashing")
    try:
        item = store.get(("users", "alice"), "prefs")
        assert item is not None and item.value == {"food": "sushi"}
        store.put(("users", "alice"), "prefs", {"food": "ramen"})  # the same key: the same record
        assert [i.value for i in store.search(("users",))] == [{"food": "ramen"}]
    finally:
        store.close()


def test_store_needs_an_adapter() -> None:
    from mnemos.exceptions import UsageError

    with pytest.raises(UsageError, match="memory adapter"):
        MnemosStore({"not": "an adapter"})  # type: ignore[arg-type]


def test_embed_option_is_ignored_with_a_warning(tmp_path: Path) -> None:
    adapter = NativeMemoryAdapter(tmp_path / "m.db", embedder="hashing")
    try:
        with pytest.warns(UserWarning, match="own embedder"):
            MnemosStore(adapter, index={"embed": _embed, "dims": 512})  # type: ignore[typeddict-item]
    finally:
        adapter.close()


@pytest.mark.slow  # several seconds: mem0 and embedded Qdrant
@pytest.mark.skipif(importlib.util.find_spec("mem0") is None, reason="mem0ai is not installed")
def test_on_mem0_items_are_found_by_key(tmp_path: Path) -> None:
    """mem0 makes its own ids, so the store finds items by their key."""
    from mnemos.memory_adapters.mem0 import Mem0MemoryAdapter

    adapter = Mem0MemoryAdapter(tmp_path, embedder="hashing")
    store = MnemosStore(adapter)
    try:
        assert not adapter.supports(Capability.PRESERVE_IDS)
        store.put(("docs",), "py", {"text": "Python tutorial", "n": 1})
        store.put(("docs",), "ts", {"text": "TypeScript guide", "n": 2})
        store.put(("docs", "sub"), "x", {"text": "nested notes", "n": 3})
        store.put(("docs",), "py", {"text": "Python tutorial, second edition", "n": 5})
        assert store.get(("docs",), "py").value == {"text": "Python tutorial, second edition", "n": 5}  # type: ignore[union-attr]
        assert len(adapter.list(namespace=("docs",))) == 3  # the put updated, it did not add
        assert store.search(("docs",), query="python tutorial", limit=1)[0].key == "py"
        assert {i.key for i in store.search(("docs",), filter={"n": {"$gt": 2}})} == {"py", "x"}
        assert store.list_namespaces() == [("docs",), ("docs", "sub")]
        store.delete(("docs",), "py")
        assert store.get(("docs",), "py") is None
    finally:
        store.close()


@pytest.mark.skipif(importlib.util.find_spec("zep_python") is None, reason="zep-python is not installed")
def test_on_zep_a_new_value_supersedes_and_delete_names_the_capability(tmp_path: Path) -> None:
    """Zep (here its HTTP stand-in) cannot update or delete: a put supersedes the old value."""
    from zep_standin import running_standin

    from mnemos.exceptions import CapabilityNotSupportedError
    from mnemos.memory_adapters.zep import ZepMemoryAdapter

    with running_standin() as server:
        adapter = ZepMemoryAdapter(server.url, api_key=server.api_key)
        store = MnemosStore(adapter)
        try:
            store.put(("users", "alice"), "prefs", {"food": "pizza"})
            store.put(("users", "alice"), "prefs", {"food": "sushi"})
            assert store.get(("users", "alice"), "prefs").value == {"food": "sushi"}  # type: ignore[union-attr]
            assert [i.value for i in store.search(("users",))] == [{"food": "sushi"}]
            with pytest.raises(CapabilityNotSupportedError, match="delete"):
                store.delete(("users", "alice"), "prefs")
            assert store.get(("users", "alice"), "prefs") is not None  # nothing lost
        finally:
            store.close()
