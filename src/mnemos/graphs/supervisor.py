"""The supervisor pattern: one decider sends the work to a worker at a time, or finishes.

A :class:`Supervisor` decides in one of three ways, first match wins:

- ``router``: your function ``(state, workers) -> worker name | FINISH``;
- ``model``: a chat model asked for a :class:`RouteDecision` through
  :func:`~mnemos.agents.structured_call` (one repair turn; if the decision is
  still invalid, the worker named in a plain reply, else FINISH). Its calls are
  tagged ``nostream``: a decision is not an answer to stream;
- ``order``: the workers in a declared order (the default: the order the
  workers were given), then FINISH.

Turns are counted per task (a task starts with a new human message) and capped
by ``max_turns``; the count lives in the graph state, so it survives a
checkpoint and a restart.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AnyMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command
from pydantic import BaseModel, Field, create_model

from mnemos.exceptions import UsageError
from mnemos.graphs._events import emit

__all__ = [
    "FEEDBACK_FLAG",
    "FINISH",
    "ROUTE_KEY",
    "RouteDecision",
    "Supervisor",
    "decision_schema",
    "merge_routes",
    "supervisor_node",
]

logger = logging.getLogger("mnemos.graphs")

FINISH = "FINISH"
"""What a supervisor answers when the work is done."""

ROUTE_KEY = "mnemos_route"
"""The state channel where supervisors keep their per-task turn count."""

FEEDBACK_FLAG = "mnemos_feedback"
"""``additional_kwargs`` flag on a human message that comments on the current
task (e.g. approval feedback) rather than starting a new one."""

_DEFAULT_INSTRUCTIONS = (
    "You are a supervisor managing these workers: {workers}. Given the conversation, "
    "answer with the worker who should act next, or FINISH when the request is done."
)


class RouteDecision(BaseModel):
    """A supervisor's structured answer."""

    next: str = Field(description="The worker who acts next, or FINISH.")
    reason: str = Field(default="", description="One sentence on why.")


def decision_schema(workers: Sequence[str]) -> type[BaseModel]:
    """A :class:`RouteDecision` whose ``next`` may only be one of ``workers`` or FINISH.

    The choices travel in the JSON schema as an enum, so a model with
    structured output cannot name a worker that does not exist.
    """
    choices: Any = Literal[tuple([*workers, FINISH])]
    return create_model(
        "RouteDecision",
        __doc__=RouteDecision.__doc__,
        next=(choices, Field(description="The worker who acts next, or FINISH.")),
        reason=(str, Field(default="", description="One sentence on why.")),
    )


def merge_routes(
    left: dict[str, dict[str, Any]] | None, right: dict[str, dict[str, Any]] | None
) -> dict[str, dict[str, Any]]:
    """Reducer of the routing channel: one entry per supervisor, last write wins."""
    return {**(left or {}), **(right or {})}


