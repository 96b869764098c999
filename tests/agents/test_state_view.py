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
