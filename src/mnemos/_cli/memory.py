"""``mnemos memory ...``: add, search, list, get, delete, erase, export, import, stats, purge, reembed.

Every command opens the store named by ``--store`` (or ``MNEMOS_STORE``, the
config file, then ``$MNEMOS_HOME/memory.db``), prints something readable, or
exactly one JSON document with ``--json``. Mistakes exit with code 2 and one
``error:`` line; failures of correct work exit with code 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.table import Table
from rich.text import Text

from mnemos._cli._common import (
    MnemosGroup,
    compact_reasons,
    hit_to_json,
    parse_datetime,
    parse_duration,
    parse_key_values,
    print_json,
    progress,
    stderr,
    stdout,
)
from mnemos.exceptions import UsageError
from mnemos.memory_adapters._namespace import format_namespace, parse_namespace, validate_namespace
from mnemos.memory_adapters.base import BaseMemoryAdapter, MemoryKind, MemoryRecord

__all__ = ["app"]

app = typer.Typer(
    cls=MnemosGroup,
    help="Store, search and manage memories.",
    no_args_is_help=True,
)

# --- options shared by the commands ---------------------------------------------------

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar="MNEMOS_STORE",
        show_default=False,
        metavar="URL_OR_PATH",
        help="Memory store: native:///abs/path.db or a file path (default: $MNEMOS_HOME/memory.db).",
    ),
]
EmbedderOpt = Annotated[
    str | None,
    typer.Option(
        "--embedder",
        envvar="MNEMOS_EMBEDDER",
        show_default=False,
        metavar="SPEC",
        help="Embedder the store was built with: hashing (default) or st:all-MiniLM-L6-v2.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document (for scripts).")]
NsPrefixOpt = Annotated[
    str,
    typer.Option("--ns", metavar="NAMESPACE", help="Namespace prefix, e.g. users/alice (default: all)."),
]
KindsOpt = Annotated[
    list[MemoryKind] | None,
    typer.Option("--kind", metavar="KIND", help="Only this kind: episodic, semantic or procedural (repeatable).", show_default=False),
]

_CONTENT_WIDTH = 80


@contextmanager
def _opened(store: str | None, embedder: str | None) -> Iterator[BaseMemoryAdapter]:
    from mnemos.memory_adapters.registry import open_memory

    adapter = open_memory(store, embedder=embedder)
    try:
        yield adapter
    finally:
        adapter.close()


def _namespace(text: str, *, allow_empty: bool) -> tuple[str, ...]:
    return parse_namespace(text, allow_empty=allow_empty)


def _short(content: str, width: int = _CONTENT_WIDTH) -> str:
    flat = " ".join(content.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _content_cell(record: MemoryRecord) -> Group:
    """Content (shortened) above the id, which folds rather than being cut off."""
    content = Text(_short(record.content))
    if record.superseded:
        content.append(" (superseded)", style="yellow")
    return Group(content, Text(record.id, style="dim", overflow="fold"))


def _when(record_time: Any) -> str:
    return record_time.strftime("%Y-%m-%d %H:%M") if record_time is not None else ""


# --- add -----------------------------------------------------------------------------------


@app.command()
def add(
    text: Annotated[str, typer.Argument(help="The memory's content; - reads it from stdin.")],
    ns: Annotated[
        str, typer.Option("--ns", metavar="NAMESPACE", help="Namespace, e.g. users/alice/notes.")
    ],
    kind: Annotated[MemoryKind, typer.Option("--kind", help="Kind of memory.")] = MemoryKind.EPISODIC,
    meta: Annotated[
        list[str] | None,
        typer.Option("--meta", metavar="KEY=VALUE", help="Metadata (repeatable); JSON values allowed."),
    ] = None,
    importance: Annotated[
        float, typer.Option("--importance", min=0.0, max=1.0, help="Importance from 0 to 1.")
    ] = 0.5,
    ttl: Annotated[
        str | None,
        typer.Option("--ttl", metavar="DURATION", help="Expire after seconds or 30m, 1h, 2d, 1w."),
    ] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="Agent that produced it.")] = None,
    thread: Annotated[str | None, typer.Option("--thread", help="Thread it came from.")] = None,
    store: StoreOpt = None,
    embedder: EmbedderOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Store a memory and print its id."""
    content = sys.stdin.read().rstrip("\r\n") if text == "-" else text
    namespace = _namespace(ns, allow_empty=False)
    metadata = parse_key_values(meta or [], "--meta")
    ttl_seconds = parse_duration(ttl) if ttl is not None else None
    provenance = {"agent": agent, "thread": thread, "source": "cli"}
    with _opened(store, embedder) as memory:
        before = memory.now()
        record = memory.add(
            content,
            namespace=namespace,
            kind=kind,
            metadata=metadata,
            importance=importance,
            ttl_seconds=ttl_seconds,
            provenance=provenance,
        )
    if as_json:
        print_json(record.to_dict())
        return
    if record.created_at < before:
        stderr().print("identical memory already stored; nothing added", style="yellow")
    typer.echo(record.id)


