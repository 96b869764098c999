"""What a brainstorm remembers between sessions, and what it recalls at the start of one.

- decided ideas go to the team namespace (``("teams", TEAM, "ideas")``) as
  semantic memories, ``metadata["status"]`` = ``"accepted"`` or ``"rejected"``;
- each participant writes one episode of the session in its own namespace;
- the lessons (do not re-propose a rejected idea) go to each participant's
  procedural memory as learned rules.

Every write is deterministic text, so a session resumed after a crash that
writes again stores nothing twice (the adapters dedup identical content).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mnemos.agents import Agent
from mnemos.memory_adapters import BaseMemoryAdapter, MemoryKind, Provenance

__all__ = ["recall_team", "team_namespace", "write_session"]


def team_namespace(team: str) -> tuple[str, ...]:
    """Where a team's decided ideas are kept."""
    return ("teams", team, "ideas")


def recall_team(memory: BaseMemoryAdapter | None, team: str, topic: str, *, limit: int = 8) -> dict[str, Any]:
    """Ideas decided in earlier sessions: those related to ``topic``, and every rejected one.

    ``{"accepted": [{"text", "topic", "id"}], "rejected": [...], "rejected_all": [text, ...]}``
    """
    out: dict[str, Any] = {"accepted": [], "rejected": [], "rejected_all": []}
    if memory is None:
        return out
    ns = team_namespace(team)
    for hit in memory.search(topic, namespace=ns, kinds=MemoryKind.SEMANTIC, limit=limit):
        meta = hit.record.metadata
        status = meta.get("status")
        if status in ("accepted", "rejected"):
            out[status].append({"id": hit.record.id, "text": meta.get("idea") or hit.record.content,
                                "topic": meta.get("topic", ""), "reason": meta.get("reason", "")})
    rejected = memory.list(namespace=ns, kinds=MemoryKind.SEMANTIC, filter={"status": "rejected"}, limit=None)
    out["rejected_all"] = [r.metadata.get("idea") or r.content for r in rejected]
    return out


def _reason(idea: Mapping[str, Any]) -> str:
    return idea["critiques"][0]["text"] if idea["critiques"] else f"score {sum(idea['votes'].values()):+d}"


def write_session(
    *,
    team_memory: BaseMemoryAdapter | None,
    team: str,
    agents: Sequence[Agent],
    topic: str,
    ledger: Mapping[str, Any],
    thread_id: str | None,
    user_id: str,
) -> list[dict[str, Any]]:
    """Write what the session decided and learned; return ``memory_write`` events."""
    events: list[dict[str, Any]] = []
    decided = [i for i in ledger["ideas"] if i["origin"] == "session" and i["status"] in ("accepted", "rejected")]
    if team_memory is not None:
        for idea in decided:
            record = team_memory.add(
                f"{idea['text']} ({idea['status']} in a brainstorm on: {topic})",
                namespace=team_namespace(team), kind=MemoryKind.SEMANTIC,
                metadata={"status": idea["status"], "idea": idea["text"], "topic": topic,
                          "author": idea["author"], "score": sum(idea["votes"].values()),
                          "reason": _reason(idea), "thread": thread_id},
                importance=0.8 if idea["status"] == "accepted" else 0.6,
                provenance=Provenance(agent=idea["author"], thread=thread_id, source="brainstorm"),
            )
            events.append({"event": "memory_write", "agent": "team", "kind": "semantic",
                           "id": record.id, "content": record.content, "supersedes": None})
    accepted = [i["text"] for i in decided if i["status"] == "accepted"]
    rejected = [i for i in decided if i["status"] == "rejected"]
    lessons = [f"Do not propose again, unless asked: {i['text']} (the team rejected it: {_reason(i)})"
               for i in rejected]
    for agent in agents:
        if agent.memory is None:
            continue
        own = [i["text"] for i in ledger["ideas"] if i["author"] == agent.name and i["origin"] == "session"]
        episode = (
            f"Brainstorm on: {topic}. I proposed: {'; '.join(own) or 'nothing'}. "
            f"Accepted: {'; '.join(accepted) or 'nothing'}. "
            f"Rejected: {'; '.join(i['text'] for i in rejected) or 'nothing'}."
        )
        record = agent.memory.add(
            episode, namespace=agent.namespace(user_id), kind=MemoryKind.EPISODIC,
            metadata={"agent": agent.name, "thread": thread_id, "user": user_id, "brainstorm": topic},
            importance=0.5, provenance=Provenance(agent=agent.name, thread=thread_id, source="brainstorm"),
        )
        events.append({"event": "memory_write", "agent": agent.name, "kind": "episodic",
                       "id": record.id, "content": record.content, "supersedes": None})
        if lessons:
            procedural = agent.procedural_memory(user_id)
            procedural.ensure(agent.instructions)
            version = procedural.add_rules(lessons, note=f"lessons of the brainstorm on: {topic}")
            if version is not None:
                events.append({"event": "memory_write", "agent": agent.name, "kind": "procedural",
                               "id": version.id, "content": "\n".join(lessons), "supersedes": None})
    return events
