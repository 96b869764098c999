from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from mnemos.agents import (
    OfflineChatModel,
    RecalledMemory,
    ShortTermStrategy,
    approx_tokens,
    assemble_context,
    interleave_ends,
    token_counter_for,
)
from mnemos.agents.context import MEMORY_HEADER, MORE_MEMORY_HEADER, SUMMARY_HEADER
from mnemos.exceptions import UsageError


def mem(i: int, text: str | None = None) -> RecalledMemory:
    return RecalledMemory(id=str(i), kind="semantic", content=text or f"memory number {i}", score=1 / i)


def conversation(turns: int) -> list[BaseMessage]:
    out: list[BaseMessage] = []
    for i in range(turns):
        out += [HumanMessage(f"question {i}", id=f"h{i}"), AIMessage(f"answer {i}", id=f"a{i}")]
    return out


def test_interleave_puts_the_best_at_both_ends() -> None:
    start, end = interleave_ends([1, 2, 3, 4, 5, 6])
    assert start == [1, 3, 5]
    assert end == [6, 4, 2]
    assert start + end == [1, 3, 5, 6, 4, 2]  # the least relevant sit in the middle


def test_most_relevant_memories_open_and_close_the_prompt() -> None:
    result = assemble_context(
        messages=[*conversation(3), HumanMessage("now?")],
        budget=2000, instructions="Be kind.", memories=[mem(i) for i in range(1, 6)],
    )
    first, *_, tail, last = result.messages
    assert first.text.startswith("Be kind.")
    head_lines = first.text.split(MEMORY_HEADER + "\n")[1].splitlines()
    assert head_lines == ["- memory number 1", "- memory number 3", "- memory number 5"]
    assert isinstance(tail, SystemMessage) and tail.text.startswith(MORE_MEMORY_HEADER)
    assert tail.text.splitlines()[1:] == ["- memory number 4", "- memory number 2"]
    assert last.text == "now?"
    assert [m.id for m in result.memories] == ["1", "2", "3", "4", "5"]


def test_window_keeps_the_last_n_earlier_messages() -> None:
    result = assemble_context(messages=[*conversation(5), HumanMessage("q")], budget=2000,
                              strategy="window", window=4)
    assert [m.text for m in result.messages] == ["question 3", "answer 3", "question 4", "answer 4", "q"]
    assert result.dropped == 6


def test_buffer_keeps_everything_that_fits_newest_first() -> None:
    messages = [*conversation(50), HumanMessage("q")]
    full = assemble_context(messages=messages, budget=5000, strategy="buffer")
    assert len(full.messages) == 101
    tight = assemble_context(messages=messages, budget=100, strategy="buffer")
    assert tight.messages[-1].text == "q"
    assert tight.messages[-2].text == "answer 49"
    assert 0 < tight.dropped < 100
    assert tight.tokens <= 100


def test_summary_replaces_earlier_turns() -> None:
    result = assemble_context(messages=[*conversation(3), HumanMessage("q")], budget=2000, strategy="summary")
    assert len(result.messages) == 2
    assert SUMMARY_HEADER in result.messages[0].text
    assert "user: question 0" in result.summary  # type: ignore[operator]
    assert result.dropped == 6


def test_summary_buffer_summarizes_older_and_keeps_recent() -> None:
    seen: list[Sequence[BaseMessage]] = []

    def summarize(messages: Sequence[BaseMessage]) -> str:
        seen.append(messages)
        return f"{len(messages)} earlier messages"

    result = assemble_context(messages=[*conversation(4), HumanMessage("q")], budget=2000,
                              strategy=ShortTermStrategy.SUMMARY_BUFFER, window=2, summarize=summarize)
    assert [m.text for m in result.messages[1:]] == ["question 3", "answer 3", "q"]
    assert result.summary == "6 earlier messages"
    assert [m.text for m in seen[0]][:2] == ["question 0", "answer 0"]


