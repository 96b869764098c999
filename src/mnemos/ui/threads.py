"""Threads: saved graph and brainstorm runs, the step-by-step run, answers, resume, live updates.

========================================  =============================================
``GET  /threads``                         every thread with its status
``GET  /threads/{id}``                    a run step by step; the pending question
``GET  /threads/{id}/steps``              the same body alone (what the live view reloads)
``GET  /threads/{id}/events``             server-sent events: ``change`` when the thread moves
``POST /threads/{id}/answer``             answer the pending interrupt; the run resumes
``POST /threads/{id}/resume``             continue a run that stopped before the end
========================================  =============================================
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.types import Command
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from mnemos.exceptions import UsageError
from mnemos.graphs._runs import running
from mnemos.ui._runs import RunInfo
from mnemos.ui._threads import (
    BRAINSTORM,
    ThreadRow,
    find_thread,
    thread_config,
    thread_rows,
    thread_steps,
)
from mnemos.ui._web import BadRequest, context, principal, redirect, render
from mnemos.ui.base import UIContext

__all__ = ["routes", "start_run"]


def _row(request: Request) -> ThreadRow:
    ctx = context(request)
    user = ctx.user_filter(principal(request))
    thread = request.path_params["id"]
    try:
        row = find_thread(ctx.saver, thread, user, location=ctx.config.checkpoints, running=ctx.runs.active())
    except LookupError:
        info = ctx.runs.get(thread)  # a run the UI just started has no checkpoint yet
        if info is None or (user is not None and info.user != user):
            raise
        return ThreadRow(thread=thread, graph=info.graph, user=info.user, step=None, updated=None,
                         checkpoints=0, interrupted=False, status="running" if info.running else "saved")
    return row


def threads_page(request: Request) -> Response:
    ctx = context(request)
    kind = request.query_params.get("kind") or ""
    if kind not in ("", "graph", "brainstorm"):
        raise BadRequest(f"unknown thread kind {kind!r}: use graph or brainstorm")
    rows = thread_rows(ctx.saver, location=ctx.config.checkpoints, user=ctx.user_filter(principal(request)),
                       running=ctx.runs.active())
    for row in rows:
        if row.graph and row.graph != BRAINSTORM:
            ctx.register_graph(row.graph)
    if kind:
        rows = [r for r in rows if r.kind == kind]
    return render(request, "threads.html", rows=rows, kind=kind)


def _body(request: Request, row: ThreadRow) -> dict[str, Any]:
    ctx = context(request)
    info: RunInfo | None = ctx.runs.get(row.thread)
    data: dict[str, Any] = {"row": row, "run": info, "steps": [], "state": None, "error": None,
                            "interrupts": [], "graph_key": None}
    if not row.graph:
        data["error"] = "this thread does not record its graph, so its steps cannot be shown"
        return data
    data["graph_key"] = ctx.register_graph(row.graph)
    try:
        graph = ctx.graphs.get(row.graph, row.store)
        steps, state = thread_steps(graph, row)
    except UsageError as exc:
        data["error"] = str(exc)
        return data
    data.update(steps=steps, state=state, interrupts=[_interrupt(i) for i in state.interrupts])
    return data


def _interrupt(item: Any) -> dict[str, Any]:
    value = item.value
    if isinstance(value, dict) and value.get("type") == "approval":
        return {"id": item.id, "approval": True, "question": value.get("question", ""),
                "draft": value.get("draft", ""), "node": value.get("node", "")}
    return {"id": item.id, "approval": False, "question": json.dumps(value, ensure_ascii=False, default=str),
            "draft": "", "node": ""}


def thread_page(request: Request) -> Response:
    row = _row(request)
    if row.graph == BRAINSTORM:
        return redirect(f"/brainstorms/{row.thread}")
    return render(request, "threads_detail.html", **_body(request, row))


def steps_fragment(request: Request) -> Response:
    row = _row(request)
    return render(request, "threads_body.html", **_body(request, row))


def _fingerprint(ctx: UIContext, thread: str) -> str:
    latest = ctx.saver.get_tuple({"configurable": {"thread_id": thread}})
    checkpoint = latest.checkpoint.get("id") if latest is not None else None
    writes = len(latest.pending_writes or []) if latest is not None else 0
    return f"{checkpoint}:{writes}:{ctx.runs.version(thread)}"


async def events(request: Request) -> Response:
    """``change`` whenever the thread's latest checkpoint or the UI's run of it moves."""
    row = _row(request)
    ctx = context(request)
    limit = max(1.0, float(request.query_params.get("seconds") or 600))

    async def stream() -> AsyncIterator[str]:
        seen = await asyncio.to_thread(_fingerprint, ctx, row.thread)
        yield f"event: hello\ndata: {json.dumps({'thread': row.thread})}\n\n"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while loop.time() < deadline:
            if await request.is_disconnected():
                return
            await asyncio.sleep(ctx.config.poll_seconds)
            now = await asyncio.to_thread(_fingerprint, ctx, row.thread)
            if now != seen:
                seen = now
                running = ctx.runs.running(row.thread)
                yield f"event: change\ndata: {json.dumps({'thread': row.thread, 'running': running})}\n\n"
            else:
                yield ": keep-alive\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"cache-control": "no-store", "x-accel-buffering": "no"})


def _drive(ctx: UIContext, row: ThreadRow, graph_input: Any, info: RunInfo) -> None:
    graph = ctx.graphs.get(row.graph or "", row.store)
    config = {"configurable": {"thread_id": row.thread, "user_id": row.user or "default"},
              "metadata": {"mnemos_graph": row.graph, "mnemos_user": row.user or "default",
                           "mnemos_store": row.store or ""}}
    with running(ctx.config.checkpoints, row.thread):  # so `mnemos threads list` sees it running
        for _ in graph.stream(graph_input, config, stream_mode="updates"):
            ctx.runs.step(row.thread)


async def answer(request: Request) -> Response:
    row = _row(request)
    ctx = context(request)
    form = await request.form()
    text = str(form.get("answer") or "").strip()
    if not text:
        raise BadRequest("the answer is empty: write yes to approve, or your feedback")
    if row.graph == BRAINSTORM or not row.graph:
        raise BadRequest("this thread cannot be resumed from here")
    graph = ctx.graphs.get(row.graph, row.store)
    pending = list(graph.get_state(thread_config(row)).interrupts)
    if not pending:
        raise BadRequest(f"thread {row.thread!r} is not waiting for an answer")
    resume: Any = text if len(pending) == 1 else {i.id: text for i in pending}
    ctx.runs.start(row.thread, "answer", lambda info: _drive(ctx, row, Command(resume=resume), info),
                   graph=row.graph, user=row.user)
    return redirect(f"/threads/{row.thread}")


async def resume(request: Request) -> Response:
    row = _row(request)
    ctx = context(request)
    if row.status == "interrupted":
        raise BadRequest(f"thread {row.thread!r} waits for an answer; answer it instead")
    if row.status != "unfinished":
        raise BadRequest(f"thread {row.thread!r} has nothing left to run (status {row.status})")
    ctx.runs.start(row.thread, "resume", lambda info: _drive(ctx, row, None, info),
                   graph=row.graph, user=row.user)
    return redirect(f"/threads/{row.thread}")


def start_run(ctx: UIContext, spec: str, thread: str, user: str, text: str) -> RunInfo:
    """Start ``spec`` on a new thread with the user's message (the graph page's Run button)."""
    if ctx.saver.get_tuple({"configurable": {"thread_id": thread}}) is not None:
        raise BadRequest(f"thread {thread!r} exists already")
    row = ThreadRow(thread=thread, graph=spec, user=user, step=None, updated=None, checkpoints=0,
                    interrupted=False, store=None)
    graph_input = {"messages": [HumanMessage(text)]}
    return ctx.runs.start(thread, "run", lambda info: _drive(ctx, row, graph_input, info),
                          graph=spec, user=user)


routes = [
    Route("/threads", threads_page),
    Route("/threads/{id}", thread_page),
    Route("/threads/{id}/steps", steps_fragment),
    Route("/threads/{id}/events", events),
    Route("/threads/{id}/answer", answer, methods=["POST"]),
    Route("/threads/{id}/resume", resume, methods=["POST"]),
]
