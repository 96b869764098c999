"""The MemGPT agent as an agent: a LangGraph node, async, steps over messages,
and the place it lives (the agents layer; the memory layer keeps the storage).

Models: ScriptedChatModel where a test needs particular calls (standing in for
a hosted model's choices, and recording every prompt), the offline model elsewhere.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.message import add_messages

from memgpt_calls import calling
from mnemos.agents import Agent, OfflineChatModel, ScriptedChatModel
from mnemos.agents.memgpt import MemGPTAgent
from mnemos.agents.structured import INTERNAL_TAG
from mnemos.exceptions import UsageError
from mnemos.graphs import GraphBuilder
from mnemos.memory_adapters.memgpt import MemGPTMemoryAdapter


@pytest.fixture
def memgpt_memory(tmp_path: Path) -> Iterator[MemGPTMemoryAdapter]:
    adapter = MemGPTMemoryAdapter(tmp_path / "memgpt.db", embedder="hashing")
    yield adapter
    adapter.close()


def said(agent: MemGPTAgent) -> list[str]:
    return [m.text for m in agent.context.queue if isinstance(m, HumanMessage)]


# --- finding: GraphBuilder().node(memgpt_agent) raised UsageError ----------------------------


def test_memgpt_agent_is_a_graph_builder_node(memgpt_memory: MemGPTMemoryAdapter) -> None:
    model = ScriptedChatModel(["Hello Ada.", "You told me: Ada."])
    coder = MemGPTAgent(model, memgpt_memory, name="coder", summarizer="extractive")
    graph = GraphBuilder(name="memgpt").node(coder).entry(coder).finish(coder).compile()
    first = graph.invoke({"messages": [HumanMessage("I am Ada.")]}, {"configurable": {"thread_id": "t"}})
    reply = first["messages"][-1]
    assert isinstance(reply, AIMessage) and reply.text == "Hello Ada." and reply.name == "coder"
    # the state carries the whole conversation; the agent takes only what came after its own reply
    second = graph.invoke({"messages": [HumanMessage("Who am I?")]}, {"configurable": {"thread_id": "t"}})
    assert second["messages"][-1].text == "You told me: Ada."
    assert said(coder) == ["I am Ada.", "Who am I?"]
    assert memgpt_memory.message_count(coder.namespace) == 4  # both turns, both sides, in recall


def test_memgpt_agent_is_a_state_graph_node_among_others(memgpt_memory: MemGPTMemoryAdapter) -> None:
    model = ScriptedChatModel(["I will write it in Rust."])
    coder = MemGPTAgent(model, memgpt_memory, name="coder")

    def product_manager(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage("The first feature is a login page.", name="product_manager")]}

    builder = StateGraph(MessagesState)
    builder.add_node("product_manager", product_manager)
    builder.add_node("coder", coder)
    builder.add_edge(START, "product_manager")
    builder.add_edge("product_manager", "coder")
    builder.add_edge("coder", END)
    out = builder.compile().invoke({"messages": [HumanMessage("Build me an app.")]})
    assert [m.text for m in out["messages"]][-1] == "I will write it in Rust."
    # another member's message reaches the model as a user message that names its speaker
    prompt = model.prompts[0]
    assert isinstance(prompt[-1], HumanMessage) and prompt[-1].text.startswith("product_manager: ")


def _coder_graph(model: ScriptedChatModel, memory: MemGPTMemoryAdapter) -> Any:
    coder = MemGPTAgent(model, memory, name="coder", summarizer="extractive")
    builder = StateGraph(MessagesState)
    builder.add_node("coder", coder)
    builder.add_edge(START, "coder")
    builder.add_edge("coder", END)
    return builder.compile()


def _coder_script() -> ScriptedChatModel:
    return ScriptedChatModel([calling("core_memory_append", label="human", content="Ada",
                                      request_heartbeat=True), "Noted, Ada."])


def _streamed(chunks: list[tuple[Any, dict[str, Any]]]) -> tuple[list[str], list[str]]:
    """The coder node's streamed model output: its texts and the functions it called."""
    mine = [m for m, meta in chunks if meta.get("langgraph_node") == "coder" and isinstance(m, AIMessage)]
    return [m.text for m in mine if m.text], [c["name"] for m in mine for c in m.tool_calls]


