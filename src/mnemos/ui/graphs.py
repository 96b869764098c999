"""Graphs: the ones the UI was given and the ones threads ran, drawn, checked, and run.

========================================  =============================================
``GET  /graphs``                          the known graphs
``GET  /graphs/{key}``                    topology picture, check report, Mermaid text
``POST /graphs/{key}/run``                start a run on a new thread (then watch it live)
========================================  =============================================

A graph is addressed by a short key of its ``MODULE:GRAPH`` spec; a URL never
names a module to import.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mnemos.ui._svg import topology_svg
from mnemos.ui._threads import BRAINSTORM, thread_rows
from mnemos.ui._web import BadRequest, context, principal, redirect, render
from mnemos.ui.threads import start_run

__all__ = ["routes"]

_THREAD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _known(request: Request) -> dict[str, str]:
    ctx = context(request)
    for row in thread_rows(ctx.saver, location=ctx.config.checkpoints, user=ctx.user_filter(principal(request))):
        if row.graph and row.graph != BRAINSTORM:
            ctx.register_graph(row.graph)
    return dict(ctx.graph_specs)


def _shape(spec: str) -> Any:
    from langgraph.graph import StateGraph
    from langgraph.graph.state import CompiledStateGraph

    from mnemos.graphs.builder import GraphBuilder
    from mnemos.graphs.loading import load_target

    obj = load_target(spec)
    if not isinstance(obj, (GraphBuilder, StateGraph, CompiledStateGraph)) and callable(obj):
        obj = obj()
    return obj


def graphs_page(request: Request) -> Response:
    specs = _known(request)
    return render(request, "graphs.html", graphs=sorted(specs.items(), key=lambda kv: kv[1]))


def _spec(request: Request) -> str:
    specs = _known(request)
    key = request.path_params["key"]
    if key not in specs:
        raise LookupError(f"no graph {key!r} here; the graphs page lists the known ones")
    return specs[key]


def graph_page(request: Request) -> Response:
    from mnemos.graphs.render import to_mermaid
    from mnemos.graphs.topology import analyze, to_networkx

    spec = _spec(request)
    try:
        shape = _shape(spec)
    except Exception as exc:
        raise BadRequest(f"cannot load graph {spec}: {type(exc).__name__}: {exc}") from None
    name = spec.rpartition(":")[2]
    report = analyze(shape, name=name)
    return render(request, "graphs_detail.html", spec=spec, key=request.path_params["key"], name=name,
                  svg=topology_svg(to_networkx(shape), title=name), report=report,
                  mermaid=to_mermaid(shape), thread=f"ui-{uuid.uuid4().hex[:10]}")


async def run(request: Request) -> Response:
    ctx = context(request)
    spec = _spec(request)
    form = await request.form()
    text = str(form.get("input") or "").strip()
    if not text:
        raise BadRequest("the input message is empty")
    thread = str(form.get("thread") or f"ui-{uuid.uuid4().hex[:10]}").strip()
    if not _THREAD_ID.match(thread):
        raise BadRequest(f"bad thread id {thread!r}: letters, digits, '.', '_' and '-'")
    user = principal(request) if ctx.authenticated else str(form.get("user") or "default").strip()
    if not user or "/" in user:
        raise BadRequest(f"bad user {user!r}")
    start_run(ctx, spec, thread, user, text)
    return redirect(f"/threads/{thread}")


routes = [
    Route("/graphs", graphs_page),
    Route("/graphs/{key}", graph_page),
    Route("/graphs/{key}/run", run, methods=["POST"]),
]
