"""``mnemos memory migrate SRC DST``: copy a store into another (e.g. native to postgres)."""

from __future__ import annotations

from typing import Annotated

import typer

from mnemos._cli._common import print_json, progress
from mnemos.memory_adapters._namespace import format_namespace, parse_namespace

__all__ = ["migrate", "register"]


def migrate(
    src: Annotated[str, typer.Argument(metavar="SRC", help="Source store URL or path (native:///a.db, postgresql://...).")],
    dst: Annotated[str, typer.Argument(metavar="DST", help="Destination store URL or path.")],
    ns: Annotated[
        str, typer.Option("--ns", metavar="NAMESPACE", help="Only this namespace prefix (default: all).")
    ] = "",
    embedder: Annotated[
        str | None,
        typer.Option("--embedder", metavar="SPEC", show_default=False,
                     help="Embedder of the source store (default: the one it recorded); the "
                          "destination uses the same one."),
    ] = None,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Records per transaction.")] = 500,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document (for scripts).")] = False,
) -> None:
    """Copy every memory (ids, timestamps, versions, history, relations) from SRC to DST.

    Each batch is one transaction in DST; run the same command again after an
    interruption and it skips what was already copied.
    """
    from mnemos.memory_adapters._migrate import migrate_store
    from mnemos.memory_adapters.registry import open_memory

    prefix = parse_namespace(ns, allow_empty=True)
    source = open_memory(src, embedder=embedder)
    try:
        spec = embedder or getattr(getattr(source, "embedder", None), "name", None)
        target = open_memory(dst, embedder=spec)
        try:
            with progress("migrating") as bar:
                task = bar.add_task("migrating", total=None)

                def on_progress(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                result = migrate_store(source, target, namespace=prefix, batch_size=batch,
                                       on_progress=on_progress)
        finally:
            target.close()
    finally:
        source.close()
    if as_json:
        print_json(result.to_dict())
        return
    typer.echo(
        f"copied {result.copied} of {result.total} memories under {format_namespace(prefix)} "
        f"({result.skipped} already there), {result.history} earlier versions, "
        f"{result.relations} relations"
    )
    for note in result.notes:
        typer.echo(f"note: {note}")


def register(app: typer.Typer) -> None:
    """Add ``migrate`` to the ``mnemos memory`` command group."""
    app.command("migrate")(migrate)
