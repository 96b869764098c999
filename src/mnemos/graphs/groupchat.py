"""Group chat: persona agents brainstorm a topic, keep an idea ledger, and remember.

:class:`GroupChat` compiles to a LangGraph graph (``open → select → <speaker>
→ select → ... → close``), so a session is checkpointed after every turn,
streams, resumes after a crash with the same thread id, and can be a node of
a larger graph (it reads ``topic``, or else the last human message)::

    chat = GroupChat(participants=[pm, engineer, skeptic], moderator=moderator,
                     team_memory=store, max_rounds=3)
    result = chat.run("A loyalty product for small shops", thread_id="s1",
                      checkpointer=sqlite_checkpointer("chat.db"))
    print(result.to_markdown())

Each turn, the speaker sees the transcript through its :class:`View` (sender
filters, the last ``window`` messages verbatim and a summary of older ones,
all under its token ``budget``), recalls its own memories (the
:class:`~mnemos.agents.Agent` does), and gets a brief from the chair: the
topic, the round, the ideas on the table, what earlier sessions accepted and
rejected, and its task: one short idea about the topic, and a critique and a
vote on the one idea the chair puts up for review. It answers with a small
JSON object (structured output), or else with ``IDEA:`` / ``CRITIQUE:`` /
``VOTE: for`` lines (see :mod:`mnemos.graphs._turn`). The ledger records the
moves; a proposal that repeats an idea rejected in an earlier session is
dropped unless ``revisit``.

At the end (rounds, the ``keyword`` in a message, or ``consensus``) ideas
with a positive score are accepted, negative ones rejected, a summary is
written, and memory is updated: decided ideas to the team namespace
(semantic), one episode per participant, lessons to procedural memory.

With the offline model a session is a *rehearsal*: it says so in its opening
message, its ledger (``"rehearsal": true``) and its summary, its ideas are
numbered placeholders, and nothing is written to memory.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Optional

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from mnemos.agents import (
    Agent,
    AssembledContext,
    OfflineChatModel,
    ScriptedChatModel,
    resolve_model,
)
from mnemos.agents.agent import RunIdentity
from mnemos.agents.structured import finish_reason
from mnemos.exceptions import UsageError
from mnemos.graphs._chat_state import GroupChatState, Participant, View, participants_from_personas
from mnemos.graphs._ledger import (
    Contribution,
    add_idea,
    decide,
    empty_ledger,
    ledger_patch,
    record_moves,
    render_moves,
    score,
)
from mnemos.graphs._personas import Persona, PersonaSet, load_personas
from mnemos.graphs._session import SessionResult, session_status
from mnemos.graphs._team_memory import recall_team, write_session
from mnemos.graphs._turn import (
    REHEARSAL_NOTICE,
    ask,
    bare_answer,
    is_rehearsal_model,
    mostly_symbols,
    not_an_idea,
    rehearsal_lines,
    review_target,
    task_lines,
)
from mnemos.memory_adapters import BaseMemoryAdapter

__all__ = [
    "Contribution",
    "GroupChat",
    "GroupChatState",
    "Participant",
    "Persona",
    "PersonaSet",
    "SessionResult",
    "SpeakerSelector",
    "View",
    "load_personas",
    "participants_from_personas",
    "session_status",
]

logger = logging.getLogger("mnemos.graphs")

SpeakerSelector = Callable[[Mapping[str, Any], Sequence[str]], str]
"""A custom speaker selection: ``(state, candidates) -> name``."""

_RESERVED = frozenset({"open", "select", "close", "chair"})
CLOSING_TOKENS = 160
"""The most tokens the moderator's closing remarks may take."""
_REVISIT = re.compile(r"\b(revisit|reconsider|again|re-?propose)\b", re.IGNORECASE)


