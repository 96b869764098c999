from __future__ import annotations

import operator
from typing import Annotated, Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.runnables import Runnable
from langchain_core.tools import StructuredTool, tool
from langgraph.graph import END, START, MessagesState, StateGraph

from mnemos.agents import Agent, MemoryPolicy, ScriptedChatModel
from mnemos.exceptions import InvalidNamespaceError, UsageError
from mnemos.memory_adapters import MemoryKind


def config(user: str = "alice", thread: str = "t1") -> dict[str, Any]:
    return {"configurable": {"thread_id": thread, "user_id": user}}


class TracedState(MessagesState):
    memory_trace: Annotated[list[dict[str, Any]], operator.add]


def single_node_graph(agent: Agent, state: type = MessagesState) -> Any:
    graph = StateGraph(state)
    graph.add_node(agent)
    graph.add_edge(START, agent.name)
    graph.add_edge(agent.name, END)
    return graph.compile()


def ask(app: Any, text: str, user: str = "alice", thread: str = "t1") -> str:
    out = app.invoke({"messages": [HumanMessage(text)]}, config(user, thread))
    return out["messages"][-1].content


def test_agent_is_a_node_of_a_raw_state_graph(memory) -> None:
    agent = Agent(name="assistant", instructions="You help.", model="offline", memory=memory)
    app = single_node_graph(agent)
    out = app.invoke({"messages": [HumanMessage("Hello")]}, config())
    reply = out["messages"][-1]
    assert isinstance(reply, AIMessage) and reply.name == "assistant"
    assert reply.content == "Noted."


def test_invoke_returns_only_the_new_messages_and_the_trace(memory) -> None:
    agent = Agent(name="assistant", model="offline", memory=memory)
    update = agent.invoke({"messages": [HumanMessage("I live in Paris")]}, config())
    assert [type(m).__name__ for m in update["messages"]] == ["AIMessage"]
    events = [e["event"] for e in update["memory_trace"]]
    assert events == ["recall", "memory_write", "memory_write"]
    assert agent("Where do I live?", config())["messages"][-1].content.endswith("User lives in Paris.")


def test_recalled_memory_shows_in_the_reply(memory) -> None:
    memory.add("User's favorite color is teal", namespace=("users", "alice", "agents", "assistant"),
               kind="semantic")
    app = single_node_graph(Agent(name="assistant", model="offline", memory=memory))
    assert ask(app, "What is my favorite color?") == "Based on what I remember: User's favorite color is teal."


def test_two_users_memories_never_mix(memory) -> None:
    app = single_node_graph(Agent(name="assistant", model="offline", memory=memory))
    ask(app, "I live in Paris and I work at Acme.", user="alice")
    ask(app, "I live in Lima.", user="bob")
    assert "Paris" in ask(app, "Where do I live?", user="alice", thread="t2")
    bob = ask(app, "Where do I live?", user="bob", thread="t3")
    assert "Lima" in bob and "Paris" not in bob
    assert "Acme" not in ask(app, "Where do I work?", user="bob", thread="t4")
    bob_records = memory.list(namespace=("users", "bob"), limit=None)
    assert bob_records and all("Paris" not in r.content and "Acme" not in r.content for r in bob_records)


def test_a_contradicting_fact_supersedes_the_old_one(memory) -> None:
    app = single_node_graph(Agent(name="assistant", model="offline", memory=memory))
    ns = ("users", "alice", "agents", "assistant")
    ask(app, "I live in Paris.")
    ask(app, "I live in Berlin now.", thread="t2")
    ask(app, "I live in Berlin.", thread="t3")  # known already: not stored again
    facts = memory.list(namespace=ns, kinds=MemoryKind.SEMANTIC, include_superseded=True, limit=None)
    by_content = {r.content: r for r in facts}
    assert sorted(by_content) == ["User lives in Berlin", "User lives in Paris"]
    old, new = by_content["User lives in Paris"], by_content["User lives in Berlin"]
    assert old.superseded and old.superseded_by == new.id and not new.superseded
    hits = memory.search("where does the user live", namespace=ns, kinds=MemoryKind.SEMANTIC)
    assert [h.record.content for h in hits] == ["User lives in Berlin"]
    assert ask(app, "Where do I live?", thread="t4") == "Based on what I remember: User lives in Berlin."


