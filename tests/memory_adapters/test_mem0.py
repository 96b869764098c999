"""The mem0 adapter on real mem0 ``Memory`` with embedded Qdrant in a temp directory.

The only stand-in is the chat model used for fact extraction: a scripted
LangChain model (``FakeListChatModel``) plays the hosted LLM mem0 would call.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from mnemos.exceptions import (
    ConfigurationError,
    EmbedderMismatchError,
    InvalidRecordError,
    MemoryNotFoundError,
    MissingExtraError,
    UsageError,
)
from mnemos.memory_adapters.base import Capability, MemoryKind
from mnemos.memory_adapters.conformance._support import ManualClock
from mnemos.memory_adapters.mem0 import Mem0MemoryAdapter

if importlib.util.find_spec("mem0") is None:  # not importorskip: importing mem0 early turns its telemetry on
    pytest.skip("mem0ai is not installed", allow_module_level=True)


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNEMOS_HOME", str(tmp_path / "home"))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Mem0MemoryAdapter]:
    adapter = Mem0MemoryAdapter(tmp_path / "mem0", embedder="hashing")
    yield adapter
    adapter.close()


def scripted(*answers: object) -> FakeListChatModel:
    """A chat model that answers with these JSON documents, in order (stands in for an LLM)."""
    return FakeListChatModel(responses=[json.dumps(a) for a in answers])


def test_raw_add_get_search_with_reasons(store: Mem0MemoryAdapter) -> None:
    tea = store.add("Alice drinks green tea every morning", namespace=("users", "alice"),
                    metadata={"topic": "drinks"}, importance=0.8)
    store.add("The harbor freezes in January", namespace=("users", "alice"))
    got = store.get(tea.id)
    assert got.content == tea.content and got.metadata == {"topic": "drinks"}
    assert got.importance == 0.8 and got.kind is MemoryKind.EPISODIC
    hits = store.search("green tea", namespace=("users", "alice"))
    assert hits[0].record.id == tea.id
    assert hits[0].reasons[0].signal == "vector" and hits[0].reasons[0].value > 0.3
    assert "mem0" in hits[0].explain()


def test_namespaces_become_mem0_sessions(store: Mem0MemoryAdapter) -> None:
    record = store.add("planner prefers short plans", namespace=("users", "alice", "agents", "planner"))
    raw = store.mem0.get(record.id)
    assert raw["user_id"] == "alice" and raw["agent_id"] == "planner"
    # mem0's own API sees the memory under the user it belongs to
    assert [m["id"] for m in store.mem0.get_all(filters={"user_id": "alice"})["results"]] == [record.id]


def test_scope_isolation(tmp_path: Path) -> None:
    root = Mem0MemoryAdapter(tmp_path / "s", embedder="hashing")
    try:
        alice = root.scoped("users", "alice")
        bob = root.scoped("users", "bob")
        secret = alice.add("alice's locker code is 4512", namespace=("notes",))
        bob.add("bob's locker code is 9931", namespace=("notes",))
        assert [h.record.content for h in bob.search("locker code")] == ["bob's locker code is 9931"]
        with pytest.raises(MemoryNotFoundError):
            bob.get(secret.id)
        with pytest.raises(MemoryNotFoundError):
            bob.delete(secret.id)
        assert alice.get(secret.id).namespace == ("notes",)
        assert root.namespaces() == [("users", "alice", "notes"), ("users", "bob", "notes")]
    finally:
        root.close()


def test_persists_across_reopen_and_remembers_its_embedder(tmp_path: Path) -> None:
    first = Mem0MemoryAdapter(tmp_path / "s", embedder="hashing:256")
    kept = first.add("the lighthouse keeper is named Orin", namespace=("facts",), kind="semantic")
    first.close()
    again = Mem0MemoryAdapter(tmp_path / "s")  # embedder read back from the directory
    try:
        assert again.embedder.name == first.embedder.name
        assert again.get(kept.id).content == kept.content
        assert again.search("lighthouse keeper")[0].record.id == kept.id
    finally:
        again.close()
    with pytest.raises(EmbedderMismatchError):
        Mem0MemoryAdapter(tmp_path / "s", embedder="hashing:512")


def test_dedup_update_history_delete(store: Mem0MemoryAdapter) -> None:
    one = store.add("likes jazz", namespace=("u",))
    assert store.add("likes jazz", namespace=("u",)).id == one.id
    assert store.add("likes jazz", namespace=("u",), dedup=False).id != one.id
    updated = store.update(one.id, content="likes bebop jazz", metadata={"src": "chat"})
    assert updated.version == 2
    assert [r.content for r in store.history(one.id)] == ["likes jazz", "likes bebop jazz"]
    assert store.search("bebop")[0].record.id == one.id
    store.delete(one.id)
    with pytest.raises(MemoryNotFoundError):
        store.get(one.id)


def test_bad_input_is_refused_and_loses_nothing(store: Mem0MemoryAdapter) -> None:
    kept = store.add("keep me", namespace=("u",))
    with pytest.raises(InvalidRecordError):
        store.add("   ", namespace=("u",))
    with pytest.raises(InvalidRecordError):
        store.add_many([{"content": "fine", "namespace": ("u",)}, {"content": 3, "namespace": ("u",)}])
    with pytest.raises(UsageError):
        store.search("x", filter={"a": {"$regex": "."}})
    assert [r.content for r in store.list()] == ["keep me"] and store.get(kept.id)


def test_ttl_and_purge(tmp_path: Path) -> None:
    clock = ManualClock()
    adapter = Mem0MemoryAdapter(tmp_path / "s", embedder="hashing", clock=clock)
    try:
        brief = adapter.add("door code 1234 for today", namespace=("u",), ttl_seconds=60)
        adapter.add("door code policy", namespace=("u",))
        assert adapter.get(brief.id)
        clock.advance(120)
        with pytest.raises(MemoryNotFoundError):
            adapter.get(brief.id)
        assert [h.record.content for h in adapter.search("door code")] == ["door code policy"]
        assert adapter.purge() == 1
        assert adapter.mem0.get(brief.id) is None
    finally:
        adapter.close()


def test_time_and_metadata_filters(tmp_path: Path) -> None:
    clock = ManualClock()
    adapter = Mem0MemoryAdapter(tmp_path / "s", embedder="hashing", clock=clock)
    try:
        old = adapter.add("trip to Lisbon planned", namespace=("u",), metadata={"n": 1})
        clock.advance(86400)
        cut = clock()
        new = adapter.add("trip to Porto planned", namespace=("u",), metadata={"n": 2})
        assert [h.record.id for h in adapter.search("trip planned", since=cut)] == [new.id]
        assert [h.record.id for h in adapter.search("trip planned", filter={"n": {"$lt": 2}})] == [old.id]
        assert [r.id for r in adapter.list(until=cut)] == [old.id]
    finally:
        adapter.close()


def test_fact_extraction_marks_contradicted_facts(tmp_path: Path) -> None:
    llm = scripted(
        {"memory": [{"text": "Alice lives in Paris"}]},
        {"memory": [{"text": "Alice lives in Berlin"}]},
        {"superseded": [{"old": "e0", "new": "n0"}]},
    )
    adapter = Mem0MemoryAdapter(tmp_path / "s", embedder="hashing", llm=llm)
    try:
        [paris] = adapter.extract("I just moved to Paris!", namespace=("users", "alice"))
        assert paris.kind is MemoryKind.SEMANTIC and paris.content == "Alice lives in Paris"
        [berlin] = adapter.extract(
            [{"role": "user", "content": "Update: I moved to Berlin."}], namespace=("users", "alice")
        )
        old = adapter.get(paris.id)
        assert old.superseded and old.superseded_by == berlin.id
        live = adapter.search("where does Alice live", namespace=("users", "alice"))
        assert [h.record.content for h in live] == ["Alice lives in Berlin"]
        everything = adapter.search("Alice live", include_superseded=True)
        assert {h.record.content for h in everything} == {"Alice lives in Paris", "Alice lives in Berlin"}
    finally:
        adapter.close()


def test_extraction_keeps_facts_that_only_add_detail(tmp_path: Path) -> None:
    llm = scripted(
        {"memory": [{"text": "Bob has a dog"}]},
        {"memory": [{"text": "Bob's dog is called Rex"}]},
        {"superseded": []},
    )
    adapter = Mem0MemoryAdapter(tmp_path / "s", embedder="hashing", llm=llm)
    try:
        [dog] = adapter.extract("I have a dog", namespace=("users", "bob"))
        adapter.extract("His name is Rex", namespace=("users", "bob"))
        assert not adapter.get(dog.id).superseded
        assert len(adapter.list(namespace=("users", "bob"))) == 2
    finally:
        adapter.close()


def test_extraction_needs_a_model(store: Mem0MemoryAdapter) -> None:
    with pytest.raises(UsageError, match="chat model"):
        store.extract("I like tea", namespace=("u",))


def test_undeclared_capabilities_raise(store: Mem0MemoryAdapter) -> None:
    assert not store.supports(Capability.KEYWORD_SEARCH)
    assert not store.supports(Capability.PRESERVE_IDS)
    with pytest.raises(NotImplementedError):
        store.import_jsonl(Path(os.devnull))


def test_from_url(tmp_path: Path) -> None:
    adapter = Mem0MemoryAdapter.from_url(
        f"mem0://{tmp_path / 'u'}?collection=c2&threshold=0.2&user=me", scope=("x",), embedder="hashing"
    )
    try:
        assert adapter.path == tmp_path / "u" and adapter.threshold == 0.2
        assert adapter.scope == ("x",)
        record = adapter.add("hello", namespace=("y",))
        assert adapter.mem0.get(record.id)["user_id"] == "me"
    finally:
        adapter.close()
    with pytest.raises(ConfigurationError):
        Mem0MemoryAdapter.from_url("mem0://server:99/x")
    with pytest.raises(ConfigurationError):
        Mem0MemoryAdapter.from_url(f"mem0://{tmp_path}?bogus=1")


def test_missing_extra_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from mnemos.memory_adapters import _mem0

    monkeypatch.setitem(sys.modules, "mem0", None)
    with pytest.raises(MissingExtraError, match=r"mnemos\[mem0\]"):
        _mem0.import_mem0()


def test_nothing_is_written_to_the_home_directory(tmp_path: Path) -> None:
    """mem0 creates ~/.mem0 at import unless told otherwise: run a fresh process with a
    fake HOME and check that only MNEMOS_HOME and the store directory were written."""
    home, mnemos_home, store_dir = tmp_path / "home", tmp_path / "mnemos", tmp_path / "store"
    home.mkdir()
    script = textwrap.dedent(
        f"""
        from mnemos.memory_adapters.mem0 import Mem0MemoryAdapter
        a = Mem0MemoryAdapter({str(store_dir)!r}, embedder="hashing")
        a.add("hello there", namespace=("u",))
        assert a.search("hello")
        a.close()
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEM0_")}
    env.update(HOME=str(home), MNEMOS_HOME=str(mnemos_home))
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120,
                   capture_output=True)
    assert list(home.iterdir()) == []
    assert (mnemos_home / "mem0" / "config.json").exists()
    assert (store_dir / "qdrant").is_dir() and (store_dir / "history.db").exists()


def test_open_memory_dispatches_mem0_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the scheme registered (the package's entry points register it), a URL opens the adapter."""
    from mnemos.memory_adapters import registry

    monkeypatch.setitem(registry._registry, "mem0", Mem0MemoryAdapter.from_url)
    adapter = registry.open_memory(f"mem0://{tmp_path / 'm'}", scope=("a",), embedder="hashing")
    try:
        assert isinstance(adapter, Mem0MemoryAdapter) and adapter.scope == ("a",)
        assert adapter.path == tmp_path / "m"
    finally:
        adapter.close()
