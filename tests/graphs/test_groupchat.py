"""Group chat brainstorms: the graph, views under budget, the ledger, memory across sessions, crash resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.graph import START, MessagesState, StateGraph

from brainstorm_standin import standin_team, topic_word
from mnemos.agents import Agent, ScriptedChatModel, approx_tokens
from mnemos.exceptions import ConfigurationError, UsageError
from mnemos.graphs import sqlite_checkpointer
from mnemos.graphs._ledger import moves_from_contribution, moves_from_text, similar
from mnemos.graphs._personas import load_personas
from mnemos.graphs._turn import normalize
from mnemos.graphs.groupchat import GroupChat, Participant, View, participants_from_personas
from mnemos.memory_adapters import MemoryKind
from mnemos.memory_adapters.native import NativeMemoryAdapter

TOPIC = "A business proposal: a loyalty product for small shops"


def _chat(memory: NativeMemoryAdapter, **kwargs: Any) -> GroupChat:
    """The built-in team, each participant on the deterministic stand-in model (brainstorm_standin)."""
    personas = load_personas("builtin")
    members, moderator = standin_team(personas, memory)
    return GroupChat(participants=members, moderator=moderator, team_memory=memory, team=personas.team, **kwargs)


def _offline_chat(memory: NativeMemoryAdapter, **kwargs: Any) -> GroupChat:
    personas = load_personas("builtin")
    members, moderator = participants_from_personas(personas, model="offline", memory=memory)
    return GroupChat(participants=members, moderator=moderator, team_memory=memory, team=personas.team, **kwargs)


def _persona_strings() -> set[str]:
    personas = load_personas("builtin")
    out = {personas.description}
    for p in personas.personas:
        out |= {p.role, p.instructions, *p.likes, *p.dislikes, *p.instructions.splitlines()}
    return {s for s in out if len(s.split()) >= 3}  # sentences and phrases; single words occur in any text


def test_a_session_builds_a_ledger_from_its_models_and_writes_memory(tmp_path: Path) -> None:
    memory = NativeMemoryAdapter(tmp_path / "mem.db")
    result = _chat(memory).run(TOPIC, thread_id="s1", checkpointer=sqlite_checkpointer(tmp_path / "cp.db"))
    assert not result.rehearsal and "Rehearsal" not in result.summary
    speakers = [t["speaker"] for t in result.transcript if t["round"]]
    assert speakers == ["product_manager", "engineer", "skeptic"] * 3
    assert result.stop_reason == "rounds"
    statuses = {i["status"] for i in result.ideas}
    assert {"accepted", "rejected"} <= statuses
    assert all(topic_word(TOPIC) in i["text"] for i in result.ideas)  # the stand-in writes about the topic
    accepted = [i for i in result.ideas if i["status"] == "accepted"]
    assert f"Accepted: #{accepted[0]['id']}" in result.summary
    team = memory.list(namespace=("teams", "business", "ideas"), kinds=MemoryKind.SEMANTIC)
    assert {r.metadata["idea"] for r in team} == {i["text"] for i in result.ideas if i["status"] in ("accepted", "rejected")}
    episodes = memory.list(namespace=("users", "default", "agents", "skeptic"), kinds=MemoryKind.EPISODIC)
    assert episodes and accepted[0]["text"] in episodes[0].content
    rejected = [i["text"] for i in result.ideas if i["status"] == "rejected"]
    rules = Agent(name="engineer", model="offline", memory=memory).procedural_memory().current()
    assert rules is not None and any(rejected[0] in r for r in rules.rules)
    files = result.write(tmp_path / "out", prompts=True)
    assert sorted(p.name for p in files) == ["ideas.json", "ideas.md", "transcript.json", "transcript.md"]
    ideas = json.loads((tmp_path / "out" / "ideas.json").read_text())
    assert ideas["ideas"][0]["votes"] and "| 1 |" in (tmp_path / "out" / "ideas.md").read_text()
    assert "<details><summary>prompt" in (tmp_path / "out" / "transcript.md").read_text()


def test_prompts_restate_the_topic_and_carry_no_persona_idea(tmp_path: Path) -> None:
    memory = NativeMemoryAdapter(tmp_path / "mem.db")
    result = _chat(memory, max_rounds=2).run(TOPIC, thread_id="p", checkpointer=sqlite_checkpointer(tmp_path / "cp.db"))
    for record in result.prompts:
        brief = record["messages"][-1]["content"]
        assert brief.startswith(TOPIC) and f"The question: {TOPIC}" in record["messages"][0]["content"]
        assert "Suggested move" not in brief and "placeholder" not in brief
    persona = _persona_strings()
    ledger_text = json.dumps(result.ledger)
    assert not [s for s in persona if s in ledger_text]


def test_persona_files_hold_no_ideas(tmp_path: Path) -> None:
    from mnemos.graphs._personas import BUILTIN_PERSONAS

    for name in BUILTIN_PERSONAS:
        data = load_personas(f"builtin:{name}")
        for p in data.personas:
            assert set(p.model_dump()) == {"name", "role", "instructions", "moderator", "likes", "dislikes",
                                           "default_vote", "budget", "window"}
    old = tmp_path / "old.toml"
    old.write_text('[[personas]]\nname = "pm"\nangles = ["A loyalty token"]\n[[personas]]\nname = "b"\n')
    with pytest.raises(ConfigurationError, match="not ready-made ideas"):
        load_personas(old)


def test_an_offline_session_is_a_rehearsal_that_stores_nothing(tmp_path: Path) -> None:
    memory = NativeMemoryAdapter(tmp_path / "mem.db")
    topic = "How should a hospital reduce nurse burnout?"
    result = _offline_chat(memory).run(topic, thread_id="r", checkpointer=sqlite_checkpointer(tmp_path / "cp.db"))
    assert result.rehearsal and result.ledger["rehearsal"] is True
    assert result.transcript[1]["text"].startswith("Rehearsal:") and result.summary.startswith("Rehearsal")
    session = [i for i in result.ideas if i["origin"] == "session"]
    assert session and all(i["text"].startswith("placeholder ") for i in session)
    assert {i["status"] for i in session} & {"accepted", "rejected"}  # the mechanics ran
    assert memory.list(namespace=("teams", "business", "ideas")) == []
    # no decision, no episode, no lesson: only the agents' instructions, which every agent keeps
    assert {r["kind"] for r in memory.iter_export()} <= {"procedural"}
    for name in ("product_manager", "engineer", "skeptic"):
        rules = Agent(name=name, model="offline", memory=memory).procedural_memory().current()
        assert rules is None or rules.rules == ()
    result.write(tmp_path / "out")
    assert json.loads((tmp_path / "out" / "ideas.json").read_text())["rehearsal"] is True
    assert "Rehearsal" in (tmp_path / "out" / "ideas.md").read_text()
    # and a later real session recalls nothing from the rehearsal
    again = _chat(memory, max_rounds=1).run(topic, thread_id="real", checkpointer=sqlite_checkpointer(tmp_path / "cp.db"))
    assert again.recalled["accepted"] == [] and all(i["origin"] == "session" for i in again.ideas)


def test_second_session_recalls_accepted_ideas_and_repeats_no_rejected_one(tmp_path: Path) -> None:
    memory = NativeMemoryAdapter(tmp_path / "mem.db")
    saver = sqlite_checkpointer(tmp_path / "cp.db")
    first = _chat(memory).run(TOPIC, thread_id="s1", checkpointer=saver)
    rejected = [i["text"] for i in first.ideas if i["status"] == "rejected"]
    accepted = [i["text"] for i in first.ideas if i["status"] == "accepted"]
    assert rejected and accepted
    second = _chat(memory).run("Loyalty product for small shops, next steps", thread_id="s2", checkpointer=saver)
    first_prompt = "\n".join(m["content"] for m in second.prompts[0]["messages"])
    assert all(text in first_prompt for text in accepted)
    new = [i for i in second.ideas if i["origin"] == "session"]
    assert not any(similar(i["text"], r) for i in new for r in rejected)
    assert second.ledger["dropped"]  # the stand-in repeats its first ideas: the rejected ones are dropped


def test_accepted_ideas_are_deduplicated_when_written_and_recalled(tmp_path: Path) -> None:
    memory = NativeMemoryAdapter(tmp_path / "mem.db")
    saver = sqlite_checkpointer(tmp_path / "cp.db")
    ns = ("teams", "business", "ideas")
    first = _chat(memory).run(TOPIC, thread_id="d1", checkpointer=saver)
    accepted = [i["text"] for i in first.ideas if i["status"] == "accepted"]
    count = len(memory.list(namespace=ns))
    # an earlier near-duplicate written by hand (other case and punctuation) is recalled once
    memory.add(accepted[0].upper() + "!", namespace=ns, kind=MemoryKind.SEMANTIC,
               metadata={"status": "accepted", "idea": accepted[0].upper() + "!", "topic": TOPIC})
    second = _chat(memory).run(TOPIC, thread_id="d2", checkpointer=saver)  # the same ideas again
    recalled = [r["text"] for r in second.recalled["accepted"]]
    assert len(recalled) == len({normalize(t) for t in recalled})
    assert not any(similar(a, b) for k, a in enumerate(recalled) for b in recalled[k + 1:])
    # the second session accepted the same ideas again: nothing new is written for them
    texts = [normalize(r.metadata["idea"]) for r in memory.list(namespace=ns)]
    assert len(texts) == count + 1 and texts.count(normalize(accepted[0])) == 2  # the hand-written one only


def test_a_repeat_of_a_rejected_idea_is_dropped_unless_the_topic_revisits(tmp_path: Path) -> None:
    """Scripted models (no structured output from text replies): the line format is parsed."""
    memory = NativeMemoryAdapter(tmp_path / "mem.db")
    memory.add("A blockchain loyalty token (rejected)", namespace=("teams", "t", "ideas"),
               kind=MemoryKind.SEMANTIC, metadata={"status": "rejected", "idea": "A blockchain loyalty token"})

    def make(topic: str, thread: str) -> Any:
        pm = Agent(name="pm", model=ScriptedChatModel(lambda _: "Hi all\nIDEA: a blockchain loyalty token"))
        eng = Agent(name="eng", model=ScriptedChatModel(lambda _: "IDEA: an open partner API\nVOTE #1 +1"))
        chat = GroupChat(participants=[pm, eng], team_memory=memory, team="t", max_rounds=1)
        return chat.run(topic, thread_id=thread)

    plain = make("Loyalty ideas", "a")
    assert [i["text"] for i in plain.ideas] == ["an open partner API"]
    assert plain.ledger["dropped"][0]["text"] == "a blockchain loyalty token"
    again = make("Loyalty ideas: revisit the token idea", "b")
    assert [i["text"] for i in again.ideas] == ["a blockchain loyalty token", "an open partner API"]
    assert again.ideas[0]["votes"] == {"eng": 1} and again.ideas[0]["status"] == "accepted"


def test_line_format_parsing() -> None:
    moves = moves_from_text("I think so.\nIDEA: A shop app\n- CRITIQUE #2: too costly\nVOTE #2 -1\nVOTE 3 +1\nIDEA: none")
    assert moves.say == "I think so."
    assert moves.ideas == ["A shop app"]
    assert moves.critiques == [(2, "too costly")]
    assert moves.votes == [(2, -1), (3, 1)]


@pytest.mark.parametrize(
    ("reply", "idea"),
    [  # wrappings SmolLM2 produced around its ideas (a real run), and texts that must stay whole
        ("0:36;2597} A simple solution for the local baker's market", "A simple solution for the local baker's market"),
        ("][#207369][/M1]. [A: A local baker must keep her bakery open for the next year.] {@m} #[B] How",
         "A local baker must keep her bakery open for the next year."),
        ("3 paid recovery days after night shifts", "3 paid recovery days after night shifts"),
        ("24/7 counselling line for staff", "24/7 counselling line for staff"),
        ("Pay a 10% bonus [for night shifts]", "Pay a 10% bonus [for night shifts]"),
        ("a shared [team] calendar", "a shared [team] calendar"),
    ],
)
def test_an_idea_is_taken_out_of_the_markup_a_small_model_wraps_it_in(reply: str, idea: str) -> None:
    assert moves_from_contribution({"idea": reply}).ideas == [idea]
    assert moves_from_text(f"IDEA: {reply}").ideas == [idea]


def test_repeated_idea_in_one_session_is_merged_and_counts_as_support(tmp_path: Path) -> None:
    a = Agent(name="a", model=ScriptedChatModel(lambda _: "IDEA: weekly sales reports by email"))
    b = Agent(name="b", model=ScriptedChatModel(lambda _: "IDEA: Weekly sales reports sent by email"))
    result = GroupChat(participants=[a, b], max_rounds=1).run("Reports", thread_id="m")
    assert [i["status"] for i in result.ideas] == ["accepted", "merged"]
    assert result.ideas[1]["merged_into"] == 1 and result.ideas[0]["votes"] == {"b": 1}


def test_two_hundred_messages_keep_every_prompt_within_budget(tmp_path: Path) -> None:
    memory = NativeMemoryAdapter(tmp_path / "mem.db")
    chat = _chat(memory)
    budgets = {"product_manager": 400, "engineer": 700, "skeptic": 1200}
    chat = GroupChat(
        participants=[Participant(agent=p.agent, persona=p.persona, view=View(budget=budgets[p.name], window=6))
                      for p in chat.members],
        team_memory=memory, team="business",
    )
    names = list(budgets)
    for name in names:  # long memories that match the transcript compete for the same budget
        for k in range(20):
            memory.add(f"Memory {k}: pricing of loyalty points for small shops " * 8,
                       namespace=("users", "default", "agents", name), kind=MemoryKind.EPISODIC)
    transcript: list[BaseMessage] = [HumanMessage(TOPIC, name="user")]
    for n in range(200):
        speaker = names[n % 3]
        text = f"Message {n} from {speaker}: " + "we should consider the pricing of loyalty points " * 6
        transcript.append(AIMessage(text, name=speaker, additional_kwargs={"round": 1 + n // 3}))
    state = {"topic": TOPIC, "messages": transcript, "round": 67, "ledger": {"ideas": [], "dropped": [], "next_id": 1},
             "recalled": {}}
    for name, budget in budgets.items():
        context = chat.assemble(name, state, {"configurable": {"thread_id": "big"}})
        assert context.budget <= budget
        assert context.tokens <= budget and approx_tokens(context.messages) <= budget
        texts = [m.text for m in context.messages]
        assert texts[-1].startswith(TOPIC) and "The question" in texts[0] and context.dropped > 150
        if budget >= 700:  # room for the recent turns, a summary of the older ones and memories
            assert any("Summary of the earlier conversation" in t for t in texts)
            assert "Message 199" in "\n".join(texts) and context.memories
    # and a real turn on that transcript records a prompt within budget
    update = GroupChat(participants=chat.members, max_rounds=100)._turn("skeptic", state, None)
    assert update["prompts"][0]["tokens"] <= budgets["skeptic"]


def test_view_filters_senders() -> None:
    messages = [HumanMessage("topic"), AIMessage("x", name="a", additional_kwargs={"round": 1}),
                AIMessage("y", name="b", additional_kwargs={"round": 1}), AIMessage("open", name="mod")]
    assert [m.text for m in View(exclude=frozenset({"a"})).filter(messages)] == ["topic", "y", "open"]
    assert [m.text for m in View(include=frozenset({"a"})).filter(messages)] == ["topic", "x", "open"]


def test_model_selected_speaker_retries_an_invalid_name_then_falls_back() -> None:
    a = Agent(name="alice", model=ScriptedChatModel(lambda _: "IDEA: one"))
    b = Agent(name="bob", model=ScriptedChatModel(lambda _: "IDEA: two"))
    c = Agent(name="carol", model=ScriptedChatModel(lambda _: "IDEA: three"))
    replies = iter(["nobody", "carol", "Let bob speak.", "zed", "zed", "alice"])
    selector = ScriptedChatModel(lambda _: next(replies))
    chat = GroupChat(participants=[a, b, c], selection="model", selector_model=selector, max_rounds=1)
    result = chat.run("Names", thread_id="sel")
    speakers = [t["speaker"] for t in result.transcript if t["round"]]
    # carol after one retry; bob; after two invalid names the round-robin successor of bob
    assert speakers == ["carol", "bob", "carol"]
    assert any("fell back to carol" in n for n in result.notes)


def test_custom_selection_keyword_and_consensus_termination() -> None:
    a = Agent(name="a", model=ScriptedChatModel(lambda _: "IDEA: shared plan"))
    b = Agent(name="b", model=ScriptedChatModel(lambda _: "VOTE #1 +1"))
    c = Agent(name="c", model=ScriptedChatModel(lambda _: "VOTE #1 +1"))
    chat = GroupChat(participants=[a, b, c], consensus=True, max_rounds=5)
    result = chat.run("Plan", thread_id="cons")
    assert result.stop_reason == "consensus" and len([t for t in result.transcript if t["round"]]) == 3
    stopper = Agent(name="s", model=ScriptedChatModel(lambda _: "We are done. TERMINATE"))
    result = GroupChat(participants=[a, stopper], selection=lambda state, cands: cands[-1], max_rounds=4).run(
        "Plan", thread_id="kw")
    assert result.stop_reason == "keyword"
    assert [t["speaker"] for t in result.transcript if t["round"]] == ["s"]
    with pytest.raises(UsageError):
        GroupChat(participants=[a, b], selection=lambda state, cands: "nobody").run("x", thread_id="bad")


def test_group_chat_is_a_subgraph_and_streams(tmp_path: Path) -> None:
    a = Agent(name="a", model=ScriptedChatModel(lambda _: "IDEA: alpha"))
    b = Agent(name="b", model=ScriptedChatModel(lambda _: "VOTE #1 +1"))
    inner = GroupChat(participants=[a, b], max_rounds=1).compile()
    outer = StateGraph(MessagesState)
    outer.add_node("brainstorm", inner)
    outer.add_edge(START, "brainstorm")
    out = outer.compile().invoke({"messages": [HumanMessage("Names for a tea shop")]})
    assert out["messages"][-1].name == "chair" and "Accepted: #1 alpha" in out["messages"][-1].text
    # ten rounds is more than LangGraph's default of 25 steps
    long = GroupChat(participants=[a, b], max_rounds=10).compile().invoke(GroupChat.input("Tea"))
    assert len([m for m in long["messages"] if m.name in ("a", "b")]) == 20
    nodes = [next(iter(chunk)) for mode, chunk in inner.stream(
        GroupChat.input("Tea"), stream_mode=["updates"]) if mode == "updates"]
    assert nodes == ["open", "select", "a", "select", "b", "select", "close"]


def test_bad_input_is_a_typed_error(tmp_path: Path) -> None:
    a = Agent(name="a", model="offline")
    with pytest.raises(UsageError):
        GroupChat(participants=[])
    with pytest.raises(UsageError):
        GroupChat(participants=[a, Agent(name="a", model="offline")])
    with pytest.raises(UsageError):
        GroupChat(participants=[Agent(name="select", model="offline")])
    saver = sqlite_checkpointer(tmp_path / "cp.db")
    chat = GroupChat(participants=[a], max_rounds=1)
    with pytest.raises(UsageError):
        chat.run("", thread_id="t", checkpointer=saver)
    with pytest.raises(UsageError, match="no session to resume"):
        chat.run(None, thread_id="t", checkpointer=saver, resume=True)
    chat.run("topic", thread_id="t", checkpointer=saver)
    with pytest.raises(UsageError, match="already has a session"):
        chat.run("topic", thread_id="t", checkpointer=saver)
    bad = tmp_path / "p.toml"
    bad.write_text('[[personas]]\nname = "has space"\n')
    with pytest.raises(ConfigurationError, match=r"personas\.0\.name"):
        load_personas(bad)
    with pytest.raises(ConfigurationError):
        load_personas("builtin:nope")


_CRASH_SCRIPT = textwrap.dedent('''
    import os, sys, time
    from pathlib import Path
    from mnemos.agents import Agent, ScriptedChatModel
    from mnemos.graphs import sqlite_checkpointer
    from mnemos.graphs.groupchat import GroupChat

    work = Path(sys.argv[1]); resume = sys.argv[2] == "resume"
    calls = work / ("calls-resume.txt" if resume else "calls.txt")

    def model(name):
        def reply(messages):
            with calls.open("a") as f:
                f.write(name + "\\n")
            n = len(calls.read_text().splitlines())
            if not resume and n == 5:            # the 5th turn: round 2, second speaker
                (work / "hang").touch()
                time.sleep(120)
            return f"IDEA: {name} idea number {n}"
        return ScriptedChatModel(reply)

    agents = [Agent(name=n, model=model(n)) for n in ("a", "b", "c")]
    chat = GroupChat(participants=agents, max_rounds=3)
    result = chat.run(None if resume else "Crash test", thread_id="crash",
                      checkpointer=sqlite_checkpointer(work / "cp.db"), resume=resume)
    print([t["speaker"] for t in result.transcript if t["round"]])
''')


def test_a_session_killed_mid_round_resumes_where_it_stopped(tmp_path: Path) -> None:
    script = tmp_path / "crash.py"
    script.write_text(_CRASH_SCRIPT)
    env = {**os.environ, "MNEMOS_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path), "run"], env=env)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "hang").exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (tmp_path / "calls.txt").read_text().split() == ["a", "b", "c", "a", "b"]
    out = subprocess.run([sys.executable, str(script), str(tmp_path), "resume"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    # the killed turn (b in round 2) runs again, and nothing before it does
    assert (tmp_path / "calls-resume.txt").read_text().split() == ["b", "c", "a", "b", "c"]
    assert out.stdout.strip().splitlines()[-1] == str(["a", "b", "c"] * 3)


def test_a_moderator_with_a_hosted_model_adds_closing_remarks() -> None:
    """A hosted model is stood in for by LangChain's GenericFakeChatModel (no provider runs offline)."""
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

    hosted = GenericFakeChatModel(messages=iter([AIMessage("We go with alpha; next, a pilot.")]))
    moderator = Agent(name="mod", instructions="You chair.", model=hosted)
    a = Agent(name="a", model=ScriptedChatModel(lambda _: "IDEA: alpha"))
    b = Agent(name="b", model=ScriptedChatModel(lambda _: "VOTE #1 +1"))
    result = GroupChat(participants=[a, b], moderator=moderator, max_rounds=1).run("Tea", thread_id="mod")
    assert result.summary.startswith("After 1 round(s)") and result.summary.endswith("We go with alpha; next, a pilot.")
    assert result.transcript[-1]["speaker"] == "mod"