def test_every_turn_is_an_episode_with_provenance(memory) -> None:
    agent = Agent(name="assistant", model="offline", memory=memory)
    request = HumanMessage("Good morning", id="msg-1")
    update = agent.invoke({"messages": [request]}, config(thread="thread-9"))
    (episode,) = memory.list(namespace=("users", "alice"), kinds=MemoryKind.EPISODIC, limit=None)
    assert episode.content == "user: Good morning\nassistant: Noted."
    assert episode.provenance.agent == "assistant"
    assert episode.provenance.thread == "thread-9"
    assert episode.provenance.message_ids == ("msg-1", update["messages"][-1].id)


def test_memory_events_are_streamed_and_kept_in_the_trace(memory) -> None:
    tea = memory.add("User likes green tea", namespace=("users", "alice", "agents", "assistant"),
                     kind="semantic", metadata={"source": "notes.md", "section": "Drinks"})
    app = single_node_graph(Agent(name="assistant", model="offline", memory=memory), TracedState)
    custom = [chunk for mode, chunk in app.stream({"messages": [HumanMessage("What tea do I like?")]},
                                                  config(), stream_mode=["custom", "updates"])
              if mode == "custom"]
    recall = custom[0]
    assert recall["event"] == "recall" and recall["agent"] == "assistant"
    top = recall["memories"][0]
    assert top["content"] == "User likes green tea" and top["kind"] == "semantic"
    assert "keyword" in top["why"] and isinstance(top["score"], float)
    assert top["source"] == "notes.md § Drinks" and 0 < top["confidence"] <= 1
    # the answer repeats the tea memory: it is cited, with its id, source and confidence
    sources = custom[1]
    assert sources["event"] == "sources"
    assert sources["sources"][0] == {"ref": "M1", "id": tea.id, "kind": "semantic",
                                     "source": "notes.md § Drinks", "confidence": top["confidence"]}
    assert custom[2]["event"] == "memory_write" and custom[2]["kind"] == "episodic"
    out = app.invoke({"messages": [HumanMessage("I like chess.")]}, config(thread="t2"))
    writes = [e for e in out["memory_trace"] if e["event"] == "memory_write"]
    assert [w["kind"] for w in writes] == ["episodic", "semantic"]
    assert writes[1]["content"] == "User likes chess"


def test_tools_run_in_the_agent_loop(memory) -> None:
    @tool
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        return f"Rain in {city}"

    agent = Agent(name="forecaster", model="offline", tools=[get_weather], memory=memory)
    update = agent.invoke("How is the weather? city: Oslo", config())
    kinds = [type(m).__name__ for m in update["messages"]]
    assert kinds == ["AIMessage", "ToolMessage", "AIMessage"]
    assert update["messages"][1].content == "Rain in Oslo"
    assert update["messages"][-1].content == "Based on the tool results: Rain in Oslo"
    assert all(m.name == "forecaster" for m in update["messages"] if isinstance(m, AIMessage))
    (episode,) = memory.list(namespace=("users", "alice"), kinds="episodic", limit=None)
    assert episode.metadata["tools"] == ["get_weather"]


def test_a_failing_tool_is_reported_to_the_model_not_raised() -> None:
    def divide(a: int, b: int) -> float:
        """Divide a by b."""
        return a / b

    call = AIMessage("", tool_calls=[{"name": "divide", "args": {"a": 1, "b": 0}, "id": "c1"}])
    model = ScriptedChatModel([call, "Division failed."])
    update = Agent(name="calc", model=model, tools=[divide]).invoke("divide 1 by 0")
    error = update["messages"][1]
    assert isinstance(error, ToolMessage) and error.status == "error"
    assert "ZeroDivisionError" in error.content
    assert update["messages"][-1].content == "Division failed."