# --- search and list ---------------------------------------------------------------------


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    ns: NsPrefixOpt = "",
    kind: KindsOpt = None,
    filter_: Annotated[
        list[str] | None,
        typer.Option("--filter", metavar="KEY=VALUE", help="Metadata condition (repeatable); JSON values allowed."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", metavar="DATE", help="Created at or after: 2026-01-31 or 7d (ago).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", metavar="DATE", help="Created at or before.")
    ] = None,
    k: Annotated[int, typer.Option("-k", "--limit", min=1, help="How many results.")] = 10,
    all_versions: Annotated[
        bool, typer.Option("--all-versions", help="Include superseded facts.")
    ] = False,
    store: StoreOpt = None,
    embedder: EmbedderOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search memories: ranked, with the reasons for each score."""
    prefix = _namespace(ns, allow_empty=True)
    flt = parse_key_values(filter_ or [], "--filter")
    since_at = parse_datetime(since, "--since") if since else None
    until_at = parse_datetime(until, "--until") if until else None
    with _opened(store, embedder) as memory:
        hits = memory.search(
            query,
            namespace=prefix,
            kinds=kind or None,
            filter=flt or None,
            since=since_at,
            until=until_at,
            limit=k,
            include_superseded=all_versions,
        )
    if as_json:
        print_json([hit_to_json(rank, hit) for rank, hit in enumerate(hits, start=1)])
        return
    if not hits:
        stderr().print("no memories found")
        return
    table = Table()
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("namespace", overflow="fold")
    table.add_column("content", ratio=3)
    table.add_column("why", ratio=2)
    for rank, hit in enumerate(hits, start=1):
        record = hit.record
        table.add_row(
            str(rank),
            f"{hit.score:.3f}",
            record.kind.value,
            Text(format_namespace(record.namespace)),
            _content_cell(record),
            Text(compact_reasons(hit.reasons), style="cyan"),
        )
    stdout().print(table)


@app.command("list")
def list_(
    ns: NsPrefixOpt = "",
    kind: KindsOpt = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many memories.")] = 20,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Skip this many first.")] = 0,
    store: StoreOpt = None,
    embedder: EmbedderOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List memories, newest first."""
    prefix = _namespace(ns, allow_empty=True)
    with _opened(store, embedder) as memory:
        records = memory.list(namespace=prefix, kinds=kind or None, limit=limit, offset=offset)
    if as_json:
        print_json([r.to_dict() for r in records])
        return
    if not records:
        stderr().print("no memories found")
        return
    table = Table()
    table.add_column("created", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("namespace", overflow="fold")
    table.add_column("content / id", ratio=1)
    for record in records:
        table.add_row(
            _when(record.created_at),
            record.kind.value,
            Text(format_namespace(record.namespace)),
            _content_cell(record),
        )
    stdout().print(table)


# --- get and delete --------------------------------------------------------------------------


def _record_view(record: MemoryRecord) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    prov = record.provenance
    rows: list[tuple[str, str]] = [
        ("id", record.id),
        ("namespace", format_namespace(record.namespace)),
        ("kind", record.kind.value),
        ("content", record.content),
        ("metadata", json.dumps(record.metadata, ensure_ascii=False) if record.metadata else ""),
        ("importance", f"{record.importance:g}"),
        ("created", record.created_at.isoformat()),
        ("updated", record.updated_at.isoformat()),
        ("expires", record.expires_at.isoformat() if record.expires_at else ""),
        ("agent", prov.agent or ""),
        ("thread", prov.thread or ""),
        ("source", prov.source or ""),
        ("valid from", record.valid_from.isoformat() if record.valid_from else ""),
        ("valid to", record.valid_to.isoformat() if record.valid_to else ""),
        ("superseded by", record.superseded_by or ""),
        ("version", str(record.version)),
    ]
    for label, value in rows:
        if value:
            grid.add_row(label, Text(value))
    return grid


@app.command()
def get(
    memory_id: Annotated[str, typer.Argument(metavar="ID", help="The memory's id.")],
    history: Annotated[bool, typer.Option("--history", help="Show every version, oldest first.")] = False,
    store: StoreOpt = None,
    embedder: EmbedderOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one memory (or its versions with --history)."""
    with _opened(store, embedder) as memory:
        records = memory.history(memory_id) if history else [memory.get(memory_id)]
    if as_json:
        print_json([r.to_dict() for r in records] if history else records[0].to_dict())
        return
    if not history:
        stdout().print(_record_view(records[0]))
        return
    table = Table()
    table.add_column("version", justify="right")
    table.add_column("updated", no_wrap=True)
    table.add_column("content", ratio=1)
    for record in records:
        table.add_row(str(record.version), _when(record.updated_at), Text(_short(record.content)))
    stdout().print(table)


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


@app.command()
def delete(
    memory_id: Annotated[str, typer.Argument(metavar="ID", help="The memory's id.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    store: StoreOpt = None,
    embedder: EmbedderOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete a memory (asks first when run in a terminal, unless --yes)."""
    with _opened(store, embedder) as memory:
        record = memory.get(memory_id)
        if not yes and _interactive():
            typer.confirm(f"Delete {record.id} ({_short(record.content, 60)!r})?", abort=True)
        memory.delete(memory_id)
    if as_json:
        print_json({"deleted": memory_id})
    else:
        typer.echo(f"deleted {memory_id}")


@app.command()
def erase(
    ns: Annotated[
        str | None,
        typer.Option("--ns", metavar="NAMESPACE", show_default=False,
                     help="Erase this namespace and everything under it (/ is the whole store)."),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option("--user", metavar="USER_ID", show_default=False, help="Erase this user's memories (users/USER_ID)."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Confirm: erasure cannot be undone.")] = False,
    store: StoreOpt = None,
    embedder: EmbedderOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Erase a namespace or a user for good: memories, history, entities, relations, index entries."""
    if (ns is None) == (user is None):
        raise UsageError("name what to erase: --ns NAMESPACE or --user USER_ID (one of them)")
    prefix = validate_namespace(("users", user)) if user is not None else _namespace(ns or "", allow_empty=True)
    target = format_namespace(prefix)
    if not yes:
        if not _interactive():
            raise UsageError(f"erasing {target} cannot be undone: add --yes to confirm")
        typer.confirm(f"Erase everything under {target}? This cannot be undone.", abort=True)
    with _opened(store, embedder) as memory:
        count = memory.erase(prefix)
    if as_json:
        print_json({"erased": count, "namespace": list(prefix)})
    else:
        typer.echo(f"erased {count} memories under {target}")


# --- export and import --------------------------------------------------------------------------


@app.command()
def export(
    file: Annotated[str, typer.Argument(metavar="[FILE|-]", help="Where to write JSONL; - is stdout.")] = "-",
    ns: NsPrefixOpt = "",
    store: StoreOpt = None,
    embedder: EmbedderOpt = None,
) -> None:
    """Write memories as JSONL, one record per line (superseded versions included)."""
    prefix = _namespace(ns, allow_empty=True)
    with _opened(store, embedder) as memory:
        if file == "-":
            count = memory.export_jsonl(sys.stdout, prefix)
            sys.stdout.flush()
        else:
            count = memory.export_jsonl(Path(file), prefix)
    target = "stdout" if file == "-" else file
    stderr().print(f"exported {count} memories to {target}", highlight=False)


@app.command("import")
def import_(
    file: Annotated[str, typer.Argument(metavar="FILE|-", help="A JSONL export; - is stdin.")],
    store: StoreOpt = None,
    embedder: EmbedderOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a JSONL export. A broken line is reported by number and nothing is imported."""
    if file != "-" and not Path(file).is_file():
        raise UsageError(f"no such file: {file}")
    with _opened(store, embedder) as memory, progress("importing") as bar:
        task = bar.add_task("importing", total=None)

        def on_progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        source = sys.stdin if file == "-" else Path(file)
        count = memory.import_jsonl(source, on_progress=on_progress)
    if as_json:
        print_json({"imported": count})
    else:
        typer.echo(f"imported {count} memories")


# --- maintenance ---------------------------------------------------------------------------------


def _generic_stats(memory: BaseMemoryAdapter) -> dict[str, Any]:
    """Counts for an adapter without its own ``stats()``, in the native adapter's shape."""
    by_kind = dict.fromkeys((k.value for k in MemoryKind), 0)
    by_namespace: dict[str, int] = {}
    for record in memory.list(limit=None, include_superseded=True):
        by_kind[record.kind.value] += 1
        key = format_namespace(record.namespace)
        by_namespace[key] = by_namespace.get(key, 0) + 1
    return {
        "adapter": memory.name,
        "total": sum(by_kind.values()),
        "by_kind": by_kind,
        "by_namespace": dict(sorted(by_namespace.items())),
    }


@app.command()
def stats(
    store: StoreOpt = None,
    embedder: EmbedderOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Counts per kind and namespace, file size, embedder (of the whole store)."""
    with _opened(store, embedder) as memory:
        own = getattr(memory, "stats", None)
        data: dict[str, Any] = own() if callable(own) else _generic_stats(memory)
    if as_json:
        print_json(data)
        return
    console = stdout()
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    nested: list[tuple[str, dict[str, Any]]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            nested.append((key, value))
        else:
            grid.add_row(key.replace("_", " "), Text(_stat_value(key, value)))
    console.print(grid)
    for key, value in nested:
        table = Table()
        table.add_column(key.removeprefix("by_").replace("_", " "))
        table.add_column("count", justify="right")
        for name, count in value.items():
            table.add_row(Text(str(name)), Text(_stat_value(key, count)))
        console.print(table)


def _stat_value(key: str, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and key.endswith(("size", "bytes")):
        return _human_size(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _human_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover


@app.command()
def purge(
    ns: NsPrefixOpt = "",
    store: StoreOpt = None,
    embedder: EmbedderOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove expired memories for good."""
    prefix = _namespace(ns, allow_empty=True)
    with _opened(store, embedder) as memory:
        count = memory.purge(prefix)
    if as_json:
        print_json({"purged": count})
    else:
        typer.echo(f"purged {count} expired memories")


@app.command()
def reembed(
    embedder: Annotated[
        str,
        typer.Option("--embedder", metavar="SPEC", help="The new embedder: hashing or st:all-MiniLM-L6-v2."),
    ],
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute every vector with another embedder; open the store with it afterwards."""
    from mnemos.memory_adapters.embedders import get_embedder

    new = get_embedder(embedder)
    with _opened(store, None) as memory, progress("re-embedding") as bar:
        method = getattr(memory, "reembed", None)
        if not callable(method):
            raise UsageError(f"the {memory.name!r} memory adapter cannot re-embed its memories")
        task = bar.add_task("re-embedding", total=None)

        def on_progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        count = method(new, on_progress=on_progress)
    if as_json:
        print_json({"reembedded": count, "embedder": new.name})
    else:
        typer.echo(f"re-embedded {count} memories with {new.name}")
