"""The Agent keeps LangGraph's conventions: control flow, Commands, injected tool arguments,
tool execution left to the graph, configurable state keys, swarm and supervisor handoffs.

Everything runs on LangGraph itself (checkpointer, store, ToolNode, langgraph-swarm,
langgraph-supervisor); the models are scripted, so every step is deterministic.
"""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import InjectedToolCallId, tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.errors import GraphBubbleUp
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import InjectedState, InjectedStore, ToolRuntime, tools_condition
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command, interrupt
from typing_extensions import TypedDict

from mnemos.agents import Agent, ScriptedChatModel
from mnemos.exceptions import UsageError
from mnemos.memory_adapters import MemoryKind


def call(name: str, args: dict[str, Any] | None = None, call_id: str = "call_1") -> AIMessage:
    return AIMessage("", tool_calls=[{"name": name, "args": args or {}, "id": call_id}])


def tool_then_answer(name: str, args: dict[str, Any] | None = None) -> Any:
    """A model that calls ``name`` until a tool result is in the prompt, then answers with it."""

    def reply(messages: list[BaseMessage]) -> AIMessage:
        if isinstance(messages[-1], ToolMessage):
            return AIMessage(f"The tool said: {messages[-1].text}")
        return call(name, args)

    return ScriptedChatModel(reply)


def one_node(agent: Agent, state: type = MessagesState, **compile_kwargs: Any) -> Any:
    graph = StateGraph(state)
    graph.add_node(agent)
    graph.add_edge(START, agent.name)
    graph.add_edge(agent.name, END)
    return graph.compile(**compile_kwargs)


