"""The Zep adapter: zep-python's real client over real HTTP.

No Zep server runs here, so most tests talk to ``zep_standin.py``, an HTTP
stand-in that follows Zep's v2 API for the calls used (it ranks by word
overlap and makes one "fact" per user message instead of running an LLM).
The live tests at the end run against a real Zep when ``ZEP_API_URL`` (and
``ZEP_API_KEY``) are set, and are skipped otherwise.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from collections.abc import Iterator

import pytest
from zep_standin import ZepStandIn, running_standin

from mnemos.exceptions import (
    CapabilityNotSupportedError,
    ConfigurationError,
    MemoryNotFoundError,
    MissingExtraError,
    StorageError,
)
from mnemos.memory_adapters.base import MemoryKind

if importlib.util.find_spec("zep_python") is None:
    pytest.skip("zep-python is not installed", allow_module_level=True)

from mnemos.memory_adapters.zep import ZepMemoryAdapter, session_id_for


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[ZepStandIn]:
    monkeypatch.delenv("ZEP_API_URL", raising=False)
    with running_standin() as server:
        yield server


@pytest.fixture
def zep(standin: ZepStandIn) -> ZepMemoryAdapter:
    return ZepMemoryAdapter(standin.url, api_key=standin.api_key)


def test_namespaces_become_users_and_sessions_on_the_server(zep: ZepMemoryAdapter, standin: ZepStandIn) -> None:
    record = zep.add("Alice prefers window seats", namespace=("users", "alice", "travel"),
                     metadata={"role": "user"}, provenance={"agent": "planner"})
    session_id = session_id_for(("users", "alice", "travel"))
    assert session_id.startswith("users.alice.travel-") and record.id.startswith(session_id + ":")
    state = standin.state
    assert "alice" in state.users
    assert state.sessions[session_id]["user_id"] == "alice"
    assert state.sessions[session_id]["metadata"] == {"mnemos_namespace": ["users", "alice", "travel"]}
    [message] = state.messages[session_id]
    assert message["content"] == "Alice prefers window seats"
    assert message["role_type"] == "user" and message["role"] == "planner"
    other = zep.add("a note with no user", namespace=("notes",))
    assert standin.state.sessions[other.id.rpartition(":")[0]]["user_id"] == "mnemos"


def test_records_read_back_exactly(zep: ZepMemoryAdapter) -> None:
    record = zep.add("the meeting moved to Thursday", namespace=("team",), kind="semantic",
                     metadata={"topic": "calendar", "n": 1.0}, importance=0.9)
    again = zep.get(record.id)
    assert again == record
    assert again.kind is MemoryKind.SEMANTIC and again.metadata == {"topic": "calendar", "n": 1.0}


def test_search_uses_zep_and_explains(zep: ZepMemoryAdapter, standin: ZepStandIn) -> None:
    zep.add("Bob's favourite tea is oolong", namespace=("users", "bob"))
    zep.add("Bob fixed the garden fence", namespace=("users", "bob"))
    hits = zep.search("which tea does Bob like", namespace=("users", "bob"))
    assert hits[0].record.content == "Bob's favourite tea is oolong"
    assert hits[0].reasons[0].signal == "vector" and "Zep" in hits[0].explain()
    assert ("POST", "/api/v2/sessions/search") in standin.state.requests


def test_scope_isolation(standin: ZepStandIn) -> None:
    root = ZepMemoryAdapter(standin.url, api_key=standin.api_key)
    alice, bob = root.scoped("users", "alice"), root.scoped("users", "bob")
    secret = alice.add("alice's locker code is 4512", namespace=("notes",))
    bob.add("bob's locker code is 9931", namespace=("notes",))
    assert [h.record.content for h in bob.search("locker code")] == ["bob's locker code is 9931"]
    assert [r.content for r in bob.list()] == ["bob's locker code is 9931"]
    with pytest.raises(MemoryNotFoundError):
        bob.get(secret.id)
    assert alice.get(secret.id).namespace == ("notes",)


def test_supersede_marks_the_old_message(zep: ZepMemoryAdapter, standin: ZepStandIn) -> None:
    old = zep.add("Carol lives in Lyon", namespace=("users", "carol"), kind="semantic")
    new = zep.supersede(old.id, "Carol lives in Nantes")
    assert zep.get(old.id).superseded_by == new.id
    assert [h.record.content for h in zep.search("where does Carol live")] == ["Carol lives in Nantes"]
    everything = zep.search("Carol lives", include_superseded=True)
    assert {h.record.content for h in everything} == {"Carol lives in Lyon", "Carol lives in Nantes"}
    session_messages = standin.state.messages[session_id_for(("users", "carol"))]
    assert session_messages[0]["metadata"]["mnemos_valid_to"] is not None  # kept, with its history


def test_what_zep_cannot_do_raises(zep: ZepMemoryAdapter) -> None:
    record = zep.add("a memory", namespace=("n",))
    with pytest.raises(CapabilityNotSupportedError, match="update"):
        zep.update(record.id, content="changed")
    with pytest.raises(CapabilityNotSupportedError, match="delete"):
        zep.delete(record.id)
    with pytest.raises(CapabilityNotSupportedError, match="ttl"):
        zep.add("short-lived", namespace=("n",), ttl_seconds=5)
    with pytest.raises(CapabilityNotSupportedError, match="history"):
        zep.history(record.id)
    assert zep.get(record.id).content == "a memory"


def test_zep_facts_are_semantic_memory(zep: ZepMemoryAdapter) -> None:
    zep.add("Dana is allergic to peanuts", namespace=("users", "dana"), metadata={"role": "user"})
    zep.add("Noted, no peanuts.", namespace=("users", "dana"), metadata={"role": "assistant"})
    facts = zep.facts("peanut allergy Dana", namespace=("users", "dana"))
    assert [f.record.content for f in facts] == ["Dana is allergic to peanuts"]
    fact = facts[0].record
    assert fact.kind is MemoryKind.SEMANTIC and fact.id.startswith("fact:")
    assert fact.namespace == ("users", "dana") and fact.metadata["zep"] == "fact"
    assert [f.record.content for f in zep.facts(namespace=("users", "dana"))] == ["Dana is allergic to peanuts"]


def test_wrong_key_and_unreachable_server_are_storage_errors(standin: ZepStandIn) -> None:
    wrong = ZepMemoryAdapter(standin.url, api_key="not-the-key")
    with pytest.raises(StorageError, match="401"):
        wrong.add("x", namespace=("n",))
    gone = ZepMemoryAdapter("http://127.0.0.1:9", api_key="k", timeout=2)
    with pytest.raises(StorageError, match="cannot reach"):
        gone.add("x", namespace=("n",))


def test_from_url_and_configuration(monkeypatch: pytest.MonkeyPatch, standin: ZepStandIn) -> None:
    monkeypatch.setenv("ZEP_API_KEY", standin.api_key)
    host = standin.url.removeprefix("http://")
    adapter = ZepMemoryAdapter.from_url(f"zep://{host}?user=team", scope=("s",))
    assert adapter.base_url == standin.url and adapter.scope == ("s",)
    adapter.add("hello", namespace=("x",))
    assert "team" in standin.state.users
    assert ZepMemoryAdapter.from_url("zep+https://zep.example.com").base_url == "https://zep.example.com"
    with pytest.raises(ConfigurationError):
        ZepMemoryAdapter.from_url("zep:///no-host")
    with pytest.raises(ConfigurationError, match="ZEP_API_KEY"):
        ZepMemoryAdapter.from_url(f"zep://{host}?api_key=secret")
    monkeypatch.delenv("ZEP_API_KEY")
    with pytest.raises(ConfigurationError, match="API key"):
        ZepMemoryAdapter(standin.url)


def test_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "zep_python.base_client", None)
    with pytest.raises(MissingExtraError, match=r"mnemos\[zep\]"):
        ZepMemoryAdapter("http://127.0.0.1:1", api_key="k")


# --- live: a real Zep server ----------------------------------------------------------------

live = pytest.mark.skipif(
    not os.environ.get("ZEP_API_URL"),
    reason="no Zep server configured: set ZEP_API_URL (and ZEP_API_KEY) to run the live Zep tests",
)


@live
def test_live_round_trip_and_search() -> None:
    """Against a real Zep: store, read back, list, and search in a fresh namespace."""
    zep = ZepMemoryAdapter(os.environ["ZEP_API_URL"], scope=("mnemos-live-tests", uuid.uuid4().hex[:12]))
    record = zep.add("Erin's favourite mountain is the Matterhorn", namespace=("users", "erin"),
                     metadata={"role": "user"})
    assert zep.get(record.id).content == record.content
    assert [r.id for r in zep.list()] == [record.id]
    zep.search("which mountain does Erin like")  # Zep indexes asynchronously: just no error


@live
def test_live_supersede() -> None:
    zep = ZepMemoryAdapter(os.environ["ZEP_API_URL"], scope=("mnemos-live-tests", uuid.uuid4().hex[:12]))
    old = zep.add("Frank works in Oslo", namespace=("users", "frank"), kind="semantic")
    new = zep.supersede(old.id, "Frank works in Bergen")
    assert zep.get(old.id).superseded_by == new.id


def test_open_memory_dispatches_zep_urls(monkeypatch: pytest.MonkeyPatch, standin: ZepStandIn) -> None:
    """With the scheme registered (the package's entry points register it), a URL opens the adapter."""
    from mnemos.memory_adapters import registry

    monkeypatch.setenv("ZEP_API_KEY", standin.api_key)
    monkeypatch.setitem(registry._registry, "zep", ZepMemoryAdapter.from_url)
    adapter = registry.open_memory(standin.url.replace("http://", "zep://"), scope=("a",))
    assert isinstance(adapter, ZepMemoryAdapter) and adapter.scope == ("a",)
    assert adapter.add("hi", namespace=("b",)).namespace == ("b",)
