"""``mnemos memory ...``: add, search, list, get, delete, export, import, stats, purge."""

from __future__ import annotations

import typer

app = typer.Typer(help="Store, search and manage memories.", no_args_is_help=True)
