"""The ``mnemos`` command line.

Each command group lives in its own module under ``mnemos._cli`` and is added
here; heavy imports happen inside the commands, so ``mnemos --help`` is quick.
"""

from __future__ import annotations

import typer

from mnemos import __version__
from mnemos._cli._common import MnemosGroup

app = typer.Typer(
    cls=MnemosGroup,
    name="mnemos",
    help="Multi-agent systems whose agents remember.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mnemos {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """mnemos: agent graphs, memory, brainstorming and MCP."""


def _register() -> None:
    from mnemos._cli import memory, memory_migrate

    memory_migrate.register(memory.app)
    app.add_typer(memory.app, name="memory")
    from mnemos._cli import documents

    documents.register(memory.app)
    # further command groups are registered below
    from mnemos._cli import mcp

    app.add_typer(mcp.app, name="mcp")
    from mnemos._cli import graphs

    graphs.register(app)
    from mnemos._cli import brainstorm

    brainstorm.register(app)
    from mnemos._cli import eval as eval_cli

    eval_cli.register(app)
    from mnemos._cli import chat

    chat.register(app)
    from mnemos._cli import ui

    ui.register(app)


_register()


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
