"""Serving the MCP server over HTTP from one or several worker processes behind one port.

With one worker the server is stateful (MCP sessions, SSE priming and
resumption, the standalone SSE stream). With ``workers > 1`` uvicorn starts
that many processes on the same socket; each builds its own server from the
same :class:`ServeSettings` (passed in the environment), and they share the
memory store and the graph checkpoints through the database. The server is
then stateless: every request is complete on its own, so it does not matter
which worker accepts it (no session is pinned to a process), and one long
``brainstorm_run`` or ``graph_run`` occupies one worker while the others
keep answering.
"""

from __future__ import annotations

import atexit
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from mnemos.exceptions import ConfigurationError
from mnemos.tools._mcp_limits import Limits

__all__ = ["SETTINGS_ENV", "ServeSettings", "app_factory", "build_app", "serve_http"]

SETTINGS_ENV = "MNEMOS_MCP_WORKER_SETTINGS"
"""Environment variable carrying :class:`ServeSettings` (JSON) to the worker processes."""


@dataclass(kw_only=True)
class ServeSettings:
    """Everything a worker needs to build the same server."""

    store: str | None = None
    embedder: str | None = None
    tokens: dict[str, str] | None = None
    principal: str = "local"
    host: str = "127.0.0.1"
    port: int = 8765
    tools: list[str] = field(default_factory=list)
    graphs: list[str] = field(default_factory=list)
    extensions: list[str] = field(default_factory=list)
    entry_points: bool = True
    checkpoints: str | None = None
    log_level: str = "WARNING"
    limits: dict[str, Any] = field(default_factory=lambda: asdict(Limits()))
    authorization_server: str | None = None
    resource_url: str | None = None
    stateless: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeSettings:
        try:
            data: Mapping[str, Any] = json.loads(text)
            return cls(**data)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"bad {SETTINGS_ENV}: {exc}") from None


def build_app(settings: ServeSettings) -> tuple[Any, Any]:
    """The ASGI app of one server process and the memory it opened (close it when done)."""
    from mnemos.memory_adapters.registry import open_memory
    from mnemos.tools.graph_runner import GraphRegistry
    from mnemos.tools.mcp_server import build_server
    from mnemos.tools.registry import ToolRegistry, load_object

    registry = ToolRegistry()
    if settings.entry_points:
        registry.load_entry_points()
    for spec in settings.tools:
        registry.register_path(spec)
    graphs = GraphRegistry(checkpoint_path=settings.checkpoints)
    for spec in settings.graphs:
        graphs.register_spec(spec)
    extensions = [load_object(spec) for spec in settings.extensions]
    memory = open_memory(settings.store, embedder=settings.embedder)
    try:
        server = build_server(
            memory,
            registry,
            graphs,
            tokens=settings.tokens,
            principal=settings.principal,
            host=settings.host,
            port=settings.port,
            extensions=extensions,
            log_level=settings.log_level,  # type: ignore[arg-type]
            limits=Limits(**settings.limits),
            authorization_server=settings.authorization_server,
            resource_url=settings.resource_url,
            stateless=settings.stateless,
        )
        return server.streamable_http_app(), memory
    except BaseException:
        memory.close()
        raise


def app_factory() -> Any:
    """uvicorn's factory in each worker process: the server from ``$MNEMOS_MCP_WORKER_SETTINGS``."""
    text = os.environ.get(SETTINGS_ENV)
    if not text:
        raise ConfigurationError(f"{SETTINGS_ENV} is not set; start workers with `mnemos mcp serve --workers N`")
    app, memory = build_app(ServeSettings.from_json(text))
    atexit.register(memory.close)
    return app


def serve_http(settings: ServeSettings, *, workers: int = 1) -> None:
    """Serve over streamable HTTP on ``settings.host:port`` with ``workers`` processes (blocks)."""
    import uvicorn

    level = settings.log_level.lower()
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": level,
        "access_log": level == "debug",
        "timeout_graceful_shutdown": 5,
    }
    if workers <= 1:
        app, memory = build_app(settings)
        try:
            uvicorn.run(app, **common)
        finally:
            memory.close()
        return
    settings.stateless = True
    _, memory = build_app(settings)  # fail here, once, on a bad store, tool or graph
    memory.close()
    os.environ[SETTINGS_ENV] = settings.to_json()
    try:
        uvicorn.run("mnemos.tools._mcp_workers:app_factory", factory=True, workers=workers, **common)
    finally:
        os.environ.pop(SETTINGS_ENV, None)
