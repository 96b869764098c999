"""AutoGen interop on the real AutoGen runtime, offline: memory, model client, agents, teams, the brainstorm engine."""

from __future__ import annotations

import asyncio
import builtins
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import MaxMessageTermination
from autogen_agentchat.teams import RoundRobinGroupChat, SelectorGroupChat
from autogen_core.memory import MemoryContent, MemoryMimeType
from autogen_core.models import SystemMessage, UserMessage
from autogen_core.tools import FunctionTool
from autogen_ext.models.replay import ReplayChatCompletionClient
from langchain_core.messages import HumanMessage
from langgraph.graph import START, MessagesState, StateGraph

from brainstorm_standin import standin_team
from mnemos.agents import Agent
from mnemos.exceptions import MissingExtraError, UsageError
from mnemos.graphs._personas import load_personas
from mnemos.graphs.autogen import (
    autogen_agent,
    autogen_team_node,
    chat_client,
    memory_for_autogen,
    run_brainstorm_on_autogen,
)
from mnemos.graphs.groupchat import GroupChat
from mnemos.memory_adapters import Capability, MemoryKind
from mnemos.memory_adapters.native import NativeMemoryAdapter


def _team(db: Path) -> tuple[SelectorGroupChat, NativeMemoryAdapter]:
    store = NativeMemoryAdapter(db)
    analyst = Agent(name="analyst", instructions="You analyse launches.", model="offline", memory=store,
                    description="A mnemos analyst with its own memory.")
    assistant = AssistantAgent("planner", model_client=chat_client("offline"),
                               memory=[memory_for_autogen(store, ("teams", "launch"))],
                               description="An AutoGen assistant with mnemos memory.")
    # the selector is AutoGen's replay client: planner first, then the mnemos agent
    selector = ReplayChatCompletionClient(["planner", "analyst"])
    team = SelectorGroupChat([assistant, autogen_agent(analyst, thread_id="run")], model_client=selector,
                             termination_condition=MaxMessageTermination(3))
    return team, store


def test_selector_group_chat_recalls_a_memory_written_by_a_previous_run(tmp_path: Path) -> None:
    db = tmp_path / "mem.db"
    team, store = _team(db)
    first = asyncio.run(team.run(task="Our launch city is Lisbon; remember it."))
    assert [m.source for m in first.messages] == ["user", "planner", "analyst"]
    # what the first run decided goes to the shared memory through the AutoGen Memory protocol
    shared = memory_for_autogen(store, ("teams", "launch"))
    asyncio.run(shared.add(MemoryContent(content="The launch city is Lisbon.", mime_type=MemoryMimeType.TEXT,
                                         metadata={"run": 1})))
    store.close()

    team, store = _team(db)  # a new team on the reopened store
    second = asyncio.run(team.run(task="Which launch city did we choose?"))
    planner, analyst = second.messages[1], second.messages[2]
    assert "Lisbon" in planner.to_text()
    memory_events = [m for m in second.messages if type(m).__name__ == "MemoryQueryEvent"]
    assert not memory_events or "Lisbon" in memory_events[0].to_text()
    # the mnemos agent recalls its own episode of the first run
    assert "Lisbon" in analyst.to_text()


def _store(kind: str, tmp_path: Path) -> Any:
    if kind == "mem0":
        if importlib.util.find_spec("mem0") is None:
            pytest.skip("mem0ai is not installed")
        from mnemos.memory_adapters.mem0 import Mem0MemoryAdapter

        return Mem0MemoryAdapter(tmp_path / "mem0", embedder="hashing")
    return NativeMemoryAdapter(tmp_path / "mem.db")


@pytest.mark.parametrize("kind", ["native", "mem0"])
def test_memory_protocol_query_add_clear(tmp_path: Path, kind: str) -> None:
    """Over native and mem0 (autogen_ext's own Mem0Memory returns nothing against mem0ai 2.2)."""
    store = _store(kind, tmp_path)
    memory = memory_for_autogen(store, ("autogen", "x"), k=2)

    async def run() -> None:
        await memory.add(MemoryContent(content="Tea is served at four", mime_type=MemoryMimeType.TEXT))
        await memory.add(MemoryContent(content={"city": "Oslo"}, mime_type=MemoryMimeType.JSON,
                                       metadata={"kind": "episodic"}))
        found = await memory.query("When is tea served?")
        assert found.results[0].content == "Tea is served at four"
        assert found.results[0].metadata["score"] > 0 and found.results[0].metadata["why"]
        assert store.list(namespace=("autogen", "x"), kinds=MemoryKind.EPISODIC)[0].content == '{"city": "Oslo"}'
        fact = store.add("The office is in Leeds", namespace=("autogen", "x"), kind="semantic")
        if store.supports(Capability.SUPERSEDE):
            store.supersede(fact.id, "The office is in York")
        await memory.clear()
        assert (await memory.query("tea")).results == []
        assert store.list(namespace=("autogen", "x"), include_superseded=True, limit=None) == []
        await memory.close()

    asyncio.run(run())
    assert store.count(("autogen",)) == 0
    store.close()