def test_tool_exchanges_stay_whole() -> None:
    call = {"name": "lookup", "args": {}, "id": "c1"}
    messages = [HumanMessage("old"), AIMessage("", tool_calls=[call]), ToolMessage("r", tool_call_id="c1"),
                AIMessage("done"), HumanMessage("new")]
    result = assemble_context(messages=messages, budget=2000, strategy="window", window=2)
    assert [type(m).__name__ for m in result.messages] == ["AIMessage", "HumanMessage"]
    result = assemble_context(messages=messages, budget=2000, strategy="window", window=3)
    assert [type(m).__name__ for m in result.messages] == ["AIMessage", "ToolMessage", "AIMessage", "HumanMessage"]


def test_an_oversized_request_is_truncated_to_the_budget() -> None:
    result = assemble_context(messages=[HumanMessage("word " * 5000)], budget=64, instructions="Be brief.")
    assert result.tokens <= 64
    assert result.messages[-1].text.endswith("…")


def test_bad_arguments_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="at least"):
        assemble_context(messages=[], budget=10)
    with pytest.raises(UsageError, match="strategy"):
        assemble_context(messages=[], budget=100, strategy="everything")


def test_offline_models_count_with_their_own_counter_others_approximate() -> None:
    class Unknown:
        def get_num_tokens_from_messages(self, messages: object) -> int:  # pragma: no cover
            raise AssertionError("a hosted model's counter may reach the network; never called")

    assert token_counter_for(Unknown()) is approx_tokens
    counter = token_counter_for(OfflineChatModel())
    messages = [HumanMessage("a" * 400)]
    assert counter(messages) == approx_tokens(messages) > 100


# --- the budget property ---------------------------------------------------------------

_text = st.text(min_size=0, max_size=400)
_nonblank = st.text(min_size=1, max_size=600).filter(lambda t: t.strip() != "")


@st.composite
def _messages(draw: st.DrawFn) -> list[BaseMessage]:
    out: list[BaseMessage] = []
    for i in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["human", "ai", "tool", "system"]))
        if kind == "human":
            out.append(HumanMessage(draw(_text), id=f"m{i}"))
        elif kind == "ai":
            out.append(AIMessage(draw(_text), id=f"m{i}", name=draw(st.sampled_from([None, "bot"]))))
        elif kind == "system":
            out.append(SystemMessage(draw(_text)))
        else:
            n = draw(st.integers(1, 3))
            calls = [{"name": "t", "args": {"q": draw(_text)}, "id": f"c{i}_{j}"} for j in range(n)]
            out.append(AIMessage("", tool_calls=calls))
            out += [ToolMessage(draw(_text), tool_call_id=c["id"], name="t") for c in calls]
    return out


def _words_counter(messages: Sequence[BaseMessage]) -> int:
    return sum(len(m.text.split()) + 4 for m in messages)