# --- finding 2: LangGraph's control flow passes through the agent's tool loop ----------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_an_interrupt_in_a_tool_pauses_the_graph_and_resumes_with_command_resume(mode: str) -> None:
    runs: list[str] = []

    @tool
    def deploy(service: str) -> str:
        """Deploy a service, once a person approves."""
        runs.append(service)
        answer = interrupt({"question": f"Deploy {service}?"})
        return f"deployed {service}" if answer == "yes" else f"not deployed ({answer})"

    agent = Agent(name="ops", model=tool_then_answer("deploy", {"service": "billing"}), tools=[deploy])
    app = one_node(agent, checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": f"deploy-{mode}"}}

    def run(payload: Any) -> dict[str, Any]:
        return app.invoke(payload, cfg) if mode == "sync" else asyncio.run(app.ainvoke(payload, cfg))

    paused = run({"messages": [HumanMessage("Deploy billing")]})
    assert [i.value for i in paused["__interrupt__"]] == [{"question": "Deploy billing?"}]
    assert app.get_state(cfg).next == ("ops",)  # the node waits; nothing of the turn is in the state yet
    assert [type(m).__name__ for m in paused["messages"]] == ["HumanMessage"]

    done = run(Command(resume="yes"))
    assert "__interrupt__" not in done
    tool_message = next(m for m in done["messages"] if isinstance(m, ToolMessage))
    assert tool_message.content == "deployed billing" and tool_message.status != "error"
    assert done["messages"][-1].content == "The tool said: deployed billing"
    assert runs == ["billing", "billing"]  # the tool ran again on resume, as LangGraph re-runs an interrupted node


def test_the_graph_bubble_up_family_is_not_turned_into_a_tool_error() -> None:
    @tool
    def escalate() -> str:
        """Hand the run to the graph."""
        raise GraphBubbleUp("up to the graph")

    agent = Agent(name="ops", model=tool_then_answer("escalate"), tools=[escalate])
    with pytest.raises(GraphBubbleUp):
        agent.invoke({"messages": [HumanMessage("go")]})


def test_a_parent_command_from_a_graph_run_inside_a_tool_routes_the_agents_graph() -> None:
    def escalate(state: MessagesState) -> Command:
        return Command(graph=Command.PARENT, goto="oncall",
                       update={"messages": [AIMessage("escalated by the runbook", name="runbook")]})

    inner = StateGraph(MessagesState)
    inner.add_node("escalate", escalate)
    inner.add_edge(START, "escalate")
    runbook = inner.compile()

    @tool
    def run_runbook(step: str) -> str:
        """Run a runbook step (a graph of its own)."""
        runbook.invoke({"messages": [HumanMessage(step)]})
        return "ran"

    agent = Agent(name="ops", model=tool_then_answer("run_runbook", {"step": "restart"}), tools=[run_runbook])
    graph = StateGraph(MessagesState)
    graph.add_node(agent, destinations=("oncall",))
    graph.add_node("oncall", lambda s: {"messages": [AIMessage("on-call paged", name="oncall")]})
    graph.add_edge(START, "ops")
    out = graph.compile().invoke({"messages": [HumanMessage("the database is down")]})
    assert [m.text for m in out["messages"][1:]] == ["escalated by the runbook", "on-call paged"]


class TopicState(MessagesState):
    topic: str


def test_a_tool_returning_a_command_updates_the_state_and_its_tool_message_joins_the_turn() -> None:
    @tool
    def set_topic(topic: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> Command:
        """Set the conversation's topic."""
        return Command(update={"topic": topic,
                               "messages": [ToolMessage(f"topic is now {topic}", tool_call_id=tool_call_id)]})

    agent = Agent(name="host", model=tool_then_answer("set_topic", {"topic": "tea"}), tools=[set_topic])
    out = one_node(agent, TopicState).invoke({"messages": [HumanMessage("Let's talk about tea")], "topic": ""})
    assert out["topic"] == "tea"
    tool_message = next(m for m in out["messages"] if isinstance(m, ToolMessage))
    assert tool_message.content == "topic is now tea" and tool_message.name == "set_topic"
    assert out["messages"][-1].content == "The tool said: topic is now tea"  # not "Command(update=...)"


def test_a_command_without_its_tool_message_is_a_tool_error_as_in_tool_node() -> None:
    @tool
    def bad() -> Command:
        """Forget the tool message."""
        return Command(update={"topic": "x"})

    agent = Agent(name="host", model=tool_then_answer("bad"), tools=[bad])
    out = agent.invoke({"messages": [HumanMessage("go")]})
    error = next(m for m in out["messages"] if isinstance(m, ToolMessage))
    assert error.status == "error" and "matching ToolMessage" in error.text
    assert "topic" not in out


def test_a_command_to_the_parent_graph_routes_from_the_agent_node() -> None:
    @tool
    def to_reviewer(tool_call_id: Annotated[str, InjectedToolCallId]) -> Command:
        """Send the work to the reviewer."""
        return Command(goto="reviewer", graph=Command.PARENT, update={
            "topic": "review", "messages": [ToolMessage("sent to review", tool_call_id=tool_call_id)]})

    agent = Agent(name="writer", model=tool_then_answer("to_reviewer"), tools=[to_reviewer])
    graph = StateGraph(TopicState)
    graph.add_node(agent, destinations=("reviewer",))
    graph.add_node("reviewer", lambda s: {"messages": [AIMessage(f"reviewing ({s['topic']})", name="reviewer")]})
    graph.add_edge(START, "writer")
    out = graph.compile().invoke({"messages": [HumanMessage("Write it")], "topic": ""})
    assert [(type(m).__name__, m.text) for m in out["messages"][1:]] == [
        ("AIMessage", ""), ("ToolMessage", "sent to review"), ("AIMessage", "reviewing (review)")]
    assert out["topic"] == "review"


# --- finding 3: injected arguments; tool execution left to the graph ------------------------------


class NotesState(MessagesState):
    project: str


def test_injected_state_store_tool_call_id_and_runtime_are_injected() -> None:
    seen: dict[str, Any] = {}

    @tool
    def lookup(
        key: str,
        state: Annotated[dict, InjectedState],
        project: Annotated[str, InjectedState("project")],
        store: Annotated[BaseStore, InjectedStore()],
        tool_call_id: Annotated[str, InjectedToolCallId],
        runtime: ToolRuntime,
    ) -> str:
        """Look a key up in the project's store."""
        seen.update(state=state, project=project, tool_call_id=tool_call_id, runtime=runtime)
        item = store.get(("projects", project), key)
        return f"{key} = {item.value['v'] if item else None}"

    store = InMemoryStore()
    store.put(("projects", "falcon"), "owner", {"v": "Dana"})
    model = tool_then_answer("lookup", {"key": "owner"})
    agent = Agent(name="clerk", model=model, tools=[lookup])
    out = one_node(agent, NotesState, store=store).invoke(
        {"messages": [HumanMessage("Who owns it?")], "project": "falcon"}, context={"user_id": "u1"})
    assert out["messages"][-1].content == "The tool said: owner = Dana"
    assert seen["project"] == "falcon" and seen["state"]["project"] == "falcon"
    calls = [m for m in seen["state"]["messages"] if isinstance(m, AIMessage) and m.tool_calls]
    assert calls and calls[-1].tool_calls[0]["id"] == seen["tool_call_id"] == "call_1"  # the turn so far
    assert seen["runtime"].store is store and seen["runtime"].tool_call_id == "call_1"
    assert seen["runtime"].context == {"user_id": "u1"}
    assert seen["runtime"].state["project"] == "falcon"
    schema = lookup.tool_call_schema.model_json_schema()["properties"]
    assert list(schema) == ["key"]  # the model is shown only what it fills in


def test_with_execute_tools_false_the_agent_leaves_its_tool_calls_to_a_tool_node(memory) -> None:
    runs: list[str] = []

    @tool
    def weather(city: str) -> str:
        """The weather in a city."""
        runs.append(city)
        return f"Sunny in {city}"

    model = ScriptedChatModel([call("weather", {"city": "Oslo"}), AIMessage("It is sunny in Oslo.")])
    agent = Agent(name="forecaster", model=model, tools=[weather], memory=memory, execute_tools=False, max_steps=1)
    alone = Agent(name="forecaster", model=ScriptedChatModel([call("weather", {"city": "Oslo"})]), tools=[weather],
                  execute_tools=False, max_steps=1).invoke({"messages": [HumanMessage("Weather in Oslo?")]})
    assert [type(m).__name__ for m in alone["messages"]] == ["AIMessage"] and alone["messages"][0].tool_calls
    assert runs == []  # the node itself ran no tool

    graph = StateGraph(MessagesState)
    graph.add_node(agent)
    graph.add_node(agent.tool_node())
    graph.add_edge(START, agent.name)
    graph.add_conditional_edges(agent.name, tools_condition)
    graph.add_edge("tools", agent.name)
    cfg = {"configurable": {"thread_id": "t", "user_id": "alice"}}
    out = graph.compile().invoke({"messages": [HumanMessage("Weather in Oslo?")]}, cfg)
    assert [type(m).__name__ for m in out["messages"]] == ["HumanMessage", "AIMessage", "ToolMessage", "AIMessage"]
    assert out["messages"][-1].content == "It is sunny in Oslo." and runs == ["Oslo"]
    episodes = memory.list(namespace=agent.namespace("alice"), kinds=MemoryKind.EPISODIC)
    assert [e.content for e in episodes] == ["user: Weather in Oslo?\nforecaster: It is sunny in Oslo."]


def test_with_execute_tools_false_an_interrupted_tool_re_runs_without_asking_the_model_again() -> None:
    @tool
    def deploy(service: str) -> str:
        """Deploy a service, once a person approves."""
        return f"deployed {service}" if interrupt(f"Deploy {service}?") == "yes" else "not deployed"

    # exactly two replies: a third model call would raise
    model = ScriptedChatModel([call("deploy", {"service": "billing"}), AIMessage("Billing is deployed.")])
    agent = Agent(name="ops", model=model, tools=[deploy], execute_tools=False)
    graph = StateGraph(MessagesState)
    graph.add_node(agent)
    graph.add_node(agent.tool_node())
    graph.add_edge(START, "ops")
    graph.add_conditional_edges("ops", tools_condition)
    graph.add_edge("tools", "ops")
    app = graph.compile(checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "react-deploy"}}
    assert app.invoke({"messages": [HumanMessage("Deploy billing")]}, cfg)["__interrupt__"][0].value == "Deploy billing?"
    assert app.get_state(cfg).next == ("tools",)
    out = app.invoke(Command(resume="yes"), cfg)
    assert [m.text for m in out["messages"][2:]] == ["deployed billing", "Billing is deployed."]
    assert len(model.prompts) == 2


def test_a_tool_node_of_the_agent_keeps_its_limits_and_error_reports() -> None:
    @tool
    def broken() -> str:
        """Always fails."""
        raise RuntimeError("disk full")

    node = Agent(name="a", model=ScriptedChatModel(["x"]), tools=[broken]).tool_node()
    graph = StateGraph(MessagesState)
    graph.add_node(node)
    graph.add_edge(START, "tools")
    out = graph.compile().invoke({"messages": [HumanMessage("go"), call("broken")]})
    assert out["messages"][-1].status == "error" and out["messages"][-1].text == "Error: RuntimeError: disk full"


# --- finding 4: configurable state keys ----------------------------------------------------------


class ChatState(TypedDict):
    chat: Annotated[list[BaseMessage], add_messages]
    notes: Annotated[list[dict[str, Any]], operator.add]


def test_state_keys_are_configurable(memory) -> None:
    memory.add("The user's team is called Falcon", namespace=("users", "alice", "agents", "helper"),
               kind="semantic")
    seen: list[int] = []

    @tool
    def count(chat: Annotated[list, InjectedState("chat")]) -> str:
        """Count the messages so far."""
        seen.append(len(chat))
        return str(len(chat))

    agent = Agent(name="helper", model=tool_then_answer("count"), tools=[count], memory=memory,
                  messages_key="chat", trace_key="notes")
    out = one_node(agent, ChatState).invoke({"chat": [HumanMessage("What is my team called?")], "notes": []},
                                            {"configurable": {"user_id": "alice"}})
    assert out["chat"][-1].content == "The tool said: 2" and seen == [2]
    recall = next(e for e in out["notes"] if e["event"] == "recall")
    assert "Falcon" in recall["memories"][0]["content"]
    with pytest.raises(UsageError, match="'chat' list"):
        agent.invoke({"messages": [HumanMessage("hi")]})
    with pytest.raises(UsageError, match="trace_key"):
        Agent(name="x", model="offline", messages_key="chat", trace_key="chat")


def test_an_agent_with_other_keys_is_a_subgraph_of_a_messages_graph() -> None:
    agent = Agent(name="inner", model=ScriptedChatModel(lambda m: f"inner saw: {m[-1].text}"),
                  messages_key="chat", trace_key=None)
    sub = one_node(agent, ChatState)

    def through(state: MessagesState) -> dict[str, Any]:
        out = sub.invoke({"chat": state["messages"], "notes": []})
        return {"messages": out["chat"][-1:]}

    parent = StateGraph(MessagesState)
    parent.add_node("sub", through)
    parent.add_edge(START, "sub")
    out = parent.compile().invoke({"messages": [HumanMessage("hello")]})
    assert out["messages"][-1].content == "inner saw: hello"
    assert "notes" not in agent.invoke({"chat": [HumanMessage("x")]})  # trace_key=None: no trace in the update


# --- multi-agent: langgraph-swarm and langgraph-supervisor with mnemos agents ---------------------


def test_a_swarm_hands_off_between_two_mnemos_agents(memory) -> None:
    from langgraph_swarm import create_handoff_tool, create_swarm

    def alice_model(messages: list[BaseMessage]) -> AIMessage:
        return call("transfer_to_bob", call_id="handoff_1")  # alice passes every request on

    bob_model = ScriptedChatModel(lambda m: f"Bob here, about: {m[-1].text}")
    alice = Agent(name="alice", model=ScriptedChatModel(alice_model), tools=[create_handoff_tool(agent_name="bob")])
    bob = Agent(name="bob", model=bob_model, memory=memory, tools=[create_handoff_tool(agent_name="alice")])
    app = create_swarm([alice, bob], default_active_agent="alice").compile(checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "swarm", "user_id": "alice"}}
    drawn = {(e.source, e.target) for e in app.get_graph().edges}
    assert {("alice", "bob"), ("bob", "alice")} <= drawn  # the swarm found each agent's handoff destinations

    first = app.invoke({"messages": [HumanMessage("I need Bob for the invoice")]}, cfg)
    assert first["active_agent"] == "bob"
    assert [(type(m).__name__, m.name) for m in first["messages"]] == [
        ("HumanMessage", None), ("AIMessage", "alice"), ("ToolMessage", "transfer_to_bob"), ("AIMessage", "bob")]
    assert first["messages"][-1].content == "Bob here, about: I need Bob for the invoice"

    second = app.invoke({"messages": [HumanMessage("And the receipt?")]}, cfg)  # bob stays active
    assert second["active_agent"] == "bob" and second["messages"][-1].content == "Bob here, about: And the receipt?"
    assert len(alice.chat_model.prompts) == 1  # type: ignore[attr-defined]
    assert len(memory.list(namespace=bob.namespace("alice"), kinds=MemoryKind.EPISODIC)) == 2


