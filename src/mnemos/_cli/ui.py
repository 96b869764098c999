"""``mnemos ui``: the local web app over the configured store and checkpoints.

Bound to 127.0.0.1 unless told otherwise. Bound anywhere else, it requires
bearer tokens (``--tokens FILE`` or ``MNEMOS_MCP_TOKENS``, as ``mnemos mcp
serve``) and each principal sees its own memory and threads.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from mnemos._cli._common import reported, stderr
from mnemos.exceptions import ConfigurationError

__all__ = ["register", "ui"]


def ui(
    host: Annotated[str, typer.Option("--host", help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="Port.")] = 8765,
    store: Annotated[str | None, typer.Option("--store", metavar="URL", envvar="MNEMOS_STORE",
                                              help="Memory store (default: the configured one).")] = None,
    checkpoints: Annotated[str | None, typer.Option("--checkpoints", metavar="URL",
                                                    help="Where threads are saved (default: MNEMOS_CHECKPOINTS, "
                                                         "else $MNEMOS_HOME/checkpoints.db).")] = None,
    embedder: Annotated[str | None, typer.Option("--embedder", envvar="MNEMOS_EMBEDDER", metavar="SPEC",
                                                 help="Embedder the store was built with.")] = None,
    graph: Annotated[list[str] | None, typer.Option("--graph", "-g", metavar="MODULE:GRAPH",
                                                    help="A graph to show and run (repeatable).")] = None,
    tokens: Annotated[Path | None, typer.Option("--tokens", metavar="FILE",
                                                help="Bearer tokens (required off loopback; also MNEMOS_MCP_TOKENS).")] = None,
    scope: Annotated[str, typer.Option("--scope", metavar="NAMESPACE",
                                       help="Show only this namespace and what is under it.")] = "",
    brainstorms: Annotated[Path | None, typer.Option("--brainstorms", metavar="DIR",
                                                     help="Folder of written brainstorms (default: $MNEMOS_HOME/brainstorms).")] = None,
    allow_host: Annotated[list[str] | None, typer.Option("--allow-host", metavar="NAME",
                                                         help="Another Host name to accept on loopback (repeatable).")] = None,
) -> None:
    """Open the web UI: memory browser, threads, brainstorms and graph pictures."""
    from mnemos.memory_adapters._namespace import parse_namespace
    from mnemos.tools._auth import load_tokens
    from mnemos.ui import UIConfig, create_app
    from mnemos.ui._security import is_loopback

    try:
        import uvicorn
    except ImportError:
        from mnemos.exceptions import MissingExtraError

        raise MissingExtraError("ui", "uvicorn", "The web UI") from None
    loopback = is_loopback(host)
    table = load_tokens(tokens) if (tokens is not None or not loopback) else None
    if not loopback and not table:
        raise ConfigurationError(
            f"--host {host} is not a loopback address: pass --tokens FILE or set MNEMOS_MCP_TOKENS "
            "so that only holders of a token can see the memory"
        )
    if store:  # graph modules the UI loads open their memory from MNEMOS_STORE, as with mnemos run
        os.environ["MNEMOS_STORE"] = store
    config = UIConfig(store=store, checkpoints=checkpoints, embedder=embedder, graphs=tuple(graph or ()),
                      brainstorms_dir=brainstorms, tokens=table or None, loopback=loopback,
                      allowed_hosts=frozenset(allow_host or ()), scope=parse_namespace(scope))
    app = create_app(config)
    shown = f"[{host}]" if ":" in host else host
    auth = f"tokens for {len(set(table.values()))} principal(s)" if table else "no login (loopback only)"
    stderr().print(f"mnemos ui on http://{shown}:{port}/ · {auth} · Ctrl+C to stop", highlight=False)
    # open live views (server-sent events) must not hold a Ctrl+C for long
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3)


def register(app: typer.Typer) -> None:
    """Add ``ui`` to the root command."""
    app.command("ui")(reported(ui))