def test_group_chat_as_a_subgraph_of_a_mnemos_graph(tmp_path: Path) -> None:
    from mnemos.graphs import GraphBuilder

    a = Agent(name="a", model=ScriptedChatModel(lambda _: "IDEA: alpha"))
    b = Agent(name="b", model=ScriptedChatModel(lambda _: "VOTE #1 +1"))
    writer = Agent(name="writer", model=ScriptedChatModel(lambda messages: f"Memo on: {messages[-1].text[:40]}"))
    builder = GraphBuilder(name="plan")
    builder.subgraph(GroupChat(participants=[a, b], max_rounds=1).compile(), name="brainstorm")
    builder.node(writer)
    builder.sequence("brainstorm", "writer")
    graph = builder.compile(checkpointer=sqlite_checkpointer(tmp_path / "cp.db"))
    config = {"configurable": {"thread_id": "plan"}}
    out = graph.invoke({"messages": [HumanMessage("Names for a tea shop")]}, config)
    assert [m.name for m in out["messages"][-2:]] == ["chair", "writer"]
    assert out["messages"][-1].text.startswith("Memo on: [chair] After 1 round(s)")


def _checkpoint_bytes(path: Path) -> int:
    import sqlite3

    with sqlite3.connect(path) as conn:
        checkpoints = conn.execute("SELECT coalesce(sum(length(checkpoint)), 0) FROM checkpoints").fetchone()[0]
        writes = conn.execute("SELECT coalesce(sum(length(value)), 0) FROM writes").fetchone()[0]
    return int(checkpoints) + int(writes)


