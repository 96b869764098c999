"""The MemGPT adapter's Letta backend, against the Letta HTTP stand-in of
``letta_standin.py`` (no Letta server can run here), plus live tests that run
only when ``LETTA_BASE_URL`` names a real Letta server.

The stand-in answers the REST calls ``letta-client`` makes; it ranks archival
search by word overlap where Letta uses embeddings.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

import pytest
from letta_client import Letta
from letta_standin import LettaStandIn

from memgpt_calls import calling
from mnemos.agents.memgpt import MemGPTAgent
from mnemos.agents.scripted import ScriptedChatModel
from mnemos.exceptions import (
    CapabilityNotSupportedError,
    ConfigurationError,
    InvalidRecordError,
    UsageError,
)
from mnemos.memory_adapters._letta import LettaBackend, LettaError
from mnemos.memory_adapters.base import BaseMemoryAdapter, Capability, MemoryKind, utcnow
from mnemos.memory_adapters.conformance import ProcessOpener, sqlite_integrity_check
from mnemos.memory_adapters.conformance.suite import AdapterConformance
from mnemos.memory_adapters.memgpt import MemGPTMemoryAdapter, memgpt_tools

Clock = Callable[[], datetime]
NS = ("agents", "ada")


@pytest.fixture
def standin() -> Iterator[LettaStandIn]:
    server = LettaStandIn().start()
    yield server
    server.stop()


@pytest.fixture
def memory(standin: LettaStandIn, tmp_path: Path) -> Iterator[MemGPTMemoryAdapter]:
    # no retries: a test that stops the stand-in gets its error at once, not after the client's
    # two retries with backoff (about 2 s); no test here checks retrying
    client = Letta(base_url=standin.url, api_key=standin.api_key, max_retries=0)
    adapter = MemGPTMemoryAdapter(tmp_path / "ledger.db", letta=client, agent="ada", embedder="hashing")
    yield adapter
    adapter.close()
    client.close()


def _tool(memory: MemGPTMemoryAdapter, name: str) -> Callable[..., str]:
    tool = next(t for t in memgpt_tools(memory, NS) if t.name == name)
    return lambda **kwargs: str(tool.invoke(kwargs))


@pytest.mark.slow  # about a minute: every block and passage operation is an HTTP round trip
class TestMemGPTLettaStandInConformance(AdapterConformance):
    """The conformance suite over memgpt+letta, one Letta stand-in per storage location."""

    thread_count = 4
    writes_per_thread = 15
    _servers: dict[Path, LettaStandIn]

    @pytest.fixture(autouse=True)
    def _standins(self) -> Iterator[None]:
        self._servers = {}
        yield
        for server in self._servers.values():
            server.stop()

    process_count = 2
    writes_per_process = 30
    sigkill_trials = 1
    sigkill_writes = 150

    def _server(self, location: Path) -> LettaStandIn:
        if location not in self._servers:
            self._servers[location] = LettaStandIn().start()
        return self._servers[location]

    def open_adapter(
        self, location: Path, *, scope: Sequence[str] = (), clock: Clock | None = None
    ) -> BaseMemoryAdapter:
        server = self._server(location)
        return MemGPTMemoryAdapter(
            location / "ledger.db",
            letta=Letta(base_url=server.url, api_key=server.api_key),
            agent="conformance",
            scope=scope,
            embedder="hashing",
            clock=clock or utcnow,
        )

    def process_opener(self, location: Path) -> ProcessOpener:
        """Other processes open the same ledger and talk HTTP to this process's stand-in."""
        server = self._server(location)
        url = f"memgpt+letta://{server.url.removeprefix('http://')}?agent=conformance&ledger={location / 'ledger.db'}"
        return ProcessOpener(target=url, env={"LETTA_API_KEY": server.api_key})

    def integrity_check(self, location: Path) -> str:
        return sqlite_integrity_check(location / "ledger.db")

    def test_letta_capabilities_are_the_ledgers_less_the_graph(self, adapter: BaseMemoryAdapter) -> None:
        assert Capability.GRAPH not in adapter.capabilities
        assert {Capability.UPDATE, Capability.DELETE, Capability.VECTOR_SEARCH} <= adapter.capabilities
        with pytest.raises(CapabilityNotSupportedError, match="graph"):
            adapter.require(Capability.GRAPH)


