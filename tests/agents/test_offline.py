from __future__ import annotations

from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from pydantic import BaseModel

from mnemos.agents import OfflineChatModel


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"Sunny and 21 degrees in {city}"


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def test_calls_the_tool_the_request_names_with_schema_arguments() -> None:
    model = OfflineChatModel().bind_tools([get_weather, add])
    reply = model.invoke("please add 2 and 40")
    assert [c["name"] for c in reply.tool_calls] == ["add"]
    assert reply.tool_calls[0]["args"] == {"a": 2, "b": 40}
    reply = model.invoke("What is the weather? city: Lisbon")
    assert reply.tool_calls[0]["name"] == "get_weather"
    assert reply.tool_calls[0]["args"] == {"city": "Lisbon"}


def test_no_tool_call_when_the_request_does_not_ask_for_one() -> None:
    reply = OfflineChatModel().bind_tools([get_weather, add]).invoke("hello, how are you?")
    assert reply.tool_calls == []
    assert reply.content


def test_tool_choice_forces_or_forbids() -> None:
    model = OfflineChatModel()
    forced = model.bind_tools([get_weather, add], tool_choice="add").invoke("hello there")
    assert forced.tool_calls[0]["name"] == "add"
    anyone = model.bind_tools([get_weather], tool_choice="any").invoke("hello there")
    assert anyone.tool_calls[0]["name"] == "get_weather"
    none = model.bind_tools([get_weather], tool_choice="none").invoke("weather city: Oslo")
    assert none.tool_calls == []


