"""Every parser of model replies, fed 1,000 malformed or truncated outputs each (seeded).

The parsers run alone 1,000 times each; the two end-to-end checks (an agent
storing facts, the MemGPT loop editing core memory) run 200 examples each, as
each example writes to SQLite.

What must hold: a parser returns what was asked for, or raises its documented
typed error (or takes its documented fallback); it never crashes otherwise and
never stores a wrong value. The outputs are derived from well-formed replies
(tool calls, fact lists, decisions) by truncation, character edits, wrong
types, prose and fences, plus arbitrary JSON and text.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage
from pydantic import BaseModel

from mnemos._replies import find_json, text_tool_calls, with_text_tool_calls
from mnemos.agents import Agent, MemoryPolicy, ScriptedChatModel, structured_call
from mnemos.agents._extract import FactList, extract_facts, grounded_facts
from mnemos.agents._lexical import content_words
from mnemos.agents.llamacpp import _parse_structured
from mnemos.agents.memgpt import MemGPTAgent
from mnemos.exceptions import ModelOutputError
from mnemos.memory_adapters.memgpt import MemGPTMemoryAdapter
from mnemos.memory_adapters.native import NativeMemoryAdapter

EXAMPLES = 1000
END_TO_END = 200
SEEDED = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
SEEDED_END_TO_END = settings(SEEDED, max_examples=END_TO_END)
NAMES = ["get_weather", "core_memory_append"]

WELL_FORMED = [
    '{"tool": "get_weather", "arguments": {"city": "Paris"}}',
    '```json\n{"name": "core_memory_append", "arguments": {"label": "human", "content": "Job: pilot"}}\n```',
    '{"facts": [{"subject": "user", "attribute": "lives_in", "value": "Berlin", "statement": "User lives in Berlin"}]}',
    '{"next": "write", "reason": "the draft is missing"}',
    '[{"function": {"name": "get_weather", "arguments": "{\\"city\\": \\"Rome\\"}"}}]',
    '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>',
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def malformed(draw: st.DrawFn) -> str:
    """A model output gone wrong."""
    kind = draw(st.sampled_from(["truncate", "edit", "wrap", "json", "text", "retype"]))
    base = draw(st.sampled_from(WELL_FORMED))
    if kind == "truncate":
        return base[: draw(st.integers(0, len(base) - 1))]
    if kind == "edit":
        chars = list(base)
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(chars) - 1))
            op = draw(st.sampled_from(["del", "ins", "swap"]))
            if op == "del":
                del chars[i]
            elif op == "ins":
                chars.insert(i, draw(st.sampled_from(list('{}[]",:\\` \n'))))
            else:
                chars[i] = draw(st.characters())
            if not chars:
                break
        return "".join(chars)
    if kind == "wrap":
        prose = draw(st.text(max_size=40))
        cut = base[: draw(st.integers(0, len(base)))]
        return draw(st.sampled_from([f"{prose} {cut}", f"```\n{cut}", f"{cut}\n```{prose}", f"{prose}```json\n{cut}```"]))
    if kind == "json":
        return json.dumps(draw(json_values))
    if kind == "retype":
        value = find_json(base)
        if isinstance(value, list):
            value = value[0]
        if isinstance(value, dict) and value:
            key = draw(st.sampled_from(sorted(value)))
            value[key] = draw(json_values)
        return json.dumps(value)
    return draw(st.text(max_size=200))


def _is_grounded(value: str, message: str) -> bool:
    wanted = content_words(value)
    return 2 * len(wanted & content_words(message)) >= len(wanted) if wanted else value.casefold() in message.casefold()


_FRESH = itertools.count()


class Decision(BaseModel):
    next: str
    reason: str = ""


@SEEDED
@given(malformed())
def test_text_tool_calls_give_only_known_tools_with_object_arguments(text: str) -> None:
    calls, rest = text_tool_calls(text, NAMES)
    event("tool calls found" if calls else "left as text")
    for call in calls:
        assert call["name"] in NAMES and isinstance(call["args"], dict) and call["id"]
    if not calls:
        assert rest == text
    message = with_text_tool_calls(AIMessage(content=text), NAMES)
    assert [c["name"] for c in message.tool_calls] == [c["name"] for c in calls]


@SEEDED
@given(malformed())
def test_find_json_gives_json_or_a_value_error(text: str) -> None:
    try:
        value = find_json(text)
    except ValueError:
        event("ValueError")
        return
    event("JSON found")
    assert isinstance(value, (dict, list))


@SEEDED
@given(malformed(), malformed(), st.sampled_from([None, "stop", "length"]))
def test_structured_call_returns_a_valid_instance_or_a_typed_error(first: str, second: str, finish: str | None) -> None:
    meta = {"finish_reason": finish} if finish else {}
    model = ScriptedChatModel([AIMessage(content=first, response_metadata=meta), second])
    try:
        result = structured_call(model, FactList, "I live in Berlin")
    except ModelOutputError as exc:
        event("ModelOutputError")
        assert exc.raw in (first[:2000], second[:2000], "")
        return
    event("valid FactList")
    assert isinstance(result, FactList)
    FactList.model_validate(result.model_dump())


@SEEDED
@given(malformed(), st.sampled_from([None, "stop", "length"]))
def test_the_local_models_structured_parser_returns_valid_or_raises_typed(text: str, finish: str | None) -> None:
    message = AIMessage(content=text, response_metadata={"finish_reason": finish} if finish else {})
    try:
        result = _parse_structured(Decision, message)
    except ModelOutputError as exc:
        event("ModelOutputError")
        assert exc.finish_reason == finish
        return
    event("valid Decision")
    assert finish != "length" and isinstance(result, Decision)


@SEEDED
@given(malformed())
def test_grounded_facts_never_keep_a_value_the_message_does_not_support(text: str) -> None:
    try:
        facts = FactList.model_validate(find_json(text)).facts
    except (ValueError, TypeError):
        return
    message = "I live in Berlin and I like tea."
    for fact in grounded_facts(facts, message):
        assert _is_grounded(fact.value, message)
        assert fact.attribute and fact.statement


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory) -> Any:
    adapter = NativeMemoryAdapter(tmp_path_factory.mktemp("prop") / "memory.db")
    yield adapter
    adapter.close()


@pytest.fixture(scope="module")
def memgpt(tmp_path_factory: pytest.TempPathFactory) -> Any:
    adapter = MemGPTMemoryAdapter(tmp_path_factory.mktemp("prop") / "memgpt.db", embedder="hashing")
    yield adapter
    adapter.close()


@SEEDED_END_TO_END
@given(st.data(), malformed(), malformed())
def test_an_agent_stores_only_supported_facts_from_malformed_extractions(
    native: NativeMemoryAdapter, data: st.DataObject, first: str, second: str
) -> None:
    user = f"u{next(_FRESH)}"
    message = data.draw(st.sampled_from(["I live in Berlin.", "My name is Ada and I like tea.", "Hello there."]))
    model = ScriptedChatModel(["ok", first, second])
    agent = Agent(name="assistant", model=model, memory=native,
                  policy=MemoryPolicy(extractor="model", write_episodes=False))
    agent.invoke(message, {"configurable": {"user_id": user, "thread_id": "t"}})
    by_rule = {f.statement for f in extract_facts(message)}  # the documented fallback
    for record in native.list(namespace=("users", user), kinds="semantic", limit=None):
        assert record.content in by_rule or _is_grounded(str(record.metadata["value"]), message), (
            record.content, first, second)


@SEEDED_END_TO_END
@given(st.data(), malformed())
def test_memgpt_runs_only_well_formed_calls_from_malformed_replies(
    memgpt: MemGPTMemoryAdapter, data: st.DataObject, reply: str
) -> None:
    ns = ("agents", f"a{next(_FRESH)}")
    agent = MemGPTAgent(ScriptedChatModel([reply, "done", "done"]), memgpt, namespace=ns, human="Name: Sam",
                        summarizer="extractive", max_chained_calls=2)
    agent.step("I am a pilot")
    calls, _ = text_tool_calls(reply, [t.name for t in agent.tools])
    human = memgpt.core_blocks(ns)["human"].value
    appended = [c for c in calls if c["name"] == "core_memory_append" and c["args"].get("label") == "human"
                and isinstance(c["args"].get("content"), str)]
    if human != "Name: Sam":
        assert appended and any(human.endswith(str(c["args"]["content"])) for c in appended)