def test_core_block_tools_edit_letta_blocks_standin(memory: MemGPTMemoryAdapter, standin: LettaStandIn) -> None:
    memory.define_block(NS, "persona", "I am Ada, a patient tutor.", limit=120)
    memory.define_block(NS, "human", "")
    assert "now holds" in _tool(memory, "core_memory_append")(label="human", content="Name: Grace")
    assert "now holds" in _tool(memory, "core_memory_replace")(
        label="persona", old_content="patient", new_content="cheerful"
    )
    by_label = {b["label"]: b for b in standin.blocks.values()}
    assert by_label["persona"]["value"] == "I am Ada, a cheerful tutor."
    assert by_label["persona"]["limit"] == 120
    assert by_label["human"]["value"] == "Name: Grace"
    (agent_id,) = standin.agents
    assert sorted(standin.attached[agent_id]) == sorted(standin.blocks)  # the Letta agent sees both
    assert ("PATCH", f"/blocks/{by_label['human']['id']}") in standin.requests
    # a block that would overflow is refused before anything reaches Letta
    before = len(standin.requests)
    assert _tool(memory, "core_memory_append")(label="persona", content="x" * 200).startswith("Error:")
    assert not [r for r in standin.requests[before:] if r[0] == "PATCH"]
    assert by_label["persona"]["value"] == "I am Ada, a cheerful tutor."
    # the mnemos history keeps every version
    assert [v.content for v in memory.history(memory.core_blocks(NS)["persona"].id)] == [
        "I am Ada, a patient tutor.", "I am Ada, a cheerful tutor."
    ]


def test_a_label_taken_on_the_letta_agent_gives_a_standalone_block_standin(
    memory: MemGPTMemoryAdapter, standin: LettaStandIn
) -> None:
    """Letta labels are unique per agent: a second agent namespace's persona is a block of its own."""
    memory.define_block(NS, "persona", "I am Ada")
    memory.define_block(("agents", "bob"), "persona", "I am Bob")
    memory.core_memory_append(("agents", "bob"), "persona", "I like chess")
    (agent_id,) = standin.agents
    assert [standin.blocks[b]["value"] for b in standin.attached[agent_id]] == ["I am Ada"]
    assert sorted(b["value"] for b in standin.blocks.values()) == ["I am Ada", "I am Bob\nI like chess"]
    assert memory.core_blocks(("agents", "bob"))["persona"].value == "I am Bob\nI like chess"


def test_block_edited_on_the_letta_side_is_read_back_standin(
    memory: MemGPTMemoryAdapter, standin: LettaStandIn
) -> None:
    memory.define_block(NS, "human", "Name: Grace")
    (block,) = standin.blocks.values()
    block["value"] = "Name: Grace Hopper"  # as if the Letta agent had run core_memory_replace itself
    assert memory.core_blocks(NS)["human"].value == "Name: Grace Hopper"
    block["value"] = ""
    assert memory.core_blocks(NS)["human"].value == ""


def test_archival_tools_use_letta_passages_standin(memory: MemGPTMemoryAdapter, standin: LettaStandIn) -> None:
    insert, search = _tool(memory, "archival_memory_insert"), _tool(memory, "archival_memory_search")
    insert(content="Grace's cat is called Miso and is eleven years old")
    insert(content="The conference is in Lisbon in May")
    insert(content="Grace prefers tea to coffee")
    (passages,) = standin.passages.values()
    assert [p["text"] for p in passages] == [
        "Grace's cat is called Miso and is eleven years old",
        "The conference is in Lisbon in May",
        "Grace prefers tea to coffee",
    ]
    assert all("ns:agents/ada" in p["tags"] for p in passages)
    found = search(query="Lisbon conference")
    assert found.splitlines()[1].endswith("The conference is in Lisbon in May")
    assert standin.requests[-1][1].endswith("/archival-memory/search")
    hits = memory.archival_memory_search(NS, "cat Miso")
    assert hits[0].record.content.startswith("Grace's cat") and "Letta archival search" in hits[0].explain()
    assert memory.archival_count(NS) == 3
    # other namespaces' passages on the same Letta agent are not returned
    memory.archival_memory_insert(("agents", "bob"), "Bob's cat is called Miso too")
    assert [h.record.namespace for h in memory.archival_memory_search(NS, "cat Miso")] == [NS]