def test_the_tool_loop_stops_after_max_steps() -> None:
    def ping() -> str:
        """Ping."""
        return "pong"

    looping = ScriptedChatModel(lambda m: AIMessage("", tool_calls=[{"name": "ping", "args": {}, "id": ""}]))
    update = Agent(name="looper", model=looping, tools=[ping], max_steps=3).invoke("go")
    assert len(looping.prompts) == 3
    assert update["messages"][-1].content.startswith("I stopped after 3 tool steps")


def test_agent_as_a_tool_of_another_agent(memory) -> None:
    researcher = Agent(name="researcher", description="Looks things up in what we know about the user.",
                       model="offline", memory=memory)
    memory.add("User lives in Kyoto", namespace=("users", "alice", "agents", "researcher"), kind="semantic")
    as_tool = researcher.as_tool()
    assert as_tool.name == "researcher" and "Looks things up" in as_tool.description
    boss = Agent(name="boss", model="offline", tools=[as_tool])
    app = single_node_graph(boss)
    out = app.invoke({"messages": [HumanMessage("Ask the researcher where I live")]}, config())
    tool_message = next(m for m in out["messages"] if isinstance(m, ToolMessage))
    assert tool_message.name == "researcher"
    assert tool_message.content == "Based on what I remember: User lives in Kyoto."
    assert out["messages"][-1].content == "Based on the tool results: Based on what I remember: User lives in Kyoto."


async def test_ainvoke_and_async_graph_runs(memory) -> None:
    agent = Agent(name="assistant", model="offline", memory=memory)
    update = await agent.ainvoke({"messages": [HumanMessage("I work at Globex.")]}, config())
    assert update["messages"][-1].name == "assistant"
    app = single_node_graph(agent)
    out = await app.ainvoke({"messages": [HumanMessage("Where do I work?")]}, config(thread="t2"))
    assert out["messages"][-1].content == "Based on what I remember: User works at Globex."
    # bob's run gets bob's config, so alice's facts stay hers
    out = await app.ainvoke({"messages": [HumanMessage("Where do I work?")]}, config(user="bob", thread="t3"))
    assert "Globex" not in out["messages"][-1].content


def async_only_weather_tool(calls: list[str]) -> StructuredTool:
    """A tool with a coroutine and no sync function, as langchain-mcp-adapters loads MCP tools."""

    async def get_weather(city: str) -> str:
        calls.append(city)
        return f"Sun in {city}"

    return StructuredTool.from_function(
        coroutine=get_weather, name="get_weather", description="Get the current weather for a city."
    )


def test_an_agent_is_a_runnable_named_after_itself() -> None:
    agent = Agent(name="assistant", model="offline")
    assert isinstance(agent, Runnable) and agent.get_name() == "assistant"
    assert agent.as_runnable() is agent
    assert agent.batch(["Hello", "Hi there"])[1]["messages"][-1].content == "Noted."


async def test_async_graph_runs_call_async_only_tools_in_a_raw_state_graph(memory) -> None:
    calls: list[str] = []
    agent = Agent(name="forecaster", model="offline", tools=[async_only_weather_tool(calls)], memory=memory)
    app = single_node_graph(agent, TracedState)
    request = {"messages": [HumanMessage("How is the weather? city: Oslo")]}
    out = await app.ainvoke(request, config())
    assert calls == ["Oslo"]
    assert [type(m).__name__ for m in out["messages"]] == ["HumanMessage", "AIMessage", "ToolMessage", "AIMessage"]
    assert out["messages"][-1].content == "Based on the tool results: Sun in Oslo"
    assert [e["event"] for e in out["memory_trace"]][:2] == ["recall", "memory_write"]
    custom = [chunk async for mode, chunk in app.astream(request, config(thread="t2"),
                                                         stream_mode=["custom", "updates"])
              if mode == "custom"]
    assert custom[0]["event"] == "recall" and custom[0]["agent"] == "forecaster"
    assert calls == ["Oslo", "Oslo"]