def test_checkpoints_grow_linearly_with_the_number_of_turns(tmp_path: Path) -> None:
    """Every step used to save the whole transcript and every prompt again (quadratic growth)."""
    sizes = {}
    for rounds in (3, 12):
        memory = NativeMemoryAdapter(tmp_path / f"mem{rounds}.db")
        saver = sqlite_checkpointer(tmp_path / f"cp{rounds}.db")
        _chat(memory, max_rounds=rounds).run(TOPIC, thread_id="g", checkpointer=saver)
        saver.conn.close()
        sizes[rounds] = _checkpoint_bytes(tmp_path / f"cp{rounds}.db")
    # four times the turns: about four times the bytes (quadratic growth would give about sixteen)
    assert sizes[12] < 6 * sizes[3], sizes


def test_the_offline_model_resumed_into_a_real_session_makes_it_a_rehearsal(tmp_path: Path) -> None:
    memory = NativeMemoryAdapter(tmp_path / "mem.db")
    saver = sqlite_checkpointer(tmp_path / "cp.db")
    calls = {"n": 0}

    def flaky(name: str) -> ScriptedChatModel:
        inner = standin_team(load_personas("builtin"), memory)[0][0].agent.chat_model

        def reply(messages: list[BaseMessage]) -> str:
            calls["n"] += 1
            if calls["n"] == 3:
                raise RuntimeError("the model went away")
            return inner.invoke(messages).text

        return ScriptedChatModel(reply)

    members, moderator = standin_team(load_personas("builtin"), memory)
    members = [Participant(agent=replace(p.agent, model=flaky(p.name)), persona=p.persona, view=p.view)
               for p in members]
    chat = GroupChat(participants=members, moderator=moderator, team_memory=memory, team="business", max_rounds=2)
    with pytest.raises(RuntimeError, match="went away"):
        chat.run(TOPIC, thread_id="mix", checkpointer=saver)
    assert not chat.rehearsal
    resumed = _offline_chat(memory, max_rounds=2).run(None, thread_id="mix", checkpointer=saver, resume=True)
    assert resumed.rehearsal and resumed.summary.startswith("Rehearsal")
    assert memory.list(namespace=("teams", "business", "ideas")) == []