def test_archival_search_applies_filters_on_this_side_standin(
    memory: MemGPTMemoryAdapter, standin: LettaStandIn
) -> None:
    """Letta's search knows no mnemos metadata, validity or expiry: they are applied to its results."""
    old = memory.archival_memory_insert(NS, "Grace works at the harbour office", metadata={"source": "chat"})
    memory.archival_memory_insert(NS, "Grace's harbour boat is blue", metadata={"source": "notes"})
    memory.add("Grace's harbour pass expires soon", namespace=NS, kind=MemoryKind.SEMANTIC, ttl_seconds=0.001)
    new = memory.supersede(old.id, "Grace works at the harbour museum now")
    hits = memory.search("Grace harbour", namespace=NS, kinds="semantic", limit=10)
    assert {h.record.content for h in hits} == {"Grace works at the harbour museum now", "Grace's harbour boat is blue"}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    only_notes = memory.search("Grace harbour", namespace=NS, kinds="semantic", filter={"source": "notes"})
    assert [h.record.content for h in only_notes] == ["Grace's harbour boat is blue"]
    with_old = memory.search("harbour office", namespace=NS, kinds="semantic", include_superseded=True)
    assert with_old[0].record.id == old.id and with_old[0].record.superseded_by == new.id
    page = memory.archival_memory_search(NS, "Grace harbour", page=1, page_size=1)
    assert len(page) == 1 and page[0].record.id in {h.record.id for h in hits}
    (passages,) = standin.passages.values()
    assert len(passages) == 4  # expired and superseded passages stay in Letta until purged or deleted
    assert memory.purge(NS) == 1
    assert len(passages) == 3


def test_passage_edit_and_delete_reach_letta_standin(memory: MemGPTMemoryAdapter, standin: LettaStandIn) -> None:
    record = memory.archival_memory_insert(NS, "The meeting is on Tuesday")
    (passages,) = standin.passages.values()
    old_id = passages[0]["id"]
    updated = memory.update(record.id, content="The meeting is on Wednesday")
    assert updated.id == record.id and updated.version == 2
    assert [p["text"] for p in passages] == ["The meeting is on Wednesday"]
    assert passages[0]["id"] != old_id  # Letta cannot edit a passage: it was replaced
    assert memory.archival_memory_search(NS, "meeting Wednesday")[0].record.id == record.id
    memory.delete(record.id)
    assert passages == []
    assert memory.archival_memory_search(NS, "meeting") == []


def test_memgpt_agent_runs_on_the_letta_backend_standin(memory: MemGPTMemoryAdapter, standin: LettaStandIn) -> None:
    """MemGPTAgent's tool calls (scripted model, standing in for a hosted LLM) land in Letta."""
    model = ScriptedChatModel([
        calling("core_memory_append", label="human", content="Name: Grace", request_heartbeat=True),
        calling("archival_memory_insert", content="Grace's locker code is 4512", request_heartbeat=True),
        "Noted, Grace.",
        calling("archival_memory_search", query="locker code", request_heartbeat=True),
        "Your locker code is 4512.",
    ])
    agent = MemGPTAgent(model, memory, namespace=NS, context_window=4000, summarizer="extractive")
    assert agent.step("I'm Grace; my locker code is 4512.") == "Noted, Grace."
    assert {b["label"]: b["value"] for b in standin.blocks.values()}["human"] == "Name: Grace"
    assert [p["text"] for p in next(iter(standin.passages.values()))] == ["Grace's locker code is 4512"]
    assert agent.step("What is my locker code?") == "Your locker code is 4512."
    assert "4512" in model.prompts[-1][-1].text  # the search result, from Letta's archival search
    assert '<human characters="11/2000">\nName: Grace\n</human>' in model.prompts[-1][0].text


def test_recall_memory_stays_local_standin(memory: MemGPTMemoryAdapter, standin: LettaStandIn) -> None:
    memory.record_message(NS, "user", "My sister lives in Oslo")
    memory.record_message(NS, "assistant", "Noted: your sister lives in Oslo.")
    assert not any("/messages" in path for _, path in standin.requests)
    assert memory.message_count(NS) == 2
    assert memory.conversation_search(NS, "sister Oslo")[0].record.metadata["role"] in ("user", "assistant")
    assert standin.passages[next(iter(standin.agents))] == []


def test_letta_failure_keeps_nothing_half_stored_standin(memory: MemGPTMemoryAdapter, standin: LettaStandIn) -> None:
    memory.define_block(NS, "persona", "I am Ada")
    with pytest.raises(InvalidRecordError):
        memory.define_block(NS, "bad label", "x")
    standin.stop()  # the server goes away
    with pytest.raises(LettaError, match="cannot reach the Letta server"):
        memory.archival_memory_insert(NS, "lost in transit")
    assert memory.list(namespace=NS, kinds=MemoryKind.SEMANTIC) == []
    assert memory.message_count(NS) == 0


