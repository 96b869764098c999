"""``mnemos memory ingest`` (documents as semantic memory) and ``mnemos memory consolidate``.

Kept apart from :mod:`mnemos._cli.memory` and added to its group by
:func:`register`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mnemos._cli._common import print_json, progress, stderr, stdout
from mnemos._cli.memory import EmbedderOpt, JsonOpt, StoreOpt, _opened
from mnemos.memory_adapters._namespace import parse_namespace

__all__ = ["register"]


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (Markdown, text, HTML, PDF).")],
    ns: Annotated[
        str, typer.Option("--ns", metavar="NAMESPACE", help="Namespace of the chunks.")
    ] = "documents",
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=100, help="Longest chunk, in characters.")
    ] = 1200,
    overlap: Annotated[
        int, typer.Option("--overlap", min=0, help="Characters shared by neighbouring chunks.")
    ] = 150,
    store: StoreOpt = None,
    embedder: EmbedderOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Store documents as semantic memory, one memory per section-aware chunk.

    A file already ingested and unchanged is skipped; a changed one has its
    chunks replaced. Search them with --filter source=PATH or section=...
    """
    from mnemos.memory_adapters.documents import ingest_paths

    namespace = parse_namespace(ns, allow_empty=False)
    with _opened(store, embedder) as memory, progress("ingesting") as bar:
        task = bar.add_task("files", total=None)
        report = ingest_paths(
            memory,
            paths,
            namespace=namespace,
            chunk_size=chunk_size,
            overlap=overlap,
            on_file=lambda _: bar.advance(task),
        )
    if as_json:
        print_json(report.to_dict())
        return
    table = Table()
    table.add_column("source", overflow="fold")
    table.add_column("title", overflow="fold")
    table.add_column("status")
    table.add_column("chunks", justify="right")
    for f in report.files:
        table.add_row(f.source, f.title, f.status, str(f.chunks))
    stdout().print(table)
    stderr().print(
        f"{report.count('added')} added, {report.count('replaced')} replaced, "
        f"{report.count('skipped')} unchanged; {report.chunks_added} chunks stored, "
        f"{report.chunks_deleted} old chunks deleted in {report.seconds:.2f} s"
    )


def register(memory_app: typer.Typer) -> None:
    """Add ``ingest`` to the ``mnemos memory`` group."""
    memory_app.command("ingest")(ingest)
