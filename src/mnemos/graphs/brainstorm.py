"""Run a brainstorm session: personas to participants to a checkpointed :class:`GroupChat` run.

The one code path behind ``mnemos brainstorm`` and the MCP ``brainstorm_run``
tool::

    chat, team = brainstorm_chat("builtin", model=None, memory=store, rounds=2)
    result = run_session(chat, "A loyalty product for small shops", thread_id="s1",
                         checkpoints="sqlite:///chat.db")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from mnemos.graphs._personas import PersonaSet, load_personas
from mnemos.graphs.groupchat import GroupChat, SessionResult, participants_from_personas
from mnemos.memory_adapters import BaseMemoryAdapter

__all__ = ["BRAINSTORM_GRAPH", "brainstorm_chat", "finished_session", "run_session", "saved_settings"]

BRAINSTORM_GRAPH = "brainstorm"
"""What a brainstorm thread records as its graph (``mnemos_graph`` in the checkpoint metadata)."""


def brainstorm_chat(
    personas: str | Path | PersonaSet = "builtin",
    *,
    model: str | BaseChatModel | None = None,
    memory: BaseMemoryAdapter | None = None,
    rounds: int = 3,
) -> tuple[GroupChat, PersonaSet]:
    """A group chat of the persona set (a file, ``builtin[:NAME]`` or a loaded set) and the set.

    Its participants and its team memory use ``memory``; ``model`` is
    resolved as by :func:`~mnemos.agents.resolve_model` (the configured one
    when ``None``).
    """
    team = personas if isinstance(personas, PersonaSet) else load_personas(personas)
    members, moderator = participants_from_personas(team, model=model, memory=memory)
    chat = GroupChat(participants=members, moderator=moderator, team_memory=memory, team=team.team,
                     max_rounds=rounds)
    return chat, team


def run_session(
    chat: GroupChat,
    topic: str | None,
    *,
    thread_id: str,
    user_id: str = "default",
    checkpoints: str | Path | None = None,
    resume: bool = False,
    on_update: Callable[[str, dict[str, Any]], None] | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> SessionResult:
    """Run (or with ``resume``, continue) the session of ``thread_id``, checkpointed at ``checkpoints``.

    ``checkpoints`` is a location for :func:`~mnemos.graphs.open_checkpointer`
    (default: ``$MNEMOS_HOME/checkpoints.db``). ``on_update(node, update)``
    sees every graph step and ``on_event(event)`` every custom stream event
    (what a speaker recalls). A new session on a thread that has one, or
    ``resume`` with nothing to resume, is a :class:`~mnemos.exceptions.UsageError`
    raised before anything is run or stored. ``settings`` (the persona set,
    rounds, store and model a session was started with) are saved with every
    checkpoint, so that a resume, ``mnemos threads show`` and ``threads
    resume`` rebuild the same session (see :func:`saved_settings`).
    """
    from mnemos.graphs._runs import running
    from mnemos.graphs.checkpoint import open_checkpointer
    from mnemos.graphs.thread_owners import bind_threads_to_users

    saved = {f"mnemos_{k}": v for k, v in (settings or {}).items() if v is not None}
    config: Any = {"configurable": {"thread_id": thread_id, "user_id": user_id},
                   "metadata": {**saved, "mnemos_graph": BRAINSTORM_GRAPH, "mnemos_user": user_id,
                                "mnemos_rounds": chat.max_rounds}}
    with open_checkpointer(checkpoints) as saver, running(checkpoints, thread_id):
        graph = chat.compile(checkpointer=bind_threads_to_users(saver))
        for mode, chunk in chat.stream(graph, topic, config, resume=resume):
            if mode == "updates" and on_update is not None:
                for node, update in chunk.items():
                    on_update(node, update or {})
            elif mode == "custom" and on_event is not None:
                on_event(chunk)
        return SessionResult.from_state(graph.get_state(config).values, thread_id)


def finished_session(
    chat: GroupChat, *, thread_id: str, user_id: str = "default", checkpoints: str | Path | None = None,
) -> SessionResult | None:
    """The result of ``thread_id``'s session if it is finished (read from its checkpoints, as
    ``user_id``: another user's thread is refused as in :func:`run_session`), else None."""
    from mnemos.graphs._session import session_status
    from mnemos.graphs.checkpoint import open_checkpointer
    from mnemos.graphs.thread_owners import bind_threads_to_users

    config: Any = {"configurable": {"thread_id": thread_id, "user_id": user_id}}
    with open_checkpointer(checkpoints) as saver:
        graph = chat.compile(checkpointer=bind_threads_to_users(saver))
        snapshot = graph.get_state(config)
        if session_status(snapshot) != "finished":
            return None
        return SessionResult.from_state(snapshot.values, thread_id)


def saved_settings(checkpoints: str | Path | None, thread_id: str) -> dict[str, Any] | None:
    """What a brainstorm thread was started with (``personas``, ``rounds``, ``store``, ``model``,
    ``user``), or None if the thread is not a saved brainstorm."""
    from mnemos.graphs.checkpoint import open_checkpointer

    with open_checkpointer(checkpoints) as saver:
        latest = saver.get_tuple({"configurable": {"thread_id": thread_id}})
    if latest is None or (latest.metadata or {}).get("mnemos_graph") != BRAINSTORM_GRAPH:
        return None
    return settings_of(latest.metadata or {})


def settings_of(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The session settings in a brainstorm checkpoint's metadata."""
    keys = ("personas", "rounds", "store", "model", "user")
    return {k: metadata.get(f"mnemos_{k}") for k in keys}


def graph_for_thread(metadata: Mapping[str, Any], saver: Any) -> Any:
    """The compiled graph of a saved brainstorm (memory not opened: reading state needs none)."""
    settings = settings_of(metadata)
    chat, _ = brainstorm_chat(settings["personas"] or "builtin", model="offline",
                              rounds=int(settings["rounds"] or 3))
    return chat.compile(checkpointer=saver)
