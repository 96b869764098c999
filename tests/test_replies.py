"""Reading model replies: JSON in text, and tool calls written as text."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage

from mnemos._replies import find_json, iter_json, text_tool_calls, with_text_tool_calls, without_nul

NAMES = ["get_weather", "search"]


@pytest.mark.parametrize(
    "text",
    [
        '{"tool": "get_weather", "arguments": {"city": "Paris"}}',
        'Sure!\n```json\n{"name": "get_weather", "args": {"city": "Paris"}}\n```\nDone.',
        '<tool_call>{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}</tool_call>',
        '{"type": "function", "function": {"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}}',
        '{"tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]}',
        '[{"tool": "get_weather", "parameters": {"city": "Paris"}}]',
        'I will call it: {"tool_name": "get_weather", "input": {"city": "Paris"}}',
    ],
)
def test_tool_calls_written_as_text_are_recognised(text: str) -> None:
    calls, _ = text_tool_calls(text, NAMES)
    assert [(c["name"], c["args"]) for c in calls] == [("get_weather", {"city": "Paris"})]
    assert calls[0]["id"] and calls[0]["type"] == "tool_call"


@pytest.mark.parametrize(
    "text",
    [
        "It is sunny in Paris.",
        '{"tool": "launch_rockets", "arguments": {}}',             # not a bound tool
        '{"tool": "get_weather", "arguments": "not json"}',        # arguments unreadable
        '{"tool": "get_weather", "arguments": [1, 2]}',            # arguments not an object
        '{"tool": "get_weather", "arguments": {"city": "Par',      # cut off
        '{"name": "get_weather", "city": "Paris"}',                # no arguments but other keys
    ],
)
def test_text_that_is_not_a_clean_call_stays_text(text: str) -> None:
    calls, rest = text_tool_calls(text, NAMES)
    assert calls == [] and rest == text


def test_several_calls_and_the_text_around_them() -> None:
    text = 'First {"tool": "search", "arguments": {"q": "a"}} then {"tool": "get_weather", "arguments": {"city": "b"}} ok'
    calls, rest = text_tool_calls(text, NAMES)
    assert [c["name"] for c in calls] == ["search", "get_weather"]
    assert rest == "First  then  ok"


def test_with_text_tool_calls_leaves_real_calls_and_unknown_tools_alone() -> None:
    real = AIMessage(content="", tool_calls=[{"name": "search", "args": {}, "id": "c1"}])
    assert with_text_tool_calls(real, NAMES) is real
    plain = AIMessage(content='{"tool": "search", "arguments": {"q": "x"}}')
    assert with_text_tool_calls(plain, []) is plain
    made = with_text_tool_calls(plain, NAMES)
    assert made.tool_calls[0]["args"] == {"q": "x"} and made.content == ""


def test_find_json_prefers_objects_fences_and_never_salvages_inside_a_broken_value() -> None:
    assert find_json('Here: ```json\n{"a": 1}\n``` and {"b": 2}') == {"a": 1}
    assert find_json('noise [1, 2] then {"a": 1}') == {"a": 1}
    assert find_json("[1, 2]") == [1, 2]
    assert find_json('I think [maybe] it is {"a": 1}') == {"a": 1}
    with pytest.raises(ValueError):
        find_json('{"facts": [{"attribute": "city", "value": "Berlin"}, {"attribute": "te')
    with pytest.raises(ValueError):
        find_json("no json here")
    assert [v for v, _, _ in iter_json('{"a": {"b": 1}} {"c": 2}')] == [{"a": {"b": 1}}, {"c": 2}]


def test_nul_characters_are_taken_out_of_a_reply() -> None:
    assert without_nul(AIMessage(content="hi\x00 there\x00")).content == "hi there"
    blocks = without_nul(AIMessage(content=[{"type": "text", "text": "a\x00b"}, "c"])).content
    assert blocks == [{"type": "text", "text": "ab"}, "c"]
    clean = AIMessage(content="nothing to take out")
    assert without_nul(clean) is clean
