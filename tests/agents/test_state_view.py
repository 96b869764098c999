"""Other agents' replies as an agent hears them (``from_the_view_of``)."""

from __future__ import annotations

import gc

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from mnemos.agents import _state
from mnemos.agents._state import from_the_view_of


def test_other_agents_replies_become_named_user_messages() -> None:
    call = {"name": "t", "args": {}, "id": "c1"}
    messages = [HumanMessage("hi", id="h"), AIMessage("", name="a", tool_calls=[call], id="x"),
                ToolMessage("r", tool_call_id="c1"), AIMessage("from a", name="a", id="y"),
                AIMessage("mine", name="b", id="z")]
    heard = from_the_view_of("b", messages)
    assert [(type(m).__name__, m.text, m.name, m.id) for m in heard] == [
        ("HumanMessage", "hi", None, "h"), ("HumanMessage", "[a] from a", "a", "y"), ("AIMessage", "mine", "b", "z")]


def test_a_reply_is_made_a_user_message_once_for_every_agent_after_it() -> None:
    reply = AIMessage("the plan is ready", name="planner", id="r1")
    first = from_the_view_of("writer", [reply])[0]
    assert from_the_view_of("reviewer", [reply])[0] is first
    reply.content = "the plan changed"  # a changed reply is heard anew
    changed = from_the_view_of("reviewer", [reply])[0]
    assert changed.text == "[planner] the plan changed" and changed is not first
    key = id(reply)
    del reply, first, changed
    gc.collect()
    assert key not in _state._HEARD  # nothing is kept once the reply is gone


def test_the_latest_turns_with_text_are_what_a_query_without_the_task_searches_for() -> None:
    from mnemos.agents._queries import RecallQuery, turns_of
    from mnemos.agents._state import latest_said

    messages = [HumanMessage("plan the trip", id="1"), AIMessage("", name="a", id="2"),
                AIMessage("booked", name="a", id="3"), ToolMessage("ok", tool_call_id="c"),
                HumanMessage("  ", id="4"), AIMessage("and the hotel?", name="b", id="5")]
    for recent in range(5):
        for end in range(len(messages) + 1):
            query = RecallQuery(recent=recent)
            assert query.texts(latest_said(messages[:end], recent)) == query.texts(turns_of(messages[:end]))
