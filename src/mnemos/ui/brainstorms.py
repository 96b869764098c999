"""Brainstorms: every session, its transcript per round, the idea ledger, what it recalled.

========================================  =============================================
``GET  /brainstorms``                     sessions (checkpointed ones and written ones)
``GET  /brainstorms/{id}``                transcript by round, ledger, recalled, summary
``GET  /brainstorms/{id}/body``           the same body alone (what the live view reloads)
``POST /brainstorms/{id}/resume``         continue an unfinished session with the settings it was started with
========================================  =============================================

A session on the LangGraph engine is read from the checkpointer; one that
was only written to disk (``transcript.json`` and ``ideas.json``, e.g. the
AutoGen engine's) is read from the brainstorms folder.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mnemos.ui._runs import RunInfo
from mnemos.ui._threads import BRAINSTORM, ThreadRow, brainstorm_state, find_thread, thread_rows
from mnemos.ui._web import BadRequest, context, principal, redirect, render
from mnemos.ui.base import UIContext

__all__ = ["routes"]

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def _files(directory: Path) -> dict[str, dict[str, Any]]:
    """Sessions written to ``directory/<thread>/{transcript,ideas}.json``."""
    found: dict[str, dict[str, Any]] = {}
    if not directory.is_dir():
        return found
    for sub in sorted(directory.iterdir()):
        transcript = sub / "transcript.json"
        if sub.is_dir() and transcript.is_file() and _SAFE_ID.match(sub.name):
            found[sub.name] = {"dir": sub, "mtime": transcript.stat().st_mtime}
    return found


def brainstorms_page(request: Request) -> Response:
    ctx = context(request)
    user = ctx.user_filter(principal(request))
    rows = [r for r in thread_rows(ctx.saver, location=ctx.config.checkpoints, user=user,
                                       running=ctx.runs.active())
            if r.graph == BRAINSTORM]
    sessions = []
    for r in rows:
        values = brainstorm_state(ctx.saver, r.thread)
        ledger = values.get("ledger") or {}
        sessions.append({"thread": r.thread, "topic": values.get("topic", ""), "status": r.status,
                         "updated": r.updated, "user": r.user, "ideas": len(ledger.get("ideas", [])),
                         "accepted": sum(1 for i in ledger.get("ideas", []) if i.get("status") == "accepted"),
                         "source": "checkpoints"})
    if user is None:  # files carry no owner: shown only to the local user
        known = {s["thread"] for s in sessions}
        for thread, info in _files(ctx.brainstorms_dir()).items():
            if thread in known:
                continue
            data = _from_files(info["dir"])
            sessions.append({"thread": thread, "topic": data["topic"], "status": "finished" if data["stop_reason"] else "saved",
                             "updated": None, "user": None, "ideas": len(data["ideas"]),
                             "accepted": sum(1 for i in data["ideas"] if i.get("status") == "accepted"),
                             "source": "files"})
    return render(request, "brainstorms.html", sessions=sessions)


def _from_files(directory: Path) -> dict[str, Any]:
    try:
        transcript = json.loads((directory / "transcript.json").read_text(encoding="utf-8"))
        ideas_path = directory / "ideas.json"
        ideas = json.loads(ideas_path.read_text(encoding="utf-8")) if ideas_path.is_file() else {}
    except (OSError, ValueError) as exc:
        raise BadRequest(f"cannot read the brainstorm in {directory.name}: {exc}") from None
    return {"topic": transcript.get("topic", ""), "summary": transcript.get("summary", ""),
            "stop_reason": transcript.get("stop_reason", ""), "recalled": transcript.get("recalled") or {},
            "transcript": transcript.get("transcript") or [], "ideas": ideas.get("ideas") or [],
            "dropped": ideas.get("dropped") or [], "notes": transcript.get("notes") or [],
            "rehearsal": bool(ideas.get("rehearsal"))}


def _from_state(values: dict[str, Any]) -> dict[str, Any]:
    transcript = []
    for m in values.get("messages") or []:
        if isinstance(m, BaseMessage):
            speaker = m.name or ("user" if isinstance(m, HumanMessage) else "assistant")
            transcript.append({"speaker": speaker, "round": (m.additional_kwargs or {}).get("round", 0),
                               "text": m.text})
    ledger = values.get("ledger") or {}
    return {"topic": values.get("topic", ""), "summary": values.get("summary", ""),
            "stop_reason": values.get("stop_reason", ""), "recalled": values.get("recalled") or {},
            "transcript": transcript, "ideas": ledger.get("ideas") or [],
            "dropped": ledger.get("dropped") or [], "notes": values.get("notes") or [],
            "rehearsal": bool(ledger.get("rehearsal")),
            "trace": [e for e in values.get("memory_trace") or [] if isinstance(e, dict)]}


def _session(request: Request) -> dict[str, Any]:
    ctx = context(request)
    thread = request.path_params["id"]
    user = ctx.user_filter(principal(request))
    try:
        row = find_thread(ctx.saver, thread, user, location=ctx.config.checkpoints, running=ctx.runs.active())
    except LookupError:
        files = _files(ctx.brainstorms_dir()) if user is None else {}
        if thread not in files:
            raise
        data = _from_files(files[thread]["dir"])
        data.update(thread=thread, status="finished" if data["stop_reason"] else "saved", source="files")
    else:
        if row.graph != BRAINSTORM:
            raise LookupError(f"thread {thread!r} is not a brainstorm")
        data = _from_state(brainstorm_state(ctx.saver, thread))
        data.update(thread=thread, status=row.status, source="checkpoints", user=row.user)
    rounds: dict[int, list[dict[str, Any]]] = {}
    for entry in data["transcript"]:
        rounds.setdefault(int(entry.get("round") or 0), []).append(entry)
    data["rounds"] = sorted(rounds.items())
    data["recalls"] = [e for e in data.get("trace", []) if e.get("event") == "recall" and e.get("memories")]
    data["writes"] = [e for e in data.get("trace", []) if e.get("event") == "memory_write"]
    for idea in data["ideas"]:
        idea["score"] = sum(int(v) for v in (idea.get("votes") or {}).values())
    return data


def brainstorm_page(request: Request) -> Response:
    return render(request, "brainstorms_detail.html", s=_session(request))


def brainstorm_body(request: Request) -> Response:
    return render(request, "brainstorms_body.html", s=_session(request))


def _continue(ctx: UIContext, row: ThreadRow, info: RunInfo) -> None:
    """Run the rest of a session as ``mnemos brainstorm --resume`` would: its saved persona set,
    rounds, store and model."""
    from mnemos.graphs.brainstorm import brainstorm_chat, run_session, settings_of
    from mnemos.memory_adapters.registry import open_memory

    latest = ctx.saver.get_tuple({"configurable": {"thread_id": row.thread}})
    settings = settings_of(latest.metadata or {}) if latest is not None else {}
    memory = open_memory(settings.get("store") or ctx.config.store, embedder=ctx.config.embedder)
    try:
        chat, _ = brainstorm_chat(settings.get("personas") or "builtin", model=settings.get("model") or None,
                                  memory=memory, rounds=int(settings.get("rounds") or 3))
        run_session(chat, None, thread_id=row.thread, user_id=row.user or "default",
                    checkpoints=ctx.config.checkpoints, resume=True,
                    on_update=lambda node, update: ctx.runs.step(row.thread),
                    settings={k: v for k, v in settings.items() if k != "user"})
    finally:
        memory.close()


async def resume(request: Request) -> Response:
    ctx = context(request)
    thread = request.path_params["id"]
    row = find_thread(ctx.saver, thread, ctx.user_filter(principal(request)), location=ctx.config.checkpoints,
                      running=ctx.runs.active())
    if row.graph != BRAINSTORM:
        raise LookupError(f"thread {thread!r} is not a brainstorm")
    if row.status == "running":
        raise BadRequest(f"the session {thread!r} is running already")
    if row.status != "unfinished":
        raise BadRequest(f"the session {thread!r} has nothing left to run (status {row.status})")
    ctx.runs.start(thread, "resume", lambda info: _continue(ctx, row, info), graph=BRAINSTORM, user=row.user)
    return redirect(f"/brainstorms/{thread}")


routes = [
    Route("/brainstorms", brainstorms_page),
    Route("/brainstorms/{id}", brainstorm_page),
    Route("/brainstorms/{id}/body", brainstorm_body),
    Route("/brainstorms/{id}/resume", resume, methods=["POST"]),
]