def test_tool_calling_loop_in_a_langgraph_state_graph() -> None:
    tools = [get_weather, add]
    model = OfflineChatModel().bind_tools(tools)

    def call_model(state: MessagesState) -> dict:
        return {"messages": [model.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("model", call_model)
    graph.add_node("tools", ToolNode(tools))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", tools_condition)
    graph.add_edge("tools", "model")
    app = graph.compile()
    out = app.invoke({"messages": [HumanMessage("What's the weather like? city: Paris")]})
    kinds = [type(m).__name__ for m in out["messages"]]
    assert kinds == ["HumanMessage", "AIMessage", "ToolMessage", "AIMessage"]
    assert out["messages"][2].content == "Sunny and 21 degrees in Paris"
    assert out["messages"][-1].content == "Based on the tool results: Sunny and 21 degrees in Paris"


def test_answers_from_its_context() -> None:
    model = OfflineChatModel()
    context = SystemMessage("You are helpful.\n\nRelevant memories:\n- User lives in Berlin\n- User likes green tea")
    reply = model.invoke([context, HumanMessage("Where do I live?")])
    assert reply.content == "Based on what I remember: User lives in Berlin."
    reply = model.invoke([context, HumanMessage("What drink do I like?")])
    assert "green tea" in reply.content
    assert model.invoke([HumanMessage("What is the capital of Peru?")]).content.startswith("I don't know")
    assert model.invoke([HumanMessage("Good morning")]).content == "Noted."


def test_is_deterministic() -> None:
    messages = [SystemMessage("- The launch is on Friday"), HumanMessage("When is the launch?")]
    replies = {OfflineChatModel().invoke(messages).content for _ in range(3)}
    assert replies == {"Based on what I remember: The launch is on Friday."}


def test_answers_with_tool_results() -> None:
    call = {"name": "add", "args": {"a": 1, "b": 2}, "id": "c1"}
    messages = [HumanMessage("add 1 and 2"), AIMessage("", tool_calls=[call]),
                ToolMessage("3", tool_call_id="c1", name="add")]
    assert OfflineChatModel().bind_tools([add]).invoke(messages).content == "Based on the tool results: 3"


class Person(BaseModel):
    name: str
    age: int
    role: Literal["admin", "user"] = "user"


def test_structured_output_with_a_pydantic_schema() -> None:
    result = OfflineChatModel().with_structured_output(Person).invoke("My name is Ada and I am 36; I am an admin")
    assert result == Person(name="Ada", age=36, role="admin")


def test_structured_output_with_a_json_schema() -> None:
    schema = {
        "title": "Booking",
        "description": "A table booking",
        "type": "object",
        "properties": {"guests": {"type": "integer"}, "day": {"type": "string"},
                       "outdoor": {"type": "boolean"}},
        "required": ["guests", "day", "outdoor"],
    }
    result = OfflineChatModel().with_structured_output(schema).invoke("Book for 4 people, day: Friday")
    assert result == {"guests": 4, "day": "Friday", "outdoor": False}


def test_structured_output_include_raw() -> None:
    result = OfflineChatModel().with_structured_output(Person, include_raw=True).invoke("name: Bo, age: 7")
    assert result["parsed"] == Person(name="Bo", age=7)
    assert result["raw"].tool_calls[0]["name"] == "Person"


def test_streams_word_by_word() -> None:
    model = OfflineChatModel()
    messages = [SystemMessage("- User lives in Berlin"), HumanMessage("Where do I live?")]
    pieces = [chunk.content for chunk in model.stream(messages)]
    assert [p for p in pieces if p] == ["Based ", "on ", "what ", "I ", "remember: ", "User ", "lives ", "in ", "Berlin."]
    assert "".join(pieces) == model.invoke(messages).content


async def test_async_stream_and_tool_call_chunks() -> None:
    model = OfflineChatModel()
    pieces = [c.content async for c in model.astream([SystemMessage("- Tea is green"), HumanMessage("tea?")])]
    assert "".join(pieces) == "Based on what I remember: Tea is green."
    bound = model.bind_tools([add])
    chunks = [c async for c in bound.astream("add 5 and 6")]
    merged = chunks[0]
    for c in chunks[1:]:
        merged = merged + c
    assert merged.tool_calls[0]["args"] == {"a": 5, "b": 6}


def test_streams_inside_langgraph_messages_mode() -> None:
    model = OfflineChatModel()

    def call_model(state: MessagesState) -> dict:
        return {"messages": [model.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("model", call_model)
    graph.add_edge(START, "model")
    graph.add_edge("model", END)
    app = graph.compile()
    tokens = [chunk.content for chunk, _ in app.stream(
        {"messages": [SystemMessage("- Standup is at nine"), HumanMessage("When is standup?")]},
        stream_mode="messages")]
    assert len(tokens) > 3
    assert "".join(tokens) == "Based on what I remember: Standup is at nine."


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_requests_do_not_crash(text: str) -> None:
    assert OfflineChatModel().invoke([HumanMessage(text)]).content == "Noted."


def test_optional_arguments_keep_their_defaults_unless_given() -> None:
    @tool
    def search(query: str, tags: list[str] | None = None, limit: int = 5, exact: bool = False,
               boost: float | None = None) -> str:
        """Search the notes."""
        return query

    model = OfflineChatModel().bind_tools([search])
    plain = model.invoke("search the notes for the budget. Which one is newest?")
    assert plain.tool_calls[0]["args"] == {"query": "search the notes for the budget. Which one is newest?"}
    given = model.invoke('search notes, query: budget, tags: ["q3", "finance"], limit: 3, exact: yes, boost: 1.5')
    assert given.tool_calls[0]["args"] == {"query": "budget", "tags": ["q3", "finance"], "limit": 3,
                                           "exact": True, "boost": 1.5}
    listed = model.invoke("search notes. query: budget. tags: q3, finance and travel. boost: none")
    assert listed.tool_calls[0]["args"] == {"query": "budget", "tags": ["q3", "finance", "travel"], "boost": None}


def test_json_schema_without_required_fields_fills_only_what_is_given() -> None:
    schema = {"title": "Filter", "description": "A filter", "type": "object",
              "properties": {"year": {"type": "integer"}, "topics": {"type": "array", "items": {"type": "string"}},
                             "archived": {"type": ["boolean", "null"]}}}
    assert OfflineChatModel().with_structured_output(schema).invoke("Anything from 2021 please") == {}
    result = OfflineChatModel().with_structured_output(schema).invoke("year: 2021, archived: true")
    assert result == {"year": 2021, "archived": True}


_PIECES = st.lists(st.sampled_from(["[M", "1", " · confidence ", "0.82", "]", "[", " ", "\u00a0", "\t", "x", "·"]),
                   max_size=6).map("".join)
_TAGS = st.sampled_from(["", "[M1 · confidence 0.82]", "  [M12 · confidence 0.50 · source a.md § B]",
                         "\t[M3 · confidence ]", "[M · confidence 1]", "[M2 · confidence [M1 · confidence x]"])


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.tuples(_PIECES, _TAGS, _PIECES, _TAGS).map("".join))
def test_a_memory_tag_is_cut_as_its_pattern_cuts_it(text: str) -> None:
    from mnemos.agents import offline

    assert offline._untagged(text) == offline._MEMORY_TAG.sub("", text)