def test_replies_that_are_not_ideas_are_dropped_with_a_note_and_never_stored(tmp_path: Path) -> None:
    """What small models really return: the question echoed, ids, dates, template placeholders, prose."""
    memory = NativeMemoryAdapter(tmp_path / "mem.db")
    replies = iter([
        '{"idea": "How should a hospital reduce nurse burnout?"}',           # the topic echoed
        '{"idea": "2018-03-29T07:45:26+00:00 | A&B", "critique": "][", "vote": "for"}',
        '{"idea": "[Your Name] - [Your Role]", "critique": "Too costly for a small ward", "vote": "against"}',
        "I am not sure what to say.", "Still nothing useful.",               # no move, even after the repair turn
        '{"idea": "Give nurses a fixed fifteen minute break every four hours", "critique": "ok", "vote": "for"}',
    ])
    model = ScriptedChatModel(lambda _: next(replies))
    speakers = [Agent(name=n, model=model) for n in ("a", "b", "c", "d", "e")]
    result = GroupChat(participants=speakers, team_memory=memory, team="t", max_rounds=1).run(
        "How should a hospital reduce nurse burnout?", thread_id="junk")
    notes = "\n".join(result.notes)
    assert "repeats the prompt" in notes and "mostly numbers or symbols" in notes
    assert "no move could be read" in notes  # d: its speech is kept, no move is made up
    turns = [t for t in result.transcript if t["round"]]
    assert turns[3]["text"] == "I am not sure what to say."
    assert [i["text"] for i in result.ideas] == ["Give nurses a fixed fifteen minute break every four hours"]
    assert result.ideas[0]["status"] == "proposed"  # nobody was left to vote on it
    assert memory.list(namespace=("teams", "t", "ideas")) == []


