"""Brainstorms for one caller (used by ``brainstorm_run`` over MCP).

A session runs through :func:`mnemos.graphs.brainstorm.run_session`, the same
code path as ``mnemos brainstorm``, on the memory it is given: the MCP server
passes the calling principal's scoped view, so the team's ideas
(``teams/<team>/ideas``) and every participant's memories live under that
principal's root. Thread ids are kept apart per principal, as for
``graph_run`` (:func:`~mnemos.tools.graph_runner.principal_thread_key`). Persona *files* are not read here: a client names a built-in
persona set.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from langchain_core.language_models import BaseChatModel
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from mnemos.exceptions import UsageError
from mnemos.memory_adapters.base import BaseMemoryAdapter
from mnemos.tools.graph_runner import principal_thread_key

__all__ = ["BrainstormIdeaOut", "BrainstormRunOut", "PersonasIn", "run_brainstorm"]


def _builtin_personas(value: str) -> str:
    from mnemos.graphs._personas import BUILTIN_PERSONAS

    name = value.strip()
    name = name.partition(":")[2] if name.startswith("builtin:") else name
    if name == "builtin":
        return "builtin"
    if name not in BUILTIN_PERSONAS:
        raise ValueError(
            f"personas is 'builtin' or the name of a built-in persona set ({', '.join(BUILTIN_PERSONAS)}), "
            f"not {value!r}"
        )
    return f"builtin:{name}"


PersonasIn = Annotated[
    str,
    AfterValidator(_builtin_personas),
    Field(description="'builtin' or the name of a built-in persona set, such as 'business'."),
]
"""A persona set as clients name it; normalized to ``builtin:NAME``."""


class BrainstormIdeaOut(BaseModel):
    """One idea of the ledger."""

    model_config = ConfigDict(frozen=True)

    id: int
    text: str
    author: str
    status: str
    """``accepted``, ``rejected``, ``proposed`` (still open) or ``merged``."""
    score: int
    """The sum of the votes."""
    origin: str
    """``session``, or ``earlier session`` for an idea recalled from team memory."""
    critiques: list[str] = []


class BrainstormRunOut(BaseModel):
    """The result of a brainstorm session."""

    model_config = ConfigDict(frozen=True)

    thread_id: str
    """Give it back with ``resume`` to continue an unfinished session."""
    topic: str
    team: str
    ideas: list[BrainstormIdeaOut]
    summary: str
    stop_reason: str
    finished: bool
    rehearsal: bool = False
    """True on the offline model: the ideas are placeholders and nothing was stored."""
    transcript_length: int
    """How many messages the session's transcript holds."""
    recalled_accepted: list[str]
    """Ideas that earlier sessions accepted and this one built on."""
    recalled_rejected: list[str]
    """Ideas that earlier sessions rejected, related to this topic."""


def run_brainstorm(
    *,
    memory: BaseMemoryAdapter,
    topic: str | None,
    personas: str = "builtin",
    rounds: int = 3,
    thread_id: str | None = None,
    resume: bool = False,
    principal: str | None = None,
    model: str | BaseChatModel | None = None,
    checkpoint_path: str | Path,
    on_update: Callable[[str, dict[str, Any]], None] | None = None,
) -> BrainstormRunOut:
    """Run a brainstorm on ``topic`` (or continue the one of ``thread_id``) with ``memory``.

    ``on_update(node, update)`` sees every step of the session (the MCP server
    turns them into progress notifications). Bad arguments are a
    :class:`~mnemos.exceptions.UsageError` or
    :class:`~mnemos.exceptions.ConfigurationError` before anything is stored.
    """
    from mnemos.graphs.brainstorm import brainstorm_chat, run_session

    if resume and not thread_id:
        raise UsageError("resume needs the thread_id of the session to continue")
    if not resume and not (topic and topic.strip()):
        raise UsageError("give a topic to brainstorm (or resume with a thread_id)")
    if thread_id is not None and not thread_id.strip():
        raise UsageError("thread_id is a non-empty string")
    chat, team = brainstorm_chat(personas, model=model, memory=memory, rounds=rounds)
    thread = thread_id or f"brainstorm-{uuid.uuid4().hex[:8]}"
    stored_thread = principal_thread_key(principal, thread) if principal is not None else thread
    if "://" not in str(checkpoint_path):
        Path(checkpoint_path).parent.mkdir(parents=True, exist_ok=True)
    result = run_session(chat, None if resume else topic, thread_id=stored_thread, user_id=principal or "default",
                         checkpoints=str(checkpoint_path), resume=resume, on_update=on_update)
    recalled: dict[str, Any] = result.recalled
    return BrainstormRunOut(
        thread_id=thread,
        topic=result.topic,
        team=team.team,
        ideas=[
            BrainstormIdeaOut(id=i["id"], text=i["text"], author=i["author"], status=i["status"],
                              score=sum(i["votes"].values()), origin=i["origin"],
                              critiques=[c["text"] for c in i["critiques"]])
            for i in result.ideas
        ],
        summary=result.summary,
        stop_reason=result.stop_reason,
        finished=bool(result.summary),
        rehearsal=result.rehearsal,
        transcript_length=len(result.transcript),
        recalled_accepted=[r["text"] for r in recalled.get("accepted", [])],
        recalled_rejected=[r["text"] for r in recalled.get("rejected", [])],
    )