def test_a_memgpt_node_streams_its_model_calls_in_messages_mode(memgpt_memory: MemGPTMemoryAdapter) -> None:
    """The node's run config reaches the model calls, so LangGraph's callbacks see them."""
    graph = _coder_graph(_coder_script(), memgpt_memory)
    chunks = list(graph.stream({"messages": [HumanMessage("I am Ada.")]}, stream_mode="messages"))
    assert _streamed(chunks) == (["Noted, Ada."], ["core_memory_append"])


async def test_a_memgpt_node_streams_its_model_calls_in_messages_mode_async(
    memgpt_memory: MemGPTMemoryAdapter,
) -> None:
    graph = _coder_graph(_coder_script(), memgpt_memory)
    chunks = [c async for c in graph.astream({"messages": [HumanMessage("I am Ada.")]}, stream_mode="messages")]
    assert _streamed(chunks) == (["Noted, Ada."], ["core_memory_append"])


class _ChatStarts(BaseCallbackHandler):
    """Records the tags of every chat-model call whose first message asks for a summary."""

    def __init__(self) -> None:
        self.summaries: list[list[str]] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        if "summarize a history" in messages[0][0].text:
            self.summaries.append(list(kwargs.get("tags") or []))


def _summarizing_agent(memory: MemGPTMemoryAdapter) -> MemGPTAgent:
    def policy(messages: list[Any]) -> str:
        return "SUMMARY: small talk." if "summarize a history" in messages[0].text else "Noted."

    return MemGPTAgent(ScriptedChatModel(policy), memory, name="coder", context_window=2600)


def _chatter(i: int) -> str:
    return f"Small talk {i}: the weather was mild and I cooked soup number {i} for dinner today."


def test_the_summarizer_call_gets_the_steps_run_config(memgpt_memory: MemGPTMemoryAdapter) -> None:
    """Eviction's summary is a model call of the step: its callbacks see it, as an internal
    call (tagged so LangGraph does not stream it as an answer)."""
    agent, seen = _summarizing_agent(memgpt_memory), _ChatStarts()
    for i in range(80):
        agent.step(_chatter(i), {"callbacks": [seen], "tags": ["turn"]})
        if agent.context.evicted_total:
            break
    assert agent.context.summary == "SUMMARY: small talk."
    assert seen.summaries and all({"turn", INTERNAL_TAG} <= set(tags) for tags in seen.summaries)


async def test_the_summarizer_call_gets_the_steps_run_config_async(memgpt_memory: MemGPTMemoryAdapter) -> None:
    agent, seen = _summarizing_agent(memgpt_memory), _ChatStarts()
    for i in range(80):
        await agent.astep(_chatter(i), {"callbacks": [seen], "tags": ["turn"]})
        if agent.context.evicted_total:
            break
    assert agent.context.summary == "SUMMARY: small talk."
    assert seen.summaries and all({"turn", INTERNAL_TAG} <= set(tags) for tags in seen.summaries)


def test_messages_key_is_configurable(memgpt_memory: MemGPTMemoryAdapter) -> None:
    class Chat(TypedDict):
        turns: Annotated[list[AnyMessage], add_messages]
        log: Annotated[list[str], operator.add]

    coder = MemGPTAgent(ScriptedChatModel(["ok"]), memgpt_memory, name="coder", messages_key="turns")
    builder = StateGraph(Chat)
    builder.add_node("coder", coder)
    builder.add_edge(START, "coder")
    out = builder.compile().invoke({"turns": [HumanMessage("hi")], "log": []})
    assert out["turns"][-1].text == "ok"
    with pytest.raises(UsageError, match="'turns'"):
        coder.invoke({"messages": [HumanMessage("hi")]})


# --- finding: step() was sync-only and took one string ---------------------------------------


async def test_astep_and_ainvoke_run_the_loop_async(memgpt_memory: MemGPTMemoryAdapter) -> None:
    memgpt_memory.archival_memory_insert(("agents", "coder"), "the wifi password is tulip-42")
    model = ScriptedChatModel([
        calling("archival_memory_search", query="wifi password", request_heartbeat=True),
        "It is tulip-42.",
        "Noted, two of you.",
    ])
    coder = MemGPTAgent(model, memgpt_memory, name="coder")
    assert await coder.astep("what's the wifi password?") == "It is tulip-42."
    assert isinstance(model.prompts[1][-1], ToolMessage) and "tulip-42" in model.prompts[1][-1].text
    out = await coder.ainvoke({"messages": [HumanMessage("I am Ada."), AIMessage("I am Bo.", name="bo")]})
    assert out["messages"][-1].text == "Noted, two of you."
    assert said(coder)[-2:] == ["I am Ada.", "bo: I am Bo."]


