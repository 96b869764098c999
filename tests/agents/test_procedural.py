from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, SystemMessage

from mnemos.agents import Agent, MemoryPolicy, ProceduralMemory, ScriptedChatModel
from mnemos.agents._extract import DEFAULT_RULE
from mnemos.exceptions import UsageError


def config(user: str = "alice", thread: str = "t1") -> dict[str, Any]:
    return {"configurable": {"thread_id": thread, "user_id": user}}


def test_versions_and_rollback(memory) -> None:
    pm = ProceduralMemory(memory, ("agents", "writer", "procedural"))
    assert pm.current() is None
    v1 = pm.ensure("Write clearly.")
    assert v1 is not None and (v1.version, v1.rules) == (1, ())
    assert pm.ensure("Write clearly.") == v1  # unchanged instructions: no new version
    v2 = pm.add_rules(["Use short sentences."])
    v3 = pm.add_rules(["Cite sources.", "use short sentences."])  # the known rule is not repeated
    assert v2 is not None and v3 is not None
    assert (v2.version, v3.version) == (2, 3)
    assert v3.rules == ("Use short sentences.", "Cite sources.")
    assert pm.add_rules(["Cite sources."]) == v3
    v4 = pm.rollback(2)
    assert v4.version == 4 and v4.rules == ("Use short sentences.",) and "rollback to version 2" in v4.note
    assert pm.current() == v4
    assert [v.version for v in pm.versions()] == [1, 2, 3, 4]  # history is kept
    assert pm.rollback(3).rules == ("Use short sentences.", "Cite sources.")
    v6 = pm.ensure("Write clearly and warmly.")
    assert v6 is not None and v6.version == 6 and v6.rules == ("Use short sentences.", "Cite sources.")
    assert "Learned rules:\n- Use short sentences." in v6.text()
    with pytest.raises(UsageError, match="no version 99"):
        pm.rollback(99)


def test_procedural_memory_is_per_user_by_default_and_can_be_shared(memory) -> None:
    agent = Agent(name="helper", instructions="Help.", model="offline", memory=memory)
    assert agent.procedural_memory("alice").namespace == ("users", "alice", "agents", "helper", "procedural")
    agent.invoke("Please never use emoji.", config("alice"))
    agent.reflect(config("alice"))
    assert agent.procedural_memory("alice").current().rules == ("Never use emoji.",)  # type: ignore[union-attr]
    bob = agent.procedural_memory("bob").current()
    assert bob is None or bob.rules == ()  # alice's rule does not reach bob
    shared = Agent(name="helper", instructions="Help.", model="offline", memory=memory,
                   policy=MemoryPolicy(procedural_namespace=("agents", "{agent}", "procedural")))
    assert shared.procedural_memory("alice").namespace == shared.procedural_memory("bob").namespace


def test_reflection_learns_rules_that_shape_later_prompts(memory) -> None:
    model = ScriptedChatModel(lambda messages: "ok")
    agent = Agent(name="writer", instructions="You write.", model=model, memory=memory)
    agent.invoke("Please answer in one sentence.", config())
    agent.invoke("Summarize the meeting.", config())
    version = agent.reflect(config())
    assert version is not None and version.version == 2
    assert version.rules == ("Answer in one sentence.",)
    agent.invoke("Another request.", config())
    system = model.prompts[-1][0]
    assert isinstance(system, SystemMessage)
    assert system.content.startswith("You write.")
    assert "Learned rules:\n- Answer in one sentence." in system.content
    assert agent.reflect(config()) == version  # nothing new: no new version
    agent.procedural_memory("alice").rollback(1)
    agent.invoke("Once more.", config())
    assert "Learned rules" not in model.prompts[-1][0].content


def test_reflection_with_the_offline_model_gives_a_deterministic_rule(memory) -> None:
    agent = Agent(name="helper", instructions="Help.", model="offline", memory=memory)
    agent.invoke("Hello there", config())
    first = agent.reflect(config())
    assert first is not None and first.rules == (DEFAULT_RULE,)


def test_reflection_through_the_model_with_a_scripted_stand_in(memory) -> None:
    """A hosted model is simulated: its structured-output tool call is scripted."""
    rules = AIMessage("", tool_calls=[{"name": "RuleList", "args": {"rules": ["Greet by name."]}, "id": "r1"}])
    model = ScriptedChatModel(["Hi!", rules])
    agent = Agent(name="greeter", instructions="Greet.", model=model, memory=memory,
                  policy=MemoryPolicy(extractor="model", extract_facts=False))
    agent.invoke("hello", config())
    version = agent.reflect(config())
    assert version is not None and version.rules == ("Greet by name.",)
    prompt = model.prompts[-1][-1].content
    assert "user: hello" in prompt and "greeter: Hi!" in prompt


def test_reflect_needs_memory() -> None:
    with pytest.raises(UsageError, match="no memory adapter"):
        Agent(name="x", model="offline").reflect()