def test_sync_graph_runs_still_call_sync_tools_and_report_async_only_ones(memory) -> None:
    @tool
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        return f"Rain in {city}"

    app = single_node_graph(Agent(name="forecaster", model="offline", tools=[get_weather], memory=memory))
    assert ask(app, "How is the weather? city: Oslo") == "Based on the tool results: Rain in Oslo"
    calls: list[str] = []
    app = single_node_graph(Agent(name="forecaster", model="offline", tools=[async_only_weather_tool(calls)]))
    out = app.invoke({"messages": [HumanMessage("How is the weather? city: Oslo")]}, config())
    assert calls == [] and "does not support sync invocation" in out["messages"][2].content


def test_the_prompt_respects_the_policy_budget_tools_included(memory) -> None:
    def search_notes(query: str) -> str:
        """Search the team's notes."""
        return ""

    model = ScriptedChatModel(lambda messages: "ok")
    policy = MemoryPolicy(context_tokens=160, strategy="buffer")
    agent = Agent(name="assistant", model=model, memory=memory, policy=policy, instructions="Be brief.",
                  tools=[search_notes])
    tool_tokens = count_tokens_approximately([], tools=[tool(search_notes)])
    assert tool_tokens > 20
    history: list[Any] = []
    for i in range(30):
        history.append(HumanMessage(f"message number {i} with some padding words"))
        history += agent.invoke({"messages": history}, config())["messages"]
    assert all(model.get_num_tokens_from_messages(p) + tool_tokens <= 160 for p in model.prompts)
    assert model.prompts[-1][-1].content == "message number 29 with some padding words"
    assert len(model.prompts[-1]) > 3


def test_model_extracted_facts_with_a_scripted_stand_in_for_a_hosted_model(memory) -> None:
    """A hosted model is simulated by scripted replies, including the structured-output tool call."""
    facts = {"facts": [{"subject": "user", "attribute": "pet", "value": "a cat named Miso",
                        "statement": "User has a cat named Miso"}]}
    model = ScriptedChatModel(["Lovely!", AIMessage("", tool_calls=[{"name": "FactList", "args": facts, "id": "f1"}])])
    agent = Agent(name="assistant", model=model, memory=memory, policy=MemoryPolicy(extractor="model"))
    agent.invoke("My cat Miso is asleep.", config())
    (fact,) = memory.list(namespace=("users", "alice"), kinds="semantic", limit=None)
    assert fact.content == "User has a cat named Miso"
    assert {k: fact.metadata[k] for k in ("subject", "attribute", "value")} == {
        "subject": "user", "attribute": "pet", "value": "a cat named Miso"}
    assert fact.metadata["novel"] is True and 0.5 <= fact.metadata["novelty"] <= 1


def test_a_stateless_agent_needs_no_memory() -> None:
    update = Agent(name="plain", model="offline").invoke("hello")
    assert update["messages"][-1].content == "Noted." and update["memory_trace"] == []


def test_bad_specs_are_usage_errors(memory) -> None:
    with pytest.raises(UsageError, match="agent name"):
        Agent(name="has space")
    with pytest.raises(UsageError, match="memory adapter"):
        Agent(name="x", memory="not an adapter")  # type: ignore[arg-type]

    def same() -> str:
        """A tool."""
        return ""

    with pytest.raises(UsageError, match="two tools"):
        Agent(name="x", model="offline", tools=[same, same])
    agent = Agent(name="x", model="offline", memory=memory)
    with pytest.raises(InvalidNamespaceError):
        agent.invoke("hi", {"configurable": {"user_id": "a/b"}})
    with pytest.raises(UsageError, match="messages"):
        agent.invoke({"other": 1})
    assert memory.count() == 0


