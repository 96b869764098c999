"""The web app: routes of every page, error pages, login, static files.

:func:`create_app` opens the store and the checkpointer once; the app closes
them when it shuts down (or call ``app.state.ctx`` resources' ``close``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from mnemos.exceptions import MemoryNotFoundError, MnemosError, ScopeViolationError, UsageError
from mnemos.ui import brainstorms, graphs, memory, threads
from mnemos.ui._runs import RunManager
from mnemos.ui._security import COOKIE, SecurityMiddleware, cookie_header
from mnemos.ui._threads import GraphCache
from mnemos.ui._web import redirect, render
from mnemos.ui.base import UIConfig, UIContext

__all__ = ["create_app"]

_STATIC = Path(__file__).parent / "static"


def _home(request: Request) -> Response:
    return redirect("/memory")


def _next(request: Request, value: str | None) -> str:
    target = value or "/memory"
    parts = urlsplit(target)
    # only a path on this site: never an absolute URL (an open redirect)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/memory"
    return target


async def _login(request: Request) -> Response:
    ctx: UIContext = request.app.state.ctx
    nxt = _next(request, request.query_params.get("next"))
    if not ctx.authenticated:
        return redirect(nxt)
    if request.method == "GET":
        return render(request, "login.html", next=nxt, failed=False)
    form = await request.form()
    token = str(form.get("token") or "").strip()
    nxt = _next(request, str(form.get("next") or ""))
    verifier = request.app.state.verifier
    if not token or await verifier.verify_token(token) is None:
        return render(request, "login.html", 401, next=nxt, failed=True)
    response = redirect(nxt)
    response.headers.append("set-cookie", cookie_header(token))
    return response


def _logout(request: Request) -> Response:
    response = redirect("/login")
    response.headers.append("set-cookie", f"{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict")
    return response


def _error(status: int, title: str) -> Any:
    def handler(request: Request, exc: Exception) -> Response:
        message = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        return render(request, "error.html", status, status=status, title=title, message=message)

    return handler


def create_app(config: UIConfig | None = None, **overrides: Any) -> Starlette:
    """The web UI as an ASGI app, over the store and checkpoints ``config`` names.

    Keyword arguments override fields of ``config`` (or of a default one).
    """
    from dataclasses import replace

    from mnemos.graphs.checkpoint import checkpointer_from_url, close_checkpointer
    from mnemos.memory_adapters.registry import open_memory

    config = replace(config or UIConfig(), **overrides)
    mem = open_memory(config.store, scope=tuple(config.scope), embedder=config.embedder)
    try:
        saver = checkpointer_from_url(config.checkpoints)
    except BaseException:
        mem.close()
        raise
    ctx = UIContext(config=config, memory=mem, saver=saver, graphs=GraphCache(saver), runs=RunManager(),
                    trees=memory.TreeCache())
    for spec in config.graphs:
        ctx.register_graph(spec)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            close_checkpointer(saver)
            mem.close()

    app = Starlette(
        routes=[
            Route("/", _home),
            Route("/login", _login, methods=["GET", "POST"]),
            Route("/logout", _logout, methods=["POST"]),
            *memory.routes,
            *threads.routes,
            *brainstorms.routes,
            *graphs.routes,
            Mount("/static", StaticFiles(directory=str(_STATIC)), name="static"),
        ],
        exception_handlers={
            MemoryNotFoundError: _error(404, "Not found"),
            LookupError: _error(404, "Not found"),
            ScopeViolationError: _error(403, "Outside your scope"),
            UsageError: _error(400, "Bad request"),
            MnemosError: _error(500, "Something failed"),
        },
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.add_middleware(SecurityMiddleware, loopback=config.loopback, tokens=config.tokens,
                       allowed_hosts=config.allowed_hosts)
    if config.tokens:
        from mnemos.tools._auth import StaticTokenVerifier

        app.state.verifier = StaticTokenVerifier(config.tokens)
    return app