def test_agent_selection_standin(standin: LettaStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LETTA_API_KEY", standin.api_key)
    host = standin.url.removeprefix("http://")
    first = MemGPTMemoryAdapter.from_url(f"memgpt+letta://{host}?agent=ada&ledger={tmp_path / 'a.db'}", embedder="hashing")
    agent_id = first.backend.agent_id  # type: ignore[attr-defined]
    first.close()
    assert list(standin.agents) == [agent_id]  # created once, by name
    again = MemGPTMemoryAdapter.from_url(f"memgpt+letta://{host}?agent_id={agent_id}&ledger={tmp_path / 'a.db'}")
    assert again.backend.agent_id == agent_id and len(standin.agents) == 1  # type: ignore[attr-defined]
    again.close()
    with pytest.raises(ConfigurationError, match="no agent"):
        MemGPTMemoryAdapter.from_url(f"memgpt+letta://{host}?agent_id=agent-missing&ledger={tmp_path / 'b.db'}")
    with pytest.raises(ConfigurationError, match="names the agent"):
        MemGPTMemoryAdapter.from_url(f"memgpt+letta://{host}")
    with pytest.raises(ConfigurationError, match="unknown Letta URL parameters: colour"):
        MemGPTMemoryAdapter.from_url(f"memgpt+letta://{host}?agent=ada&colour=red")
    with pytest.raises(ConfigurationError, match="agent"):
        MemGPTMemoryAdapter(letta=Letta(base_url=standin.url, api_key=standin.api_key))
    with pytest.raises(UsageError, match="letta="):
        MemGPTMemoryAdapter(tmp_path / "n.db", agent="ada")
    monkeypatch.setenv("LETTA_API_KEY", "wrong-key")
    with pytest.raises(LettaError, match="401"):
        MemGPTMemoryAdapter.from_url(f"memgpt+letta://{host}?agent=ada&ledger={tmp_path / 'c.db'}")


def test_open_memory_dispatches_letta_urls_standin(
    standin: LettaStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mnemos.memory_adapters import registry

    monkeypatch.setenv("LETTA_API_KEY", standin.api_key)
    monkeypatch.setitem(registry._registry, "memgpt+letta", MemGPTMemoryAdapter.from_url)
    url = f"memgpt+letta://{standin.url.removeprefix('http://')}?agent=ada&ledger={tmp_path / 'l.db'}"
    adapter = registry.open_memory(url, scope=("agents",), embedder="hashing")
    try:
        assert isinstance(adapter, MemGPTMemoryAdapter) and isinstance(adapter.backend, LettaBackend)
        adapter.define_block(("ada",), "persona", "scoped")  # type: ignore[attr-defined]
        assert [b["metadata"]["namespace"] for b in standin.blocks.values()] == ["agents/ada"]
    finally:
        adapter.close()


# -- live: a real Letta server ------------------------------------------------------------

live = pytest.mark.skipif(
    not os.environ.get("LETTA_BASE_URL"), reason="LETTA_BASE_URL is not set (no Letta server to test against)"
)


@pytest.fixture
def live_memory(tmp_path: Path) -> Iterator[MemGPTMemoryAdapter]:
    client = Letta(base_url=os.environ["LETTA_BASE_URL"], api_key=os.environ.get("LETTA_API_KEY"))
    options = {k: os.environ[f"LETTA_{k.upper()}"] for k in ("model", "embedding") if f"LETTA_{k.upper()}" in os.environ}
    name = f"mnemos-test-{uuid.uuid4().hex[:8]}"
    adapter = MemGPTMemoryAdapter(tmp_path / "ledger.db", letta=client, agent=name, agent_options=options,
                                  embedder="hashing")
    yield adapter
    adapter.close()
    client.agents.delete(adapter.backend.agent_id)  # type: ignore[attr-defined]
    client.close()


@live
def test_live_core_block_round_trip(live_memory: MemGPTMemoryAdapter) -> None:
    live_memory.define_block(NS, "mnemos_notes", "first line")
    live_memory.core_memory_append(NS, "mnemos_notes", "second line")
    block_id = live_memory.backend._refs.get(live_memory.core_blocks(NS)["mnemos_notes"].id)[1]  # type: ignore[attr-defined]
    assert live_memory.backend.client.blocks.retrieve(block_id).value == "first line\nsecond line"  # type: ignore[attr-defined]


@live
def test_live_archival_insert_search_delete(live_memory: MemGPTMemoryAdapter) -> None:
    record = live_memory.archival_memory_insert(NS, "The lighthouse keeper's dog is named Biscuit")
    live_memory.archival_memory_insert(NS, "Quarterly tax forms are due next Friday")
    hits = live_memory.archival_memory_search(NS, "what is the dog called")
    assert hits and hits[0].record.id == record.id
    live_memory.delete(record.id)
    assert all(h.record.id != record.id for h in live_memory.archival_memory_search(NS, "dog Biscuit"))

