from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool

from mnemos.agents import ScriptedChatModel
from mnemos.exceptions import UsageError


@tool
def lookup(term: str) -> str:
    """Look a term up."""
    return term


def test_replies_in_order_and_records_prompts() -> None:
    model = ScriptedChatModel(["one", AIMessage(content="two")])
    assert model.invoke("a").content == "one"
    assert model.invoke([HumanMessage("b")]).content == "two"
    assert [p[-1].content for p in model.prompts] == ["a", "b"]
    with pytest.raises(UsageError, match="ran out of replies after 2"):
        model.invoke("c")


def test_replies_from_a_function() -> None:
    model = ScriptedChatModel(lambda messages: f"echo {messages[-1].content}")
    assert model.invoke("hi").content == "echo hi"
    assert model.invoke("there").content == "echo there"


def test_tool_calls_get_ids_and_tools_are_recorded() -> None:
    call = AIMessage(content="", tool_calls=[{"name": "lookup", "args": {"term": "x"}, "id": ""}])
    model = ScriptedChatModel([call])
    reply = model.bind_tools([lookup]).invoke("go")
    assert reply.tool_calls[0]["name"] == "lookup"
    assert reply.tool_calls[0]["id"].startswith("call_")
    assert model.bound_tools == [["lookup"]]


def test_bad_reply_type_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        ScriptedChatModel([42])  # type: ignore[list-item]
    with pytest.raises(UsageError):
        ScriptedChatModel("just one string")
    model = ScriptedChatModel(lambda messages: 42)  # type: ignore[arg-type,return-value]
    with pytest.raises(UsageError):
        model.invoke("x")
