"""A group-chat session's result and status: transcript, ledger and summary, as JSON or Markdown.

Re-exported by :mod:`mnemos.graphs.groupchat`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from langchain_core.messages import HumanMessage

from mnemos.graphs._ledger import empty_ledger, ledger_markdown
from mnemos.graphs._turn import REHEARSAL_NOTICE

__all__ = ["SessionResult", "session_status"]


@dataclass(kw_only=True, frozen=True)
class SessionResult:
    """A finished (or paused) session: transcript, ledger, summary and the prompts each speaker saw."""

    topic: str
    thread_id: str | None
    transcript: list[dict[str, Any]]
    ledger: dict[str, Any]
    summary: str
    stop_reason: str
    prompts: list[dict[str, Any]]
    recalled: dict[str, Any]
    notes: list[str]

    @classmethod
    def from_state(cls, state: Mapping[str, Any], thread_id: str | None = None) -> SessionResult:
        """Read a result out of a graph state."""
        transcript = [
            {"speaker": (m.name or ("user" if isinstance(m, HumanMessage) else "assistant")),
             "round": (m.additional_kwargs or {}).get("round", 0), "text": m.text}
            for m in state.get("messages", [])
        ]
        return cls(topic=state.get("topic", ""), thread_id=thread_id, transcript=transcript,
                   ledger=dict(state.get("ledger") or empty_ledger()), summary=state.get("summary", ""),
                   stop_reason=state.get("stop_reason", ""), prompts=list(state.get("prompts", [])),
                   recalled=dict(state.get("recalled") or {}), notes=list(state.get("notes", [])))

    @property
    def ideas(self) -> list[dict[str, Any]]:
        """The ledger's ideas."""
        return list(self.ledger.get("ideas", []))

    @property
    def rehearsal(self) -> bool:
        """Whether the session was a rehearsal on the offline model (placeholders, nothing stored)."""
        return bool(self.ledger.get("rehearsal"))

    def transcript_json(self) -> dict[str, Any]:
        """Transcript, summary, recalled memories and every speaker's prompt, as JSON data."""
        return {"topic": self.topic, "thread_id": self.thread_id, "stop_reason": self.stop_reason,
                "rehearsal": self.rehearsal, "summary": self.summary, "recalled": self.recalled, "transcript": self.transcript,
                "prompts": self.prompts, "notes": self.notes}

    def ideas_json(self) -> dict[str, Any]:
        """The ledger as JSON data."""
        return {"topic": self.topic, "thread_id": self.thread_id, **self.ledger}

    def transcript_markdown(self, *, prompts: bool = False) -> str:
        """The transcript as Markdown (with each speaker's prompt when ``prompts``)."""
        lines = [f"# Brainstorm: {self.topic}", ""]
        if self.thread_id:
            lines += [f"Thread `{self.thread_id}` · stopped by {self.stop_reason or 'nothing yet'}", ""]
        by_turn = {(p["speaker"], p["turn"]): p for p in self.prompts}
        turn = 0
        for entry in self.transcript:
            speaker = entry["speaker"]
            lines.append(f"**{speaker}**" + (f" (round {entry['round']})" if entry["round"] else "") + ":")
            lines += ["", entry["text"], ""]
            if speaker not in ("user", "chair") and entry["round"]:
                turn += 1
                seen = by_turn.get((speaker, turn))
                if prompts and seen:
                    body = "\n\n".join(f"[{m['role']}] {m['content']}" for m in seen["messages"])
                    lines += ["<details><summary>prompt "
                              f"({seen['tokens']}/{seen['budget']} tokens)</summary>", "", "```text",
                              body, "```", "</details>", ""]
        if self.summary:
            lines += ["## Summary", "", self.summary, ""]
        return "\n".join(lines)

    def ideas_markdown(self) -> str:
        """The ledger as Markdown."""
        note = f"{REHEARSAL_NOTICE}\n\n" if self.rehearsal else ""
        return f"# Ideas: {self.topic}\n\n{note}{ledger_markdown(self.ledger)}\n"

    def to_markdown(self) -> str:
        """Transcript and ledger in one Markdown document."""
        return self.transcript_markdown() + "\n## Ideas\n\n" + ledger_markdown(self.ledger) + "\n"

    def write(self, directory: str | Path, *, prompts: bool = False) -> list[Path]:
        """Write ``transcript.md``, ``transcript.json``, ``ideas.md`` and ``ideas.json`` into ``directory``."""
        out = Path(directory).expanduser()
        out.mkdir(parents=True, exist_ok=True)
        files = {
            "transcript.md": self.transcript_markdown(prompts=prompts),
            "transcript.json": json.dumps(self.transcript_json(), indent=2, ensure_ascii=False, default=str),
            "ideas.md": self.ideas_markdown(),
            "ideas.json": json.dumps(self.ideas_json(), indent=2, ensure_ascii=False, default=str),
        }
        written = []
        for name, text in files.items():
            (out / name).write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
            written.append(out / name)
        return written



def session_status(snapshot: Any) -> Literal["new", "finished", "interrupted"]:
    """Where a thread's session stands, from ``graph.get_state(config)``.

    ``snapshot.next`` alone cannot tell: a process killed after a turn's
    writes were saved but before the next checkpoint leaves a checkpoint
    whose task already has its writes, so ``next`` is empty although the
    session is not over. Such a task is still listed in ``snapshot.tasks``;
    running the graph on ``None`` applies its writes and goes on.
    """
    if not snapshot.values and not snapshot.next and not snapshot.tasks:
        return "new"
    if snapshot.next or snapshot.tasks:
        return "interrupted"
    return "finished"
