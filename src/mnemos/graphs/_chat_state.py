"""The state of a group-chat session and who takes part in it.

:class:`GroupChatState` is the graph state (its growing parts are delta channels),
:class:`View` how one participant sees the transcript, and :class:`Participant`
an agent with its persona and view. Re-exported by :mod:`mnemos.graphs.groupchat`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage
from langgraph.channels.delta import DeltaChannel
from langgraph.graph.message import add_messages

from mnemos.agents import Agent, ShortTermStrategy, resolve_model
from mnemos.graphs._ledger import apply_patch
from mnemos.graphs._personas import Persona, PersonaSet
from mnemos.memory_adapters import BaseMemoryAdapter

__all__ = ["GroupChatState", "Participant", "View", "participants_from_personas"]


def _append_messages(state: list[AnyMessage], writes: Sequence[Any]) -> list[AnyMessage]:
    out: Any = state
    for write in writes:
        out = add_messages(out, write)
    return list(out)


def _concat(state: list[Any], writes: Sequence[Sequence[Any]]) -> list[Any]:
    return [*state, *(item for write in writes for item in write)]


def _merge_ledger(state: dict[str, Any], writes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    out = state
    for patch in writes:
        out = apply_patch(out, patch)
    return out


class GroupChatState(TypedDict, total=False):
    """The graph state of a session (all JSON-friendly, so every checkpointer can save it).

    The transcript, the prompts, the notes, the memory trace and the ledger
    are LangGraph delta channels: a checkpoint stores what a step added (a
    ledger update is a patch of the ideas it changed), not the whole value
    again, so a session's checkpoints grow with its number of turns.
    """

    messages: Annotated[list[AnyMessage], DeltaChannel(_append_messages)]
    topic: str
    max_rounds: int
    rehearsal: bool
    round: int
    spoken: list[str]
    next: str
    ledger: Annotated[dict[str, Any], DeltaChannel(_merge_ledger)]
    recalled: dict[str, Any]
    prompts: Annotated[list[dict[str, Any]], DeltaChannel(_concat)]
    notes: Annotated[list[str], DeltaChannel(_concat)]
    stop_reason: str
    summary: str
    memory_trace: Annotated[list[dict[str, Any]], DeltaChannel(_concat)]


@dataclass(kw_only=True, frozen=True)
class View:
    """How one participant sees the transcript: whose messages, how many verbatim, what budget.

    ``include`` (if given) keeps only those senders, ``exclude`` drops some;
    the topic and the opening and closing messages are always kept. The last ``window``
    messages are verbatim and older ones summarized (``strategy`` of
    :func:`~mnemos.agents.assemble_context`), and the whole prompt stays
    within ``budget`` tokens.
    """

    budget: int = 1500
    window: int = 8
    """0: no transcript at all, only the chair's context and request (best for small models)."""
    strategy: Literal["buffer", "window", "summary", "summary_buffer"] = "summary_buffer"
    include: frozenset[str] | None = None
    exclude: frozenset[str] = frozenset()

    def filter(self, messages: Sequence[BaseMessage]) -> list[BaseMessage]:
        """The messages this view lets through."""
        out = []
        for m in messages:
            sender = m.name if isinstance(m, AIMessage) and (m.additional_kwargs or {}).get("round") else None
            if sender and (sender in self.exclude or (self.include is not None and sender not in self.include)):
                continue
            out.append(m)
        return out


@dataclass(kw_only=True, eq=False)
class Participant:
    """An agent in a group chat, with its persona and its view of the transcript."""

    agent: Agent
    persona: Persona | None = None
    view: View = field(default_factory=View)

    @property
    def name(self) -> str:
        return self.agent.name

    def viewing_agent(self) -> Agent:
        """The agent with its prompt budget, window and strategy set by the view."""
        policy = replace(self.agent.policy, context_tokens=self.view.budget,
                         window=self.view.window, strategy=ShortTermStrategy(self.view.strategy))
        return replace(self.agent, model=self.agent.chat_model, policy=policy)


def participants_from_personas(
    personas: PersonaSet,
    *,
    model: str | BaseChatModel | None = None,
    memory: BaseMemoryAdapter | None = None,
) -> tuple[list[Participant], Participant | None]:
    """Participants (and the moderator, if the set has one) built from a persona set."""
    chat_model = resolve_model(model)
    members: list[Participant] = []
    moderator: Participant | None = None
    for p in personas.personas:
        instructions = "\n".join(x for x in (f"You are the {p.role or p.name} in a group brainstorm.",
                                               p.instructions, p.leanings()) if x)
        agent = Agent(name=p.name, instructions=instructions, model=chat_model, memory=memory,
                      description=p.role)
        part = Participant(agent=agent, persona=p, view=View(budget=p.budget, window=p.window))
        if p.moderator:
            moderator = part
        else:
            members.append(part)
    return members, moderator