def _chars_counter(messages: Sequence[BaseMessage]) -> int:
    return sum(len(m.text) + len(str(getattr(m, "tool_calls", ""))) // 3 + 2 for m in messages)


_ASSEMBLY = dict(
    messages=_messages(),
    memories=st.lists(_nonblank, max_size=15),
    rules=st.lists(_nonblank, max_size=5),
    instructions=_text,
    budget=st.integers(32, 3000),
    strategy=st.sampled_from(list(ShortTermStrategy)),
    window=st.integers(0, 20),
    summary_tokens=st.integers(0, 600),
    memory_tokens=st.none() | st.integers(0, 2000),
)
"""The inputs of an assembly the property tests draw."""


@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(
    **_ASSEMBLY,
    counter=st.sampled_from([approx_tokens, _words_counter, _chars_counter]),
)
def test_assembled_context_never_exceeds_its_budget(
    messages: list[BaseMessage], memories: list[str], rules: list[str], instructions: str, budget: int,
    strategy: ShortTermStrategy, window: int, summary_tokens: int, memory_tokens: int | None, counter,
) -> None:
    recalled = [mem(i + 1, text) for i, text in enumerate(memories)]
    result = assemble_context(
        messages=messages, budget=budget, instructions=instructions, rules=rules, memories=recalled,
        strategy=strategy, window=window, summary_tokens=summary_tokens, memory_tokens=memory_tokens,
        count_tokens=counter,
    )
    assert result.tokens == counter(result.messages) if result.messages else result.tokens == 0
    assert result.tokens <= budget
    # memories that made it in keep their rank order, and tool results keep their calls
    ranks = [int(m.id) for m in result.memories]
    assert ranks == sorted(ranks)
    open_calls: set[str] = set()
    for message in result.messages:
        if isinstance(message, AIMessage):
            open_calls = {c["id"] for c in message.tool_calls}
        elif isinstance(message, ToolMessage):
            assert message.tool_call_id in open_calls
    # a short request always survives a reasonable budget
    humans = [m for m in messages if isinstance(m, HumanMessage)]
    if humans and len(humans[-1].text) <= 40 and budget >= 200 and counter is approx_tokens:
        assert any(m.text == humans[-1].text for m in result.messages if isinstance(m, HumanMessage))


def test_memories_with_a_confidence_carry_a_citable_tag() -> None:
    from mnemos.agents.context import memory_line

    cited = RecalledMemory(id="a", kind="semantic", content="The shed key is under the pot",
                           source="notes.md § Garden", confidence=0.8)
    plain = RecalledMemory(id="b", kind="semantic", content="Tea is green")
    assert memory_line(cited, 2) == "- The shed key is under the pot  [M2 · confidence 0.80 · source notes.md § Garden]"
    assert memory_line(plain, 1) == "- Tea is green"
    context = assemble_context(messages=[HumanMessage("where is the key?")], budget=500,
                               memories=[cited, plain])
    assert "[M1 · confidence 0.80 · source notes.md § Garden]" in context.messages[0].text


def test_attribute_reads_cited_tags_else_repeated_memories() -> None:
    from mnemos.agents.context import attribute

    memories = [
        RecalledMemory(id="k", kind="semantic", content="The shed key is under the blue pot",
                       source="notes.md", confidence=0.9),
        RecalledMemory(id="c", kind="episodic", content="Compost is turned every Sunday",
                       source="turn", confidence=0.2),
    ]
    assert [s["id"] for s in attribute("It is under the blue pot, by the shed (key).", memories)] == ["k"]
    assert [s["ref"] for s in attribute("As you told me [M2], on Sundays.", memories)] == ["M2"]
    assert attribute("I have no idea.", memories) == []


def test_memory_confidence_is_between_zero_and_one() -> None:
    from mnemos.agents.context import memory_confidence

    assert memory_confidence("where is the shed key", "The shed key is under the pot") == 1.0
    assert memory_confidence("where is the shed key", "Compost on Sunday") == 0.0
    assert memory_confidence("shed key", "The shed key", similarity=0.5) == 0.8
    assert 0 <= memory_confidence("", "anything", similarity=2.0) <= 1


def test_memories_that_all_fit_cost_one_count_of_the_whole_prompt() -> None:
    """When every recalled memory fits, the prompt is not rebuilt and recounted per memory."""
    whole_prompts: list[int] = []

    def counting(messages: Sequence[BaseMessage]) -> int:
        if len(messages) > 1:
            whole_prompts.append(len(messages))
        return approx_tokens(messages)

    memories = [mem(i) for i in range(1, 11)]
    result = assemble_context(messages=[*conversation(2), HumanMessage("now?")], budget=4000,
                              instructions="Be kind.", memories=memories, count_tokens=counting)
    assert [m.id for m in result.memories] == [m.id for m in memories]
    assert len(whole_prompts) <= 4
    tight = assemble_context(messages=[HumanMessage("now?")], budget=120, instructions="Be kind.",
                             memories=[mem(i, "word " * 30) for i in range(1, 6)])
    assert 0 < len(tight.memories) < 5
    assert approx_tokens(tight.messages) <= 120


def _approx_by_lists(messages: Sequence[BaseMessage]) -> int:
    """approx_tokens behind another name: assembly counts whole message lists with it."""
    return approx_tokens(messages)


@settings(max_examples=120, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(
    **_ASSEMBLY,
)
def test_counting_each_message_once_assembles_what_counting_lists_does(
    messages: list[BaseMessage], memories: list[str], rules: list[str], instructions: str, budget: int,
    strategy: ShortTermStrategy, window: int, summary_tokens: int, memory_tokens: int | None,
) -> None:
    recalled = [RecalledMemory(id=str(i), kind="semantic", content=text, confidence=(i % 3) / 3 or None,
                               source="notes.md" if i % 2 else "") for i, text in enumerate(memories, start=1)]
    kwargs = {"messages": messages, "budget": budget, "instructions": instructions, "rules": rules,
              "memories": recalled, "strategy": strategy, "window": window, "summary_tokens": summary_tokens,
              "memory_tokens": memory_tokens}
    fast = assemble_context(**kwargs, count_tokens=approx_tokens)
    slow = assemble_context(**kwargs, count_tokens=_approx_by_lists)
    assert [(type(m), m.content, m.name, m.id) for m in fast.messages] == [
        (type(m), m.content, m.name, m.id) for m in slow.messages]
    assert (fast.tokens, fast.memories, fast.summary, fast.dropped) == (
        slow.tokens, slow.memories, slow.summary, slow.dropped)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(text=st.text(max_size=300))
def test_system_tokens_is_the_approximate_count_of_a_system_message(text: str) -> None:
    from mnemos.agents.tokens import system_tokens

    assert system_tokens(text) == approx_tokens([SystemMessage(text)])


def test_local_models_count_with_approx_tokens_itself_unless_they_count_otherwise() -> None:
    class Own(OfflineChatModel):
        def get_num_tokens_from_messages(self, messages: list[BaseMessage], tools: object = None) -> int:
            return 7

    assert token_counter_for(OfflineChatModel()) is approx_tokens
    assert token_counter_for(Own())([HumanMessage("hi")]) == 7


def test_assembly_with_the_approximate_counter_counts_each_message_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from mnemos.agents import tokens

    counted: list[int] = []
    real = tokens.count_tokens_approximately

    def counting(messages: Sequence[BaseMessage], **kwargs: object) -> int:
        counted.append(len(messages))
        return real(messages, **kwargs)

    monkeypatch.setattr(tokens, "count_tokens_approximately", counting)
    messages = [*conversation(4), HumanMessage("and now?")]
    result = assemble_context(messages=messages, budget=3000, instructions="Be kind.", rules=["Be brief."],
                              memories=[mem(i) for i in range(1, 11)])
    assert result.tokens == real(result.messages)
    assert sum(counted) == len(messages)  # the system texts are counted from their length


def test_a_conversations_text_messages_are_counted_once_for_all_the_assemblies_after_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every agent after a message in a run (and every later turn of a thread) assembles a prompt
    with it: a human or system message of text is counted once while it stays the same."""
    from mnemos.agents import tokens

    counted: list[BaseMessage] = []
    real = tokens.count_tokens_approximately

    def counting(messages: Sequence[BaseMessage], **kwargs: object) -> int:
        counted.extend(messages)
        return real(messages, **kwargs)

    monkeypatch.setattr(tokens, "count_tokens_approximately", counting)
    request = HumanMessage("what did we decide?")
    heard = [HumanMessage(f"[agent_{i}] I think {i}", name=f"agent_{i}") for i in range(3)]
    for step in range(len(heard) + 1):
        messages = [request, *heard[:step]]
        result = assemble_context(messages=messages, budget=3000, instructions="Be kind.",
                                  memories=[mem(i) for i in range(1, 4)])
        assert result.tokens == real(result.messages)
    assert len(counted) == 1 + len(heard)  # not 1 + 2 + 3 + 4
    # a message whose text or name changes is counted again
    request.content = "what did we decide about the budget, in the end, after all that?"
    heard[0].name = "someone_else"
    result = assemble_context(messages=[request, heard[0]], budget=3000, memories=[mem(1)])
    assert result.tokens == real(result.messages)
    assert sorted(map(id, counted[-2:])) == sorted(map(id, [request, heard[0]]))