def test_summary_strategy_asks_the_model_once_per_turn_scripted_stand_in(memory) -> None:
    """A hosted model is simulated: it replies to the summary request, then to the user."""
    def reply(messages: list[Any]) -> str:
        if messages[0].content.startswith("Summarize the conversation"):
            return "They talked about the weather."
        return "fine"

    model = ScriptedChatModel(reply)
    policy = MemoryPolicy(strategy="summary_buffer", window=2, extractor="model", extract_facts=False)
    agent = Agent(name="assistant", model=model, policy=policy)
    history = [HumanMessage("Is it sunny?"), AIMessage("Yes."), HumanMessage("And tomorrow?"),
               AIMessage("Rain."), HumanMessage("Thanks")]
    agent.invoke({"messages": history})
    assert len(model.prompts) == 2
    assert "human: Is it sunny?" in model.prompts[0][-1].content
    system = model.prompts[1][0].content
    assert "Summary of the earlier conversation:\nThey talked about the weather." in system
    assert [m.content for m in model.prompts[1][1:]] == ["And tomorrow?", "Rain.", "Thanks"]


def test_assemble_shows_the_prompt_without_calling_the_model(memory) -> None:
    memory.add("User lives in Porto", namespace=("users", "alice", "agents", "assistant"), kind="semantic")
    model = ScriptedChatModel([])
    agent = Agent(name="assistant", instructions="Be kind.", model=model, memory=memory)
    context = agent.assemble({"messages": [HumanMessage("Where do I live?")]}, config())
    assert "- User lives in Porto" in context.messages[0].content
    assert context.tokens <= agent.policy.context_tokens
    assert [m.content for m in context.memories] == ["User lives in Porto"]
    assert model.prompts == []


def test_other_agents_replies_reach_the_model_as_named_user_messages() -> None:
    def lookup() -> str:
        """Look up."""
        return "data"

    idea_call = AIMessage("", tool_calls=[{"name": "lookup", "args": {}, "id": "x1"}])
    first = Agent(name="ideas", model=ScriptedChatModel([idea_call, "Use a kite."]), tools=[lookup])
    critic_model = ScriptedChatModel(["Kites need wind."])
    critic = Agent(name="critic", model=critic_model)
    graph = StateGraph(MessagesState)
    graph.add_node(first)
    graph.add_node(critic)
    graph.add_edge(START, "ideas")
    graph.add_edge("ideas", "critic")
    out = graph.compile().invoke({"messages": [HumanMessage("How do we lift it?")]})
    assert [m.name for m in out["messages"][1:]] == ["ideas", "lookup", "ideas", "critic"]
    seen = critic_model.prompts[0]
    assert [type(m).__name__ for m in seen] == ["HumanMessage", "HumanMessage"]
    assert seen[1].content == "[ideas] Use a kite." and seen[1].name == "ideas"


def test_a_tool_call_written_as_text_is_run(memory) -> None:
    """Small open models write tool calls as JSON text (scripted stand-in for such a model)."""
    calls: list[str] = []

    def get_weather(city: str) -> str:
        """Get the weather for a city."""
        calls.append(city)
        return f"sunny in {city}"

    model = ScriptedChatModel(['Let me check. {"tool": "get_weather", "arguments": {"city": "Oslo"}}', "It is sunny."])
    agent = Agent(name="assistant", model=model, tools=[get_weather])
    out = agent.invoke("Weather in Oslo?", config())["messages"]
    assert calls == ["Oslo"]
    assert out[0].tool_calls[0]["name"] == "get_weather" and out[0].content == "Let me check."
    assert isinstance(out[1], ToolMessage) and out[1].content == "sunny in Oslo"
    assert out[-1].content == "It is sunny."


