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
from mnemos.memory_adapters.base import MemoryKind

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


def consolidate(
    ns: Annotated[
        str, typer.Option("--ns", metavar="NAMESPACE", help="Namespace prefix (default: all).")
    ] = "",
    kind: Annotated[
        list[MemoryKind] | None,
        typer.Option("--kind", metavar="KIND", help="episodic or semantic (repeatable; default both).",
                     show_default=False),
    ] = None,
    threshold: Annotated[
        float, typer.Option("--threshold", min=0.01, max=1.0, help="Word similarity that makes near-duplicates.")
    ] = 0.8,
    decay_after: Annotated[
        float | None,
        typer.Option("--decay-after", metavar="DAYS", help="Decay memories unused for this many days."),
    ] = 30.0,
    no_decay: Annotated[bool, typer.Option("--no-decay", help="Leave importance alone.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be merged; change nothing.")] = False,
    undo: Annotated[
        str | None, typer.Option("--undo", metavar="ID", help="Undo the merges into this memory.")
    ] = None,
    store: StoreOpt = None,
    embedder: EmbedderOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Merge near-duplicate memories (originals kept, reversible) and decay unused ones."""
    from mnemos.memory_adapters.consolidation import consolidate as run
    from mnemos.memory_adapters.consolidation import unmerge

    with _opened(store, embedder) as memory:
        if undo is not None:
            restored = unmerge(memory, undo)
            if as_json:
                print_json({"survivor": undo, "restored": restored})
            else:
                stdout().print(f"restored {len(restored)} memories merged into {undo}")
            return
        report = run(
            memory,
            parse_namespace(ns, allow_empty=True),
            kinds=kind or (MemoryKind.EPISODIC, MemoryKind.SEMANTIC),
            threshold=threshold,
            decay_after_days=None if no_decay else decay_after,
            dry_run=dry_run,
        )
    if as_json:
        print_json(report.to_dict())
        return
    if report.merges:
        table = Table(title="would merge" if dry_run else "merged")
        table.add_column("kept (survivor)", overflow="fold")
        table.add_column("merged into it", justify="right")
        table.add_column("content", ratio=3)
        for merge in report.merges:
            table.add_row(merge.survivor, str(len(merge.merged)), merge.content[:160])
        stdout().print(table)
    verb = "would merge" if dry_run else "merged"
    stderr().print(
        f"{report.examined} memories examined; {verb} {report.merged} near-duplicates into "
        f"{len(report.merges)}; {report.decayed} unused memories "
        f"{'would decay' if dry_run else 'decayed'}. Undo a merge: mnemos memory consolidate --undo ID"
    )


def register(memory_app: typer.Typer) -> None:
    """Add ``ingest`` and ``consolidate`` to the ``mnemos memory`` group."""
    memory_app.command("ingest")(ingest)
    memory_app.command("consolidate")(consolidate)