def test_create_supervisor_runs_mnemos_agents_as_workers() -> None:
    from langgraph_supervisor import create_supervisor

    def supervise(messages: list[BaseMessage]) -> Any:
        spoke = {m.name for m in messages if isinstance(m, AIMessage)}
        if "researcher" not in spoke:
            return call("transfer_to_researcher", call_id="s1")
        if "writer" not in spoke:
            return call("transfer_to_writer", call_id="s2")
        return "Done."

    researcher = Agent(name="researcher", model=ScriptedChatModel(["Fact: oolong is a partly oxidised tea."]))
    writer_model = ScriptedChatModel(["A short piece on oolong."])
    writer = Agent(name="writer", model=writer_model)
    app = create_supervisor([researcher, writer], model=ScriptedChatModel(supervise)).compile()
    out = app.invoke({"messages": [HumanMessage("Write about oolong")]})
    said = [(m.name, m.text) for m in out["messages"] if isinstance(m, AIMessage) and m.text]
    assert ("researcher", "Fact: oolong is a partly oxidised tea.") in said
    assert ("writer", "A short piece on oolong.") in said
    assert said[-1] == ("supervisor", "Done.")
    assert any("[researcher] Fact: oolong" in m.text for m in writer_model.prompts[0])  # the writer saw the research