def test_chat_client_calls_tools_through_the_mnemos_model() -> None:
    client = chat_client("offline")

    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"Sunny in {city}"

    tool = FunctionTool(get_weather, description="The weather in a city.")
    result = asyncio.run(client.create([SystemMessage(content="Be brief."),
                                        UserMessage(content="What is the weather, city: Paris", source="user")],
                                       tools=[tool]))
    assert result.finish_reason == "function_calls"
    assert result.content[0].name == "get_weather" and "Paris" in result.content[0].arguments
    assert client.total_usage().prompt_tokens > 0

    agent = AssistantAgent("helper", model_client=client, tools=[tool], reflect_on_tool_use=True)
    reply = asyncio.run(agent.run(task="What is the weather, city: Paris"))
    assert "Sunny in Paris" in reply.messages[-1].to_text()


def test_mnemos_agents_in_a_round_robin_team(tmp_path: Path) -> None:
    store = NativeMemoryAdapter(tmp_path / "mem.db")
    a = autogen_agent(Agent(name="a", model="offline", memory=store), thread_id="rr")
    b = autogen_agent(Agent(name="b", model="offline", memory=store), thread_id="rr")
    result = asyncio.run(RoundRobinGroupChat([a, b], termination_condition=MaxMessageTermination(3)).run(
        task="I live in Berlin."))
    assert [m.source for m in result.messages] == ["user", "a", "b"]
    facts = store.list(namespace=("users", "default", "agents", "a"), kinds=MemoryKind.SEMANTIC)
    assert any("Berlin" in f.content for f in facts)


def test_mnemos_agent_state_survives_save_and_load(tmp_path: Path) -> None:
    def team() -> RoundRobinGroupChat:
        agent = autogen_agent(Agent(name="a", model="offline"), thread_id="s")
        return RoundRobinGroupChat([agent], termination_condition=MaxMessageTermination(2))

    first = team()
    asyncio.run(first.run(task="The launch city is Lisbon."))
    saved = asyncio.run(first.save_state())
    second = team()
    asyncio.run(second.load_state(json.loads(json.dumps(saved))))
    reply = asyncio.run(second.run(task="Which launch city?"))
    assert "Lisbon" in reply.messages[-1].to_text()  # from the restored history, the agent has no memory


def test_autogen_team_as_a_langgraph_node() -> None:
    team = RoundRobinGroupChat(
        [AssistantAgent("echo", model_client=ReplayChatCompletionClient(["first answer", "second answer"]))],
        termination_condition=MaxMessageTermination(2))
    graph = StateGraph(MessagesState)
    graph.add_node("team", autogen_team_node(team))
    graph.add_edge(START, "team")
    app = graph.compile()
    out = app.invoke({"messages": [HumanMessage("Say something")]})
    assert out["messages"][-1].name == "echo" and out["messages"][-1].text == "first answer"
    out = asyncio.run(app.ainvoke({"messages": [HumanMessage("Again")]}))
    assert out["messages"][-1].text == "second answer"


def test_autogen_team_node_in_a_mnemos_graph_beside_a_mnemos_agent(tmp_path: Path) -> None:
    from mnemos.graphs import GraphBuilder, sqlite_checkpointer

    store = NativeMemoryAdapter(tmp_path / "mem.db")
    team = RoundRobinGroupChat([AssistantAgent("drafter", model_client=ReplayChatCompletionClient(
        ["Draft: launch in Lisbon in May."]))], termination_condition=MaxMessageTermination(2))
    reviewer = Agent(name="reviewer", model="offline", memory=store)
    builder = GraphBuilder(name="launch")
    builder.node(autogen_team_node(team, name="drafting"), name="drafting")
    builder.node(reviewer)
    builder.sequence("drafting", "reviewer")
    graph = builder.compile(checkpointer=sqlite_checkpointer(tmp_path / "cp.db"))
    out = graph.invoke({"messages": [HumanMessage("Plan the launch")]}, {"configurable": {"thread_id": "l"}})
    assert [m.name for m in out["messages"][1:]] == ["drafter", "reviewer"]
    # the mnemos agent saw the AutoGen agent's message and wrote it to its memory
    episodes = store.list(namespace=("users", "default", "agents", "reviewer"), kinds=MemoryKind.EPISODIC)
    assert any("launch in Lisbon in May" in e.content for e in episodes)


def test_brainstorm_on_the_autogen_engine_remembers_between_sessions(tmp_path: Path) -> None:
    store = NativeMemoryAdapter(tmp_path / "mem.db")

    def chat() -> GroupChat:
        personas = load_personas()
        members, moderator = standin_team(personas, store)  # a deterministic stand-in model per persona
        return GroupChat(participants=members, moderator=moderator, team_memory=store, team=personas.team)

    seen: list[str] = []
    first = run_brainstorm_on_autogen(chat(), "A loyalty product for small shops", thread_id="a1",
                                      on_update=lambda node, _: seen.append(node))
    assert seen == ["open", *["product_manager", "engineer", "skeptic"] * 3, "close"]
    rejected = [i["text"] for i in first.ideas if i["status"] == "rejected"]
    accepted = [i["text"] for i in first.ideas if i["status"] == "accepted"]
    assert rejected and accepted
    second = run_brainstorm_on_autogen(chat(), "Loyalty product for small shops, next steps", thread_id="a2")
    prompt = "\n".join(m["content"] for m in second.prompts[0]["messages"])
    assert all(text in prompt for text in accepted)
    assert not {i["text"] for i in second.ideas if i["origin"] == "session"} & set(rejected)


def test_a_name_autogen_cannot_take_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="Python identifiers"):
        autogen_agent(Agent(name="my-agent", model="offline"))


def test_missing_extra_is_a_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_autogen(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("autogen_"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_autogen)
    with pytest.raises(MissingExtraError, match=r"mnemos\[autogen\]"):
        chat_client("offline")