@dataclass(kw_only=True, eq=False)
class GroupChat:
    """A brainstorm between agents, as a LangGraph graph (see the module docs).

    ``selection`` is ``"round_robin"`` (each participant once per round, in
    order), ``"model"`` (``selector_model``, else the moderator's or the first
    participant's model, picks among the candidates; an invalid name is
    retried ``selector_retries`` times, then the next speaker in round-robin
    order is taken), or a function ``(state, candidates) -> name``. A round is
    as many turns as there are participants.
    """

    participants: Sequence[Participant | Agent]
    moderator: Participant | Agent | None = None
    selection: Literal["round_robin", "model"] | SpeakerSelector = "round_robin"
    selector_model: str | BaseChatModel | None = None
    selector_retries: int = 1
    max_rounds: int = 3
    keyword: str | None = "TERMINATE"
    consensus: bool = False
    team_memory: BaseMemoryAdapter | None = None
    team: str = "default"
    revisit: bool | None = None
    """Allow re-proposing ideas rejected in earlier sessions; None: when the topic says so ("revisit", "again")."""
    recall_limit: int = 8

    def __post_init__(self) -> None:
        self._members = [p if isinstance(p, Participant) else Participant(agent=p) for p in self.participants]
        if not self._members:
            raise UsageError("a group chat needs at least one participant")
        mod = self.moderator
        self._moderator = mod if isinstance(mod, Participant) or mod is None else Participant(agent=mod)
        names = [p.name for p in self._members] + ([self._moderator.name] if self._moderator else [])
        if len(set(names)) != len(names):
            raise UsageError(f"participant names repeat: {names}")
        if bad := _RESERVED.intersection(names):
            raise UsageError(f"{sorted(bad)} are reserved names in a group chat; rename the agent")
        if self.selection not in ("round_robin", "model") and not callable(self.selection):
            raise UsageError(f"selection is 'round_robin', 'model' or a function, not {self.selection!r}")
        if isinstance(self.max_rounds, bool) or not isinstance(self.max_rounds, int) or self.max_rounds < 1:
            raise UsageError(f"max_rounds is a positive integer, got {self.max_rounds!r}")
        self._by_name = {p.name: p for p in self._members}
        self._viewing = {p.name: p.viewing_agent() for p in self._members}
        self._selector: BaseChatModel | None = None
        if self.selection == "model":
            source = self._moderator or self._members[0]
            self._selector = resolve_model(self.selector_model) if self.selector_model else source.agent.chat_model

    # -- graph --------------------------------------------------------------------------

    @property
    def members(self) -> list[Participant]:
        """The speakers (the moderator is not one), in round-robin order."""
        return list(self._members)

    @property
    def names(self) -> list[str]:
        """The speakers' names, in round-robin order."""
        return [p.name for p in self._members]

    def build(self) -> StateGraph:
        """The uncompiled ``StateGraph`` (add nodes or compile it yourself)."""
        graph = StateGraph(GroupChatState)
        graph.add_node("open", self._open)
        graph.add_node("select", self._select)
        for name in self.names:
            graph.add_node(name, self._speaker_node(name))
            graph.add_edge(name, "select")
        graph.add_node("close", self._close)
        graph.add_edge(START, "open")
        graph.add_edge("open", "select")
        graph.add_conditional_edges("select", lambda s: s["next"], [*self.names, "close"])
        graph.add_edge("close", END)
        return graph

    def compile(self, checkpointer: Any = None, **kwargs: Any) -> Any:
        """The compiled graph (``checkpointer`` as for any LangGraph graph).

        Its recursion limit defaults to what ``max_rounds`` needs (two steps a
        turn), not LangGraph's 25.
        """
        return self.build().compile(checkpointer=checkpointer, **kwargs).with_config(
            recursion_limit=self._steps(self.max_rounds))

    def _steps(self, rounds: int) -> int:
        return 2 * rounds * len(self._members) + 10

    @property
    def rehearsal(self) -> bool:
        """Whether a session of this chat is a rehearsal (a speaker runs on the offline model)."""
        return any(is_rehearsal_model(p.agent.chat_model) for p in self._members)

    def run(
        self,
        topic: str | None,
        *,
        thread_id: str = "brainstorm",
        user_id: str = "default",
        checkpointer: Any = None,
        resume: bool = False,
    ) -> SessionResult:
        """Run a session to its end (``resume``: continue the thread from its last checkpoint)."""
        if checkpointer is None:
            from langgraph.checkpoint.memory import InMemorySaver

            checkpointer = InMemorySaver()
        graph = self.compile(checkpointer=checkpointer)
        config = _config(thread_id, user_id)
        for _ in self.stream(graph, topic, config, resume=resume):
            pass
        return SessionResult.from_state(graph.get_state(config).values, thread_id)

    def stream(
        self, graph: Any, topic: str | None, config: RunnableConfig, *, resume: bool = False,
        stream_mode: Sequence[str] = ("updates", "custom"),
    ) -> Any:
        """Stream a session on a compiled graph: a new one on ``topic``, or the thread's unfinished one.

        Yields LangGraph's ``(mode, chunk)`` pairs. A new session on a thread
        that already has one, or ``resume`` on a thread with nothing to
        resume, is a :class:`~mnemos.exceptions.UsageError`.
        """
        snapshot = graph.get_state(config)
        thread = (config.get("configurable") or {}).get("thread_id")
        if resume:
            status = session_status(snapshot)
            if status == "new":
                raise UsageError(f"thread {thread!r} has no session to resume")
            if status == "finished":
                raise UsageError(f"the session on thread {thread!r} is already finished")
            payload: Any = None
            rounds = int(snapshot.values.get("max_rounds") or self.max_rounds)
            config = {**config, "recursion_limit": self._steps(rounds)}  # what the saved session needs
        else:
            if not topic or not topic.strip():
                raise UsageError("a brainstorm needs a topic")
            if snapshot.values:
                raise UsageError(f"thread {thread!r} already has a session; resume it or use another thread id")
            payload = self.input(topic)
        yield from graph.stream(payload, config, stream_mode=list(stream_mode))

    @staticmethod
    def input(topic: str) -> dict[str, Any]:
        """The graph input that starts a session on ``topic``."""
        return {"topic": topic.strip(), "messages": [HumanMessage(topic.strip(), name="user")]}

    # -- nodes ------------------------------------------------------------------------------

    def _open(self, state: GroupChatState) -> dict[str, Any]:
        topic = (state.get("topic") or _last_human(state.get("messages", []))).strip()
        if not topic:
            raise UsageError("a brainstorm needs a topic: give 'topic' or a human message")
        recalled = recall_team(self.team_memory, self.team, topic, limit=self.recall_limit)
        rehearsal = self.rehearsal
        ledger = dict(empty_ledger(), rehearsal=rehearsal)
        for item in recalled["accepted"]:
            ledger = add_idea(ledger, text=item["text"], author="team", round=0,
                              status="accepted", origin="earlier session")
        lines = [REHEARSAL_NOTICE] if rehearsal else []
        lines += [f"Topic: {topic}", f"We have {self.max_rounds} round(s). Speakers: {', '.join(self.names)}."]
        if recalled["accepted"]:
            lines += ["Accepted in earlier sessions (build on these):"]
            lines += [f"- {i['text']}" for i in recalled["accepted"]]
        if recalled["rejected"]:
            lines += ["Rejected in earlier sessions (do not propose again unless asked):"]
            lines += [f"- {i['text']} (why: {i['reason']})" for i in recalled["rejected"]]
        opener = self._moderator.name if self._moderator else "chair"
        message = AIMessage("\n".join(lines), name=opener, additional_kwargs={"round": 0})
        return {"topic": topic, "max_rounds": self.max_rounds, "rehearsal": rehearsal, "round": 1, "spoken": [],
                "ledger": ledger_patch(None, ledger), "recalled": recalled,
                "messages": [message], "stop_reason": "", "summary": ""}

    def _select(self, state: GroupChatState) -> dict[str, Any]:
        round_, spoken = state.get("round", 1), list(state.get("spoken", []))
        rounds = _rounds(state, self.max_rounds)
        stop = self._stop_reason(state)
        if not stop and len(spoken) >= len(self._members):
            round_, spoken = round_ + 1, []
        if not stop and round_ > rounds:
            stop = "rounds"
        if stop:
            return {"next": "close", "stop_reason": stop, "round": min(round_, rounds)}
        name, notes = self._choose(state, spoken)
        return {"next": name, "round": round_, "spoken": spoken, "notes": notes}

    def _stop_reason(self, state: GroupChatState) -> str:
        messages = state.get("messages", [])
        last = messages[-1] if messages else None
        if (self.keyword and isinstance(last, AIMessage) and (last.additional_kwargs or {}).get("round")
                and self.keyword in last.text):
            return "keyword"
        if self.consensus:
            voters = set(self.names)
            for idea in (state.get("ledger") or empty_ledger())["ideas"]:
                if idea["status"] == "proposed" and idea["origin"] == "session":
                    others = voters - {idea["author"]}
                    if others and all(idea["votes"].get(n) == 1 for n in others):
                        return "consensus"
        return ""

    def _choose(self, state: GroupChatState, spoken: list[str]) -> tuple[str, list[str]]:
        if self.selection == "round_robin":
            return next(n for n in self.names if n not in spoken), []
        last = spoken[-1] if spoken else None
        candidates = [n for n in self.names if n != last] or self.names
        fallback = _next_after(self.names, last, candidates)
        if callable(self.selection):
            name = self.selection(state, candidates)
            if name not in candidates:
                raise UsageError(f"the speaker selection function returned {name!r}, not one of {candidates}")
            return name, []
        return self._model_choice(state, candidates, fallback)

    def _model_choice(self, state: GroupChatState, candidates: list[str], fallback: str) -> tuple[str, list[str]]:
        assert self._selector is not None
        recent = [f"[{m.name or m.type}] {m.text[:300]}" for m in state.get("messages", [])[-6:]]
        roles = [f"- {n}: {self._by_name[n].agent.description or 'participant'}" for n in candidates]
        prompt: list[BaseMessage] = [
            SystemMessage("You choose who speaks next in a brainstorm. "
                          "Reply with exactly one name from the candidates and nothing else."),
            HumanMessage(f"Topic: {state.get('topic', '')}\n\nRecent messages:\n" + "\n".join(recent)
                         + "\n\nCandidates:\n" + "\n".join(roles) + "\n\nWho speaks next?"),
        ]
        notes: list[str] = []
        for _ in range(self.selector_retries + 1):
            reply = self._selector.invoke(prompt).text
            name = _match_name(reply, candidates)
            if name is not None:
                return name, notes
            notes.append(f"speaker selection: {reply.strip()[:80]!r} is not a candidate")
            prompt += [AIMessage(reply), HumanMessage(
                f"That is not one of the candidates. Reply with exactly one of: {', '.join(candidates)}")]
        notes.append(f"speaker selection fell back to {fallback}")
        return fallback, notes

    def _speaker_node(self, name: str) -> Callable[..., dict[str, Any]]:
        def speak(state: GroupChatState, config: Optional[RunnableConfig] = None) -> dict[str, Any]:  # noqa: UP045
            return self._turn(name, state, config)

        speak.__name__ = name
        return speak

    def _revisit(self, topic: str) -> bool:
        return self.revisit if self.revisit is not None else bool(_REVISIT.search(topic))

    def _proposes(self, state: Mapping[str, Any]) -> bool:
        """Whether this turn asks for a new idea: every round but the last, which is for reviews."""
        rounds = _rounds(state, self.max_rounds)
        return rounds == 1 or state.get("round", 1) < rounds

    def chair_context(self, name: str, state: Mapping[str, Any]) -> SystemMessage:
        """What the chair tells ``name`` before its task: the question, the round, the ideas so far.

        It joins the speaker's system prompt. The ideas are listed as plain
        text (no numbers, no authors): small models copy list markup.
        """
        ledger = state.get("ledger") or empty_ledger()
        recalled = state.get("recalled") or {}
        topic = state.get("topic", "")
        lines = [f"The question: {topic}", f"Round {state.get('round', 1)} of {_rounds(state, self.max_rounds)}."]
        session = [i["text"] for i in ledger["ideas"] if i["status"] != "merged" and i["origin"] == "session"]
        earlier = [i["text"] for i in ledger["ideas"] if i["origin"] != "session"]
        if session:
            lines.append("Ideas already proposed: " + "; ".join(session) + ".")
        if earlier:
            lines.append("Accepted in earlier sessions (build on them): " + "; ".join(earlier) + ".")
        rejected = recalled.get("rejected", [])
        if rejected and not self._revisit(topic):
            lines.append("Rejected in earlier sessions (do not propose them again): "
                         + "; ".join(i["text"] for i in rejected) + ".")
        return SystemMessage("\n".join(lines))

    def brief(self, name: str, state: Mapping[str, Any]) -> HumanMessage:
        """The chair's request to ``name`` for its turn (the last message of its prompt): the topic, then the task."""
        participant = self._by_name[name]
        ledger = state.get("ledger") or empty_ledger()
        topic = state.get("topic", "")
        target = review_target(ledger, name)
        propose = self._proposes(state) or target is None
        lines = [topic]
        if is_rehearsal_model(participant.agent.chat_model):  # first: the offline model copies the first it finds
            lines += rehearsal_lines(participant.persona, name, number=ledger["next_id"], propose=propose,
                                     target=target)
        lines += task_lines(propose=propose, target=target)
        return HumanMessage("\n".join(lines), name="chair")

    def assemble(self, name: str, state: Mapping[str, Any], config: RunnableConfig | None = None) -> AssembledContext:
        """The prompt ``name`` would get now: the chair's context, its view of the transcript, its memories, the brief.

        A view with ``window=0`` shows no transcript at all (the chair's
        context lists the ideas): the short prompt small models need.
        """
        if name not in self._by_name:
            raise UsageError(f"no participant named {name!r}; participants: {self.names}")
        participant = self._by_name[name]
        view = [] if participant.view.window == 0 else participant.view.filter(state.get("messages", []))
        messages = [self.chair_context(name, state), *view, self.brief(name, state)]
        return self._viewing[name].assemble({"messages": messages}, config)

    def _turn(self, name: str, state: GroupChatState, config: RunnableConfig | None) -> dict[str, Any]:
        context = self.assemble(name, state, config)
        before = state.get("ledger") or empty_ledger()
        target = review_target(before, name)
        moves, notes = ask(self._viewing[name].chat_model, context.messages,
                           propose=self._proposes(state) or target is None, target=target, config=config)
        topic = state.get("topic", "")
        prompt_texts = [topic, self._by_name[name].agent.instructions or ""]
        rehearsing = is_rehearsal_model(self._viewing[name].chat_model)  # placeholders are copied on purpose
        for idea in [] if rehearsing else list(moves.ideas):
            if (why := not_an_idea(idea, prompt_texts)) is not None:
                moves.ideas.remove(idea)
                notes.append(f"dropped {idea!r}: {why}, it is not an idea")
        for number, text in [] if rehearsing else list(moves.critiques):
            if mostly_symbols(text) or len(text.split()) < 2 or bare_answer(text):
                moves.critiques.remove((number, text))  # the vote stands; the text is noise
                notes.append(f"dropped the critique {text!r}: it is not a sentence")
        round_ = state.get("round", 1)
        recalled = state.get("recalled") or {}
        ledger, refused = record_moves(
            before, moves, author=name, round=round_,
            rejected_before=recalled.get("rejected_all", []), revisit=self._revisit(topic),
        )
        if rehearsing:  # one placeholder turn makes the whole session a rehearsal (a resume may switch models)
            ledger["rehearsal"] = True
        turn = sum(1 for m in state.get("messages", []) if m.name == name
                   and (m.additional_kwargs or {}).get("round")) + 1
        message = AIMessage(render_moves(moves), name=name, additional_kwargs={"round": round_})
        return {"messages": [message], "ledger": ledger_patch(before, ledger),
                "spoken": [*state.get("spoken", []), name],
                "prompts": [_prompt_record(name, round_, turn, context)],
                "notes": [f"{name}: {n}" for n in notes + refused]}

    def _close(self, state: GroupChatState, config: Optional[RunnableConfig] = None) -> dict[str, Any]:  # noqa: UP045
        before = state.get("ledger") or empty_ledger()
        ledger = decide(before)
        topic = state.get("topic", "")
        rehearsal = bool(state.get("rehearsal") or ledger.get("rehearsal"))
        session = [i for i in ledger["ideas"] if i["origin"] == "session" and i["status"] != "merged"]
        parts = [f"After {state.get('round', 1)} round(s) on '{topic}' (stopped by {state.get('stop_reason') or 'rounds'}):"]
        if rehearsal:
            parts.insert(0, "Rehearsal on the offline model: the ideas below are placeholders, "
                            "and nothing was written to memory.")
        for status in ("accepted", "rejected", "proposed"):
            chosen = [i for i in session if i["status"] == status]
            if chosen:
                label = "still open" if status == "proposed" else status
                parts.append(f"{label.capitalize()}: " + "; ".join(
                    f"#{i['id']} {i['text']} ({score(i):+d})" for i in chosen) + ".")
        if not session:
            parts.append("No new ideas were proposed.")
        summary = "\n".join(parts)
        if (not rehearsal and self._moderator is not None and session
                and _writes_prose(self._moderator.agent.chat_model)):
            closing = self._closing_remarks(topic, ledger, config)
            summary = f"{summary}\n\n{closing}" if closing else summary
        who = RunIdentity.from_config(config)
        agents = [p.agent for p in self._members] + ([self._moderator.agent] if self._moderator else [])
        events: list[dict[str, Any]] = []
        if not rehearsal:  # placeholders are not decisions about the topic: a rehearsal stores nothing
            events = write_session(team_memory=self.team_memory, team=self.team, agents=agents, topic=topic,
                                   ledger=ledger, thread_id=who.thread_id, user_id=who.user_id)
            _emit_all(events)
        closer = self._moderator.name if self._moderator else "chair"
        return {"ledger": ledger_patch(before, ledger), "summary": summary, "memory_trace": events,
                "messages": [AIMessage(summary, name=closer, additional_kwargs={"round": 0})]}

    def _closing_remarks(self, topic: str, ledger: Mapping[str, Any], config: RunnableConfig | None) -> str:
        """The moderator's closing words, by its model (a summary is an aid: failures are logged, not raised)."""
        assert self._moderator is not None
        agent = self._moderator.agent
        decided = {status: [i["text"] for i in ledger["ideas"] if i["status"] == status and i["origin"] == "session"]
                   for status in ("accepted", "rejected", "proposed")}
        outcome = "\n".join(f"{label}: {'; '.join(texts)}." for label, texts in (
            ("Accepted", decided["accepted"]), ("Rejected", decided["rejected"]), ("Still open", decided["proposed"]))
            if texts)
        prompt = [SystemMessage(agent.instructions or "You chair a brainstorm."),
                  HumanMessage(f"{topic}\n{outcome}\nClose the brainstorm in two or three sentences: "
                               "what was accepted and why, and the next step.")]
        try:
            reply = agent.chat_model.bind(max_tokens=CLOSING_TOKENS).invoke(prompt, config=config)
        except Exception as exc:
            logger.warning("the moderator's closing remarks failed (%s); keeping the ledger summary", exc)
            return ""
        text = reply.text.strip()
        if finish_reason(reply) == "length":  # cut off: keep the complete sentences
            text = text[: max(text.rfind(". "), text.rfind(".\n"), text.rfind("!"), text.rfind("?")) + 1].strip()
        return text