def test_a_speaker_asked_for_its_idea_and_a_review_is_asked_for_a_statement_not_a_question() -> None:
    """A small model given the question and a colleague's idea tends to fold both into a new question."""
    from mnemos.graphs._turn import task_lines

    asked = "\n".join(task_lines(propose=True, target={"id": 1, "text": "Give nurses a fixed break"}))
    assert "not a question" in asked


def test_a_critique_that_is_a_bare_yes_or_no_is_dropped_and_its_vote_stands(tmp_path: Path) -> None:
    replies = iter([
        '{"idea": "Give nurses a fixed fifteen minute break every four hours"}',
        '{"idea": "Let nurses swap shifts in an app", "critique": "The answer is no.", "vote": "against"}',
    ])
    model = ScriptedChatModel(lambda _: next(replies))
    speakers = [Agent(name=n, model=model) for n in ("a", "b")]
    result = GroupChat(participants=speakers, team_memory=NativeMemoryAdapter(tmp_path / "mem.db"), team="t",
                       max_rounds=1).run("How should a hospital reduce nurse burnout?", thread_id="bare")
    first = result.ideas[0]
    assert first["critiques"] == [] and first["votes"] == {"b": -1}
    assert any("The answer is no." in n and "not a sentence" in n for n in result.notes)


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("How should a hospital reduce nurse burnout?", "repeats the prompt"),
        ("The answer is: how should hospitals reduce nurse burnout", "repeats the prompt"),
        ("I'm not sure how to answer this question.", "no answer"),
        ("[Your Name] - [Your Role]", "numbers or symbols"),
        ("2018-03-29T07:45:26+00:00 | A&B", "numbers or symbols"),
        ("30486795", "no words"),
        ("The answer is: a quiet room for breaks was voted down", "a vote"),      # the vote echoed as an idea
        ("I vote for it: +1 from me", "a vote"),
        ("The colleague's idea is good because it is cheap", "the discussion"),
        ("This idea sounds great", "the discussion"),
        ("The answer is no.", "bare answer"),
        ("How can we make healthcare more sustainable?", "a question"),             # a question instead of an idea
        ("The answer is: How can hospitals improve patient care outcomes", "a question"),
        ("Should hospitals hire more nurses", "a question"),
        ("Pair each new nurse with a senior colleague as a mentor", None),
        ("Let nurses vote on their shift schedules", None),
        ("Do weekly check-ins with each nurse", None),
        ("When nurses work nights, give them the next day off", None),
        ("What if nurses could swap shifts in an app", None),
        ("The answer is to give every ward a quiet room", None),
        (", I'm going to give you something awesome!", "talking about itself"),
        ("I would suggest that hospitals offer flexible shifts", None),
        ("The answer is: #Businesses#Healthcare", "hashtags"),
        ("The answer to this question requires an edit.", "the discussion"),
        ("The answer to the question of how hospitals can cut stress is that they give nurses a quiet room", None),
        ("Give idea #2 a budget", None),
        ("Teapot", None),  # one word can be an idea (a name for a tea shop)
        ("Give nurses a fixed break every four hours", None),
        ("Hire more nurses for night shifts", None),
    ],
)
def test_what_is_not_an_idea(reply: str, why: str | None) -> None:
    from mnemos.graphs._turn import not_an_idea

    found = not_an_idea(reply, ["How should a hospital reduce nurse burnout?"])
    assert (found is None) if why is None else (found is not None and why in found)
