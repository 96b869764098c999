"""What a brainstorm remembers between sessions, and what it recalls at the start of one.

- decided ideas go to the team namespace (``("teams", TEAM, "ideas")``) as
  semantic memories, ``metadata["status"]`` = ``"accepted"`` or ``"rejected"``;
- each participant writes one episode of the session in its own namespace;
- the lessons (do not re-propose a rejected idea) go to each participant's
  procedural memory as learned rules.

Every write is deterministic text, so a session resumed after a crash that
writes again stores nothing twice (the adapters dedup identical content).
Ideas are also deduplicated by meaning, crudely: an idea whose normalised text
is the same as, or a near duplicate of (:func:`~mnemos.graphs._ledger.similar`),
one the team already holds with the same status is not written again, and
near duplicates are recalled once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mnemos.agents import Agent
from mnemos.graphs._ledger import similar
from mnemos.graphs._turn import normalize
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
    for hit in memory.search(topic, namespace=ns, kinds=MemoryKind.SEMANTIC, limit=limit * 2):
        meta = hit.record.metadata
        status = meta.get("status")
        text = meta.get("idea") or hit.record.content
        if status not in ("accepted", "rejected") or meta.get("rehearsal") or len(out[status]) >= limit:
            continue
        if _known(text, [i["text"] for i in out[status]]):
            continue
        out[status].append({"id": hit.record.id, "text": text,
                            "topic": meta.get("topic", ""), "reason": meta.get("reason", "")})
    rejected = memory.list(namespace=ns, kinds=MemoryKind.SEMANTIC, filter={"status": "rejected"}, limit=None)
    for r in rejected:
        text = r.metadata.get("idea") or r.content
        if not r.metadata.get("rehearsal") and not _known(text, out["rejected_all"]):
            out["rejected_all"].append(text)
    return out


def _known(text: str, texts: Sequence[str]) -> bool:
    """Whether ``text`` is, once normalised, the same as or a near duplicate of one of ``texts``."""
    mine = normalize(text)
    return any(mine == normalize(t) or similar(text, t) for t in texts)


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
        held: dict[str, list[str]] = {"accepted": [], "rejected": []}
        for status in held:
            held[status] = [r.metadata.get("idea") or r.content for r in team_memory.list(
                namespace=team_namespace(team), kinds=MemoryKind.SEMANTIC, filter={"status": status}, limit=None)]
        for idea in decided:
            if _known(idea["text"], held[idea["status"]]):
                continue  # the team holds it already (this session recalled it, or repeated it)
            held[idea["status"]].append(idea["text"])
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