@dataclass(kw_only=True)
class Supervisor:
    """Decides which worker acts next, or :data:`FINISH`.

    Args:
        name: The node's name.
        model: A LangChain chat model (or a ``"provider:model"`` string) to decide with.
        order: Workers in the order they should act (default: the order given
            to :meth:`GraphBuilder.supervisor`).
        router: A function ``(state, workers) -> str`` that decides instead.
        instructions: The model's system prompt; ``{workers}`` is filled in.
        max_turns: The most worker turns per task before finishing anyway.
    """

    name: str = "supervisor"
    model: Any = None
    order: Sequence[str] = ()
    router: Callable[[Mapping[str, Any], Sequence[str]], str] | None = None
    instructions: str = _DEFAULT_INSTRUCTIONS
    max_turns: int = 10
    description: str = "Routes the work among the workers."

    def __post_init__(self) -> None:
        if isinstance(self.max_turns, bool) or not isinstance(self.max_turns, int) or self.max_turns < 1:
            raise UsageError(f"max_turns is a positive integer, got {self.max_turns!r}")

    def decide(
        self,
        state: Mapping[str, Any],
        workers: Mapping[str, str],
        turns: int,
        config: RunnableConfig | None = None,
    ) -> RouteDecision:
        """The next worker (or FINISH) after ``turns`` worker turns on this task."""
        names = list(workers)
        if self.router is not None:
            return RouteDecision(next=str(self.router(state, names)), reason="routing function")
        if self.model is not None:
            return self._ask_model(state, workers, config)
        order = list(self.order) or names
        unknown = [w for w in order if w not in workers]
        if unknown:
            raise UsageError(f"supervisor {self.name!r}: order names unknown workers {unknown}")
        if turns < len(order):
            return RouteDecision(next=order[turns], reason=f"step {turns + 1} of {len(order)}")
        return RouteDecision(next=FINISH, reason="every worker in the order has acted")

    def _ask_model(
        self, state: Mapping[str, Any], workers: Mapping[str, str], config: RunnableConfig | None
    ) -> RouteDecision:
        model = self.model
        if isinstance(model, str):
            from mnemos.agents import resolve_model

            model = resolve_model(model)
        roster = "; ".join(f"{n} ({d})" if d else n for n, d in workers.items())
        prompt: list[BaseMessage] = [
            SystemMessage(content=self.instructions.format(workers=roster)),
            *state.get("messages", []),
        ]
        from mnemos.agents import internal_config, structured_call
        from mnemos.exceptions import ModelOutputError

        internal = internal_config(config)
        schema = decision_schema(list(workers))
        raw: Any = None
        if isinstance(model, BaseChatModel):
            try:
                raw = structured_call(model, schema, prompt, config=internal)
            except ModelOutputError as exc:  # documented fallback: the worker named in a plain reply
                logger.warning("the supervisor's decision was not valid (%s); reading a plain reply", exc)
        else:  # any object with LangChain's with_structured_output/invoke
            try:
                raw = model.with_structured_output(schema).invoke(prompt, internal)
            except NotImplementedError:
                raw = None
        if isinstance(raw, BaseModel):
            raw = raw.model_dump()
        if isinstance(raw, Mapping) and _match(str(raw.get("next", "")), workers):
            return RouteDecision(next=_match(str(raw["next"]), workers) or FINISH,
                                 reason=str(raw.get("reason") or ""))
        reply = model.invoke(prompt, internal)
        text = reply.text if isinstance(reply, BaseMessage) else str(reply)
        return RouteDecision(next=_match(str(text), workers) or FINISH, reason="model reply")


def _match(text: str, workers: Mapping[str, str]) -> str | None:
    """The worker (or FINISH) a model's answer names, if any."""
    clean = text.strip()
    if clean.upper() == FINISH:
        return FINISH
    if clean in workers:
        return clean
    for name in workers:
        if re.search(rf"\b{re.escape(name)}\b", clean, flags=re.IGNORECASE):
            return name
    return FINISH if re.search(r"\bfinish\b", clean, flags=re.IGNORECASE) else None


def _task_id(messages: Sequence[AnyMessage]) -> str:
    """The id of the human message that started the current task."""
    for index in range(len(messages) - 1, -1, -1):
        msg = messages[index]
        if isinstance(msg, HumanMessage) and not msg.additional_kwargs.get(FEEDBACK_FLAG):
            return msg.id or f"#{index}"
    return ""


def supervisor_node(
    supervisor: Supervisor, workers: Mapping[str, str], finish: str
) -> Callable[[Mapping[str, Any], RunnableConfig], Command[Any]]:
    """The LangGraph node function for ``supervisor`` over ``workers``."""
    names = dict(workers)

    def route(state: Mapping[str, Any], config: RunnableConfig) -> Command[Any]:
        messages = state.get("messages", [])
        task = _task_id(messages)
        record = (state.get(ROUTE_KEY) or {}).get(supervisor.name) or {}
        turns = int(record.get("turns", 0)) if record.get("task") == task else 0
        if turns >= supervisor.max_turns:
            decision = RouteDecision(next=FINISH, reason=f"turn limit ({supervisor.max_turns}) reached")
        else:
            decision = supervisor.decide(state, names, turns, config)
        if decision.next != FINISH and decision.next not in names:
            raise UsageError(
                f"supervisor {supervisor.name!r} chose {decision.next!r}, "
                f"which is neither a worker ({', '.join(names)}) nor {FINISH}"
            )
        goto = finish if decision.next == FINISH else decision.next
        if decision.next != FINISH:
            turns += 1
        emit({"event": "route", "agent": supervisor.name, "next": decision.next,
               "reason": decision.reason, "turn": turns})
        update: dict[str, Any] = {
            ROUTE_KEY: {supervisor.name: {"task": task, "turns": turns, "next": decision.next}}
        }
        return Command(goto=goto, update=update)

    route.__name__ = supervisor.name
    return route