def test_a_step_takes_several_messages_and_skips_others_tool_traffic(memgpt_memory: MemGPTMemoryAdapter) -> None:
    model = ScriptedChatModel(["Got both."])
    coder = MemGPTAgent(model, memgpt_memory, name="coder")
    reply = coder.step([
        HumanMessage("First point."),
        "Second point.",
        AIMessage("", tool_calls=[{"name": "x", "args": {}, "id": "c1"}], name="pm"),
        ToolMessage("result", tool_call_id="c1"),
    ])
    assert reply == "Got both."
    assert said(coder) == ["First point.", "Second point."]
    with pytest.raises(UsageError, match="needs a message with text"):
        coder.step([ToolMessage("only tool traffic", tool_call_id="c2")])
    assert coder.step(None) == ""  # nothing owed: a heartbeat with nothing to do


# --- finding: Agent(memory=MemGPTMemoryAdapter(...)) ran, but was not MemGPT ---------------


def test_a_plain_agent_refuses_memgpt_memory_and_names_the_memgpt_agent(memgpt_memory: MemGPTMemoryAdapter) -> None:
    with pytest.raises(UsageError, match="MemGPTAgent"):
        Agent(name="assistant", model="offline", memory=memgpt_memory)


def test_the_memgpt_agent_puts_core_memory_in_the_prompt_and_has_the_memory_functions(
    memgpt_memory: MemGPTMemoryAdapter,
) -> None:
    model = ScriptedChatModel(["hi"])
    coder = MemGPTAgent(model, memgpt_memory, name="coder", human="Name: Ada")
    coder.step("hello")
    system = model.prompts[0][0].text
    assert "<human" in system and "Name: Ada" in system
    assert {t.name for t in coder.tools} >= {"core_memory_append", "archival_memory_search", "conversation_search"}


# --- where it lives ----------------------------------------------------------------------------


def test_the_old_import_path_names_the_new_home() -> None:
    with pytest.raises(ImportError, match=r"mnemos\.agents\.memgpt"):
        from mnemos.memory_adapters.memgpt import MemGPTAgent as _  # noqa: F401
    import mnemos

    assert mnemos.MemGPTAgent is MemGPTAgent


def test_forced_calls_run_first_with_real_block_labels(memgpt_memory: MemGPTMemoryAdapter) -> None:
    """The offline model fills a forced call's arguments by its rules; the label can only be a real block."""
    coder = MemGPTAgent(OfflineChatModel(), memgpt_memory, name="coder")
    coder.force_calls("core_memory_append", "archival_memory_insert")
    coder.step("The project codename is Bluebird.")
    calls = [c["name"] for m in coder.last_messages if isinstance(m, AIMessage) for c in m.tool_calls]
    assert calls[:2] == ["core_memory_append", "archival_memory_insert"]
    results = [m.text for m in coder.last_messages if isinstance(m, ToolMessage)]
    assert not any(r.startswith("Error") for r in results), results
    assert "Bluebird" in memgpt_memory.core_blocks(coder.namespace)["human"].value
    assert memgpt_memory.archival_count(coder.namespace) == 1
    with pytest.raises(UsageError, match="no function named 'fly'"):
        coder.force_calls("fly")


def test_an_archival_insert_that_repeats_the_conversation_is_stored(memgpt_memory: MemGPTMemoryAdapter) -> None:
    """The store deduplicates across kinds: a passage equal to a logged message came back
    as that message and archival memory stayed empty, while the agent was told "Stored"."""
    ns = ("agents", "coder")
    memgpt_memory.record_message(ns, "user", "The codename is Bluebird.")
    passage = memgpt_memory.archival_memory_insert(ns, "The codename is Bluebird.")
    assert passage.kind.value == "semantic"
    assert memgpt_memory.archival_count(ns) == 1


def test_bad_names_and_memory_are_usage_errors(memgpt_memory: MemGPTMemoryAdapter, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="name"):
        MemGPTAgent(OfflineChatModel(), memgpt_memory, name="the coder")
    from mnemos.memory_adapters.native import NativeMemoryAdapter

    with NativeMemoryAdapter(tmp_path / "n.db") as native, pytest.raises(UsageError, match="MemGPTMemoryAdapter"):
        MemGPTAgent(OfflineChatModel(), native)  # type: ignore[arg-type]