def test_an_agent_without_tools_keeps_json_text_as_text() -> None:
    text = '{"tool": "get_weather", "arguments": {"city": "Oslo"}}'
    out = Agent(name="plain", model=ScriptedChatModel([text])).invoke("hi")["messages"]
    assert out[-1].content == text and not out[-1].tool_calls


def test_invented_model_facts_are_not_stored_and_the_rules_still_apply(memory) -> None:
    """A weak model invents facts (scripted stand-in): only facts the message supports are stored."""
    invented = {"facts": [{"subject": "user", "attribute": "city", "value": "Bamberg",
                           "statement": "User lives in Bamberg"}]}
    model = ScriptedChatModel(["Nice!", AIMessage("", tool_calls=[{"name": "FactList", "args": invented, "id": "f"}])])
    agent = Agent(name="assistant", model=model, memory=memory, policy=MemoryPolicy(extractor="model"))
    agent.invoke("I live in Berlin.", config())
    facts = [r.content for r in memory.list(namespace=("users", "alice"), kinds="semantic", limit=None)]
    assert facts == ["User lives in Berlin"]


def test_unusable_fact_output_after_a_repair_falls_back_to_the_rules(memory) -> None:
    model = ScriptedChatModel(["Nice!", "facts? no idea", "still none"])
    agent = Agent(name="assistant", model=model, memory=memory, policy=MemoryPolicy(extractor="model"))
    agent.invoke("I work at Acme.", config())
    facts = [r.content for r in memory.list(namespace=("users", "alice"), kinds="semantic", limit=None)]
    assert facts == ["User works at Acme"]
    assert len(model.prompts) == 3 and "not valid" in model.prompts[2][-1].content


def test_internal_model_calls_do_not_stream_as_answers(memory) -> None:
    """stream_mode="messages" shows the agent's answer, not its fact extraction or summary calls."""
    facts = {"facts": [{"subject": "user", "attribute": "lives_in", "value": "Lyon",
                        "statement": "User lives in Lyon"}]}

    def reply(messages: list[Any]) -> Any:
        if messages[0].content.startswith("Summarize the conversation"):
            return "SUMMARY-TEXT"
        if messages[0].content.startswith("Extract the facts"):
            return AIMessage("", tool_calls=[{"name": "FactList", "args": facts, "id": "f"}])
        return "ANSWER-TEXT"

    policy = MemoryPolicy(strategy="summary_buffer", window=2, extractor="model")
    agent = Agent(name="assistant", model=ScriptedChatModel(reply), memory=memory, policy=policy)
    app = single_node_graph(agent)
    history = [HumanMessage("Hi"), AIMessage("Hello"), HumanMessage("Sunny?"), AIMessage("Yes"),
               HumanMessage("I live in Lyon")]
    streamed = [chunk for chunk, _ in app.stream({"messages": history}, config(), stream_mode="messages")]
    texts = [m.text for m in streamed]
    assert "ANSWER-TEXT" in texts
    assert "SUMMARY-TEXT" not in texts and not any(getattr(m, "tool_calls", None) for m in streamed)
    stored = [r.content for r in memory.list(namespace=("users", "alice"), kinds="semantic", limit=None)]
    assert stored == ["User lives in Lyon"]  # the internal calls did run


def test_a_reply_with_nul_characters_is_kept_without_them(memory) -> None:
    """A model answering garbage (a NUL the store refuses) still ends the turn, and the
    turn is written without the NUL."""
    agent = Agent(name="assistant", model=ScriptedChatModel(["hi\x00there"]), memory=memory,
                  policy=MemoryPolicy(write_episodes=True))
    out = agent.invoke({"messages": [HumanMessage("hello")]}, config())
    assert out["messages"][-1].content == "hithere"
    stored = [r.content for r in memory.list(namespace=agent.namespace("alice", "t1"), limit=None)]
    assert any("hithere" in c for c in stored)