# --- helpers -------------------------------------------------------------------------------


def _writes_prose(model: BaseChatModel) -> bool:
    """Whether a model can write free text worth reading (the offline and scripted models cannot)."""
    return not isinstance(model, (OfflineChatModel, ScriptedChatModel))


def _config(thread_id: str, user_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id, "user_id": user_id}, "recursion_limit": 10_000}


def _rounds(state: Mapping[str, Any], default: int) -> int:
    """The session's number of rounds (saved in its state, so a resume keeps it)."""
    return int(state.get("max_rounds") or default)


def _prompt_record(name: str, round_: int, turn: int, context: AssembledContext) -> dict[str, Any]:
    return {"speaker": name, "round": round_, "turn": turn, "tokens": context.tokens, "budget": context.budget,
            "memories": [m.content for m in context.memories],
            "messages": [{"role": m.type, "content": m.text} for m in context.messages]}


def _last_human(messages: Sequence[BaseMessage]) -> str:
    for m in reversed(messages):
        if isinstance(m, HumanMessage) and m.text.strip():
            return m.text
    return ""


def _match_name(reply: str, candidates: Sequence[str]) -> str | None:
    text = reply.strip().strip(".'\"`*").strip()
    for name in candidates:
        if text.casefold() == name.casefold():
            return name
    found = [n for n in candidates if re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", reply, re.IGNORECASE)]
    return found[0] if len(found) == 1 else None


def _next_after(order: Sequence[str], last: str | None, candidates: Sequence[str]) -> str:
    start = order.index(last) + 1 if last in order else 0
    for k in range(len(order)):
        name = order[(start + k) % len(order)]
        if name in candidates:
            return name
    return candidates[0]


def _emit_all(events: Sequence[dict[str, Any]]) -> None:
    try:
        from langgraph.config import get_stream_writer

        writer = get_stream_writer()
    except (RuntimeError, KeyError, AttributeError, TypeError):
        return
    for event in events:
        writer(event)
