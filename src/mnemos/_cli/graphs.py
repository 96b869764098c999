"""``mnemos run``, ``mnemos threads ...`` and ``mnemos graph ...``.

``run`` streams each step of a graph (the node or agent, its reply, tool calls,
memories recalled with the reasons, memory writes). A run's thread is saved in
the checkpointer (``--checkpoints``; default ``$MNEMOS_HOME/checkpoints.db``)
together with the graph it ran, the user and the store, so ``threads resume``
needs only the thread id.
"""

from __future__ import annotations

import os
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from mnemos._cli._common import MnemosGroup, fail, print_json, reported, stdout
from mnemos.exceptions import MnemosError, UsageError

__all__ = ["graph_app", "register", "threads_app"]

threads_app = typer.Typer(cls=MnemosGroup, help="List, inspect, resume, delete and prune saved threads.",
                          no_args_is_help=True)
graph_app = typer.Typer(cls=MnemosGroup, help="Inspect graphs: drawings and topology checks.",
                        no_args_is_help=True)

CheckpointsOpt = Annotated[
    str | None,
    typer.Option("--checkpoints", metavar="URL",
                 help="Where threads are saved: sqlite:///path.db, postgresql://..., or a file path "
                      "(default: MNEMOS_CHECKPOINTS, else $MNEMOS_HOME/checkpoints.db)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON lines (one object per event) for scripts.")]
AnswerOpt = Annotated[
    str | None,
    typer.Option("--answer", "-a", help="Answer to a pending question, e.g. yes, or feedback to reject."),
]

@contextmanager
def _saver(url: str | None) -> Iterator[Any]:
    from mnemos.graphs.checkpoint import open_checkpointer

    with open_checkpointer(url) as saver:
        yield saver


def _canonical_target(target: str) -> str:
    """``MODULE:GRAPH`` with a file path made absolute, so a resume works from any directory."""
    module, sep, attr = target.rpartition(":")
    if sep and (module.endswith(".py") or "/" in module):
        return f"{Path(module).expanduser().resolve()}:{attr}"
    return target


def _use_store(store: str | None) -> None:
    # Graph modules open their memory when loaded; MNEMOS_STORE is how they learn the store.
    if store:
        os.environ["MNEMOS_STORE"] = store


def _interactive(json_lines: bool, no_input: bool) -> bool:
    return not json_lines and not no_input and sys.stdin.isatty() and sys.stdout.isatty()


def _drive(
    graph: Any,
    graph_input: Any,
    config: dict[str, Any],
    *,
    json_lines: bool,
    interactive: bool,
    answer: str | None = None,
) -> None:
    """Stream a run; answer interrupts by prompting (or with ``answer``), or say how to resume."""
    from mnemos.graphs.stream import RunPrinter

    printer = RunPrinter(json_lines=json_lines)
    thread = config["configurable"]["thread_id"]
    try:
        _drive_loop(graph, graph_input, config, printer, interactive=interactive, answer=answer)
    except MnemosError:
        raise
    except Exception as exc:  # a node failed: the thread keeps its last checkpoint
        hint = f"mnemos threads resume {thread}"
        if json_lines:
            printer.emit({"type": "status", "status": "failed", "thread": thread,
                          "error": f"{type(exc).__name__}: {exc}", "resume": hint})
        raise fail(f"the run failed: {type(exc).__name__}: {exc}\n"
                   f"the thread keeps its last checkpoint; resume with: {hint}", 1) from None


def _drive_loop(
    graph: Any,
    graph_input: Any,
    config: dict[str, Any],
    printer: Any,
    *,
    interactive: bool,
    answer: str | None,
) -> None:
    from langgraph.types import Command
    from rich.prompt import Prompt

    from mnemos.graphs.stream import stream_run

    json_lines = printer.json_lines
    thread = config["configurable"]["thread_id"]
    pending = stream_run(graph, graph_input, config, printer)
    while pending:
        if answer is not None:
            reply: str | None = answer
            answer = None
        elif interactive:
            reply = Prompt.ask("[yellow]your answer[/yellow] (yes to approve, or feedback)")
        else:
            reply = None
        if reply is None:
            hint = f'mnemos threads resume {thread} --answer "yes"'
            if json_lines:
                printer.emit({"type": "status", "status": "interrupted", "thread": thread, "resume": hint})
            else:
                stdout().print(f"[yellow]paused.[/yellow] Resume with: [bold]{hint}[/bold] "
                               "(or give feedback instead of yes)", highlight=False)
            return
        resume: Any = reply if len(pending) == 1 else {item.id: reply for item in pending}
        pending = stream_run(graph, Command(resume=resume), config, printer)
    final = graph.get_state(config).values if getattr(graph, "checkpointer", None) else {}
    reply_text = _last_reply(final.get("messages") or [])
    if json_lines:
        printer.emit({"type": "status", "status": "done", "thread": thread, "reply": reply_text})
    else:
        stdout().print(f"[dim]thread {thread} done[/dim]", highlight=False)


def _last_reply(messages: list[Any]) -> str | None:
    from langchain_core.messages import AIMessage

    for message in reversed(messages):
        if isinstance(message, AIMessage) and message.text.strip():
            return message.text
    return None


def run(
    target: Annotated[str, typer.Argument(metavar="MODULE:GRAPH",
                                          help="A dotted module or a .py file, and the graph attribute.")],
    text: Annotated[str, typer.Argument(metavar="INPUT", help="The user's message.")],
    thread: Annotated[str | None, typer.Option("--thread", "-t", help="Thread id (default: a new one).")] = None,
    user: Annotated[str | None, typer.Option(
        "--user", "-u", help="User id: whose memories the agents use and who owns the thread "
                             "(default: 'default'; required when MNEMOS_REQUIRE_USER is on).")] = None,
    store: Annotated[str | None, typer.Option("--store", metavar="URL",
                                              help="Memory store for the graph's agents (sets MNEMOS_STORE).")] = None,
    checkpoints: CheckpointsOpt = None,
    json_lines: JsonOpt = False,
    answer: AnswerOpt = None,
    no_input: Annotated[bool, typer.Option("--no-input", help="Never prompt; print how to resume instead.")] = False,
) -> None:
    """Run a graph on one message, streaming each step."""
    from langchain_core.messages import HumanMessage

    from mnemos.graphs._runs import running
    from mnemos.graphs.loading import load_graph

    if not text.strip():
        raise UsageError("the input message is empty")
    from mnemos.agents.agent import RunIdentity

    user = RunIdentity.from_config({"configurable": {"user_id": user}}).user_id
    _use_store(store)
    thread_id = thread or f"run-{uuid.uuid4().hex[:12]}"
    canonical = _canonical_target(target)
    config: dict[str, Any] = {
        "configurable": {"thread_id": thread_id, "user_id": user},
        "metadata": {"mnemos_graph": canonical, "mnemos_user": user, "mnemos_store": store or ""},
    }
    with _saver(checkpoints) as saver:
        graph = load_graph(target, saver)
        if not json_lines:
            stdout().print(f"[dim]running {target} · thread {thread_id} · user {user}[/dim]", highlight=False)
        with running(checkpoints, thread_id):
            _drive(graph, {"messages": [HumanMessage(text)]}, config, json_lines=json_lines,
                   interactive=_interactive(json_lines, no_input), answer=answer)


# --- threads ---------------------------------------------------------------------------------


def _thread_rows(saver: Any, limit: int | None, location: str | None = None) -> list[dict[str, Any]]:
    """The latest root checkpoint of each thread, newest first, with where it stands (see ``_runs``)."""
    from mnemos.graphs._runs import is_running, thread_status

    rows: dict[str, dict[str, Any]] = {}
    for item in saver.list(None):
        conf = item.config["configurable"]
        if conf.get("checkpoint_ns"):
            continue
        tid = conf["thread_id"]
        meta = item.metadata or {}
        if tid in rows:
            rows[tid]["checkpoints"] += 1
            continue
        status, waits = thread_status(item, live=is_running(location, tid))
        rows[tid] = {
            "thread": tid,
            "graph": meta.get("mnemos_graph"),
            "user": meta.get("mnemos_user"),
            "step": meta.get("step"),
            "updated": item.checkpoint.get("ts"),
            "status": status,
            "waits_for_answer": waits,
            "checkpoints": 1,
        }
    ordered = sorted(rows.values(), key=lambda r: r["updated"] or "", reverse=True)
    return ordered[:limit] if limit else ordered


def _snapshot_status(state: Any, live: bool) -> str:
    """Where a thread stands, from LangGraph's ``StateSnapshot`` (the words ``threads list`` uses)."""
    if state.interrupts:
        return "interrupted"
    if state.next or state.tasks:  # tasks alone: a step's writes were saved, the next checkpoint not
        return "running" if live else "unfinished"
    return "finished"


@threads_app.command("list")
def threads_list(
    checkpoints: CheckpointsOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Show at most this many.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Saved threads, most recently updated first."""
    from rich.table import Table

    with _saver(checkpoints) as saver:
        rows = _thread_rows(saver, limit, checkpoints)
    if as_json:
        print_json(rows)
        return
    if not rows:
        stdout().print("no saved threads")
        return
    table = Table("thread", "graph", "user", "step", "status", "updated", "continue with")
    for r in rows:
        graph = str(r["graph"] or "-")
        hint = "-" if r["status"] in ("finished", "running") else (
            f"threads resume {r['thread']} --answer ..." if r["waits_for_answer"] else f"threads resume {r['thread']}")
        table.add_row(r["thread"], _short_target(graph), str(r["user"] or "-"), str(r["step"]),
                      r["status"], str(r["updated"] or "")[:19].replace("T", " "), hint)
    stdout().print(table)


def _short_target(target: str) -> str:
    module, sep, attr = target.rpartition(":")
    if sep and "/" in module:
        return f"{Path(module).name}:{attr}"
    return target


def _load_thread_graph(saver: Any, thread: str, graph_spec: str | None) -> tuple[Any, dict[str, Any]]:
    from mnemos.graphs.loading import load_graph

    latest = saver.get_tuple({"configurable": {"thread_id": thread}})
    if latest is None:
        raise UsageError(f"no saved thread {thread!r}; see mnemos threads list")
    meta = latest.metadata or {}
    spec = graph_spec or meta.get("mnemos_graph")
    if spec == "brainstorm":
        from mnemos.graphs.brainstorm import graph_for_thread

        return graph_for_thread(meta, saver), meta
    if not spec:
        raise UsageError(f"thread {thread!r} does not record its graph; pass --graph MODULE:GRAPH")
    _use_store(meta.get("mnemos_store") or None)
    return load_graph(spec, saver), meta


@threads_app.command("show")
def threads_show(
    thread: Annotated[str, typer.Argument(help="Thread id.")],
    checkpoints: CheckpointsOpt = None,
    graph_spec: Annotated[str | None, typer.Option("--graph", metavar="MODULE:GRAPH",
                                                   help="The graph, if the thread does not record it.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """A thread's conversation, where it stands, and any question it waits on."""
    from rich.panel import Panel

    from mnemos.graphs._runs import is_running
    from mnemos.graphs.stream import RunPrinter, jsonable

    with _saver(checkpoints) as saver:
        graph, meta = _load_thread_graph(saver, thread, graph_spec)
        user = meta.get("mnemos_user") or "default"
        config = {"configurable": {"thread_id": thread, "user_id": user}}
        state = graph.get_state(config)
        history = sum(1 for _ in graph.get_state_history(config))
    values = state.values or {}
    info = {
        "thread": thread,
        "graph": meta.get("mnemos_graph"),
        "user": user,
        "step": (state.metadata or {}).get("step"),
        "checkpoints": history,
        "next": list(state.next),
        "status": _snapshot_status(state, is_running(checkpoints, thread)),
        "interrupts": jsonable(list(state.interrupts)),
        "messages": jsonable(values.get("messages") or []),
        "values": {k: jsonable(v) for k, v in values.items() if k not in ("messages", "mnemos_route")},
    }
    if as_json:
        print_json(info)
        return
    console = stdout()
    console.print(Panel(
        f"graph {info['graph']}\nuser {user} · step {info['step']} · {history} checkpoints\n"
        f"status [bold]{info['status']}[/bold]" + (f" · next: {', '.join(state.next)}" if state.next else ""),
        title=f"thread {thread}", expand=False, highlight=False,
    ))
    printer = RunPrinter(console)
    for message in values.get("messages") or []:
        printer._message(message)
    for item in state.interrupts:
        printer.interrupt(item)
    if meta.get("mnemos_graph") == "brainstorm" and values.get("ledger"):
        from mnemos._cli.brainstorm import _ledger_table

        console.print(_ledger_table(list(values["ledger"].get("ideas", []))))
    if state.interrupts:
        console.print(f'Resume with: [bold]mnemos threads resume {thread} --answer "yes"[/bold]', highlight=False)
    elif state.next or state.tasks:
        console.print(f"Resume with: [bold]mnemos threads resume {thread}[/bold]", highlight=False)


@threads_app.command("resume")
def threads_resume(
    thread: Annotated[str, typer.Argument(help="Thread id.")],
    answer: AnswerOpt = None,
    checkpoints: CheckpointsOpt = None,
    graph_spec: Annotated[str | None, typer.Option("--graph", metavar="MODULE:GRAPH",
                                                   help="The graph, if the thread does not record it.")] = None,
    json_lines: JsonOpt = False,
    no_input: Annotated[bool, typer.Option("--no-input", help="Never prompt.")] = False,
) -> None:
    """Continue a thread: answer its pending question, or finish a run that was cut off."""
    from langgraph.types import Command

    with _saver(checkpoints) as saver:
        latest = saver.get_tuple({"configurable": {"thread_id": thread}})
    if latest is not None and (latest.metadata or {}).get("mnemos_graph") == "brainstorm" and graph_spec is None:
        if answer is not None:
            raise UsageError(f"thread {thread!r} is a brainstorm; it takes no --answer")
        from mnemos._cli.brainstorm import brainstorm

        brainstorm(None, resume=True, thread=thread, checkpoints=checkpoints)
        return
    from mnemos.graphs._runs import running

    with _saver(checkpoints) as saver, running(checkpoints, thread):
        graph, meta = _load_thread_graph(saver, thread, graph_spec)
        config: dict[str, Any] = {
            "configurable": {"thread_id": thread, "user_id": meta.get("mnemos_user") or "default"},
            "metadata": {k: meta[k] for k in ("mnemos_graph", "mnemos_user", "mnemos_store") if k in meta},
        }
        state = graph.get_state(config)
        interactive = _interactive(json_lines, no_input)
        if state.interrupts:
            if answer is None and not interactive:
                raise UsageError(f"thread {thread!r} waits for an answer; pass --answer (e.g. --answer yes)")
            if answer is None:
                _drive(graph, None, config, json_lines=json_lines, interactive=True)
                return
            pending = list(state.interrupts)
            resume: Any = answer if len(pending) == 1 else {i.id: answer for i in pending}
            _drive(graph, Command(resume=resume), config, json_lines=json_lines, interactive=interactive)
        elif state.next or state.tasks:  # tasks alone: a step's writes were saved, the next checkpoint not
            if answer is not None:
                raise UsageError(f"thread {thread!r} is not waiting for an answer; run without --answer")
            _drive(graph, None, config, json_lines=json_lines, interactive=interactive)
        else:
            raise UsageError(f"thread {thread!r} has nothing left to run; start a new run on it with mnemos run")


@threads_app.command("delete")
def threads_delete(
    threads: Annotated[list[str], typer.Argument(metavar="THREAD...", help="Thread ids.")],
    checkpoints: CheckpointsOpt = None,
) -> None:
    """Delete threads: every checkpoint and pending write of each."""
    from mnemos.graphs.checkpoint import delete_thread

    with _saver(checkpoints) as saver:
        missing = [t for t in threads if saver.get_tuple({"configurable": {"thread_id": t}}) is None]
        if missing:
            raise UsageError(f"no saved thread {', '.join(map(repr, missing))}; see mnemos threads list")
        for thread in threads:
            delete_thread(saver, thread)
    stdout().print(f"deleted {len(threads)} thread(s)", highlight=False)


def _duration(text: str) -> Any:
    from datetime import timedelta

    match = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", text or "")
    if not match:
        raise UsageError(f"a duration is a number and a unit (s, m, h, d or w), like 30d or 12h; not {text!r}")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


@threads_app.command("prune")
def threads_prune(
    older_than: Annotated[str | None, typer.Option("--older-than", metavar="AGE",
                                                   help="Delete threads last updated longer ago (30d, 12h, 2w).")] = None,
    keep_last: Annotated[int | None, typer.Option("--keep-last", min=1, metavar="N",
                                                  help="Keep only the N latest checkpoints of each thread (SQLite).")] = None,
    thread: Annotated[list[str] | None, typer.Option("--thread", "-t", help="Only this thread (repeatable).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be removed; remove nothing.")] = False,
    checkpoints: CheckpointsOpt = None,
) -> None:
    """Delete old threads, or old checkpoints of each thread (its latest state is always kept)."""
    from mnemos.graphs.checkpoint import prune_checkpoints

    if older_than is None and keep_last is None:
        raise UsageError("say what to prune: --older-than AGE, --keep-last N, or both")
    age = _duration(older_than) if older_than is not None else None
    with _saver(checkpoints) as saver:
        report = prune_checkpoints(saver, older_than=age, keep_last=keep_last, threads=thread,
                                   graph_for=lambda tid, meta: _graph_or_none(saver, tid, meta), dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    stdout().print(f"{verb} {len(report['deleted_threads'])} thread(s) and {report['deleted_checkpoints']} "
                   f"older checkpoint(s)" + (f"; kept {report['kept_for_deltas']} that later checkpoints "
                                              "are rebuilt from" if report["kept_for_deltas"] else ""),
                   highlight=False)


def _graph_or_none(saver: Any, thread: str, meta: Any) -> Any:
    """The graph a thread ran (to rebuild its state before older checkpoints go), or None."""
    try:
        return _load_thread_graph(saver, thread, None)[0]
    except (MnemosError, ImportError, AttributeError, OSError):
        return None


# --- graph -----------------------------------------------------------------------------------


def _shape(target: str) -> Any:
    from langgraph.graph import StateGraph
    from langgraph.graph.state import CompiledStateGraph

    from mnemos.graphs.builder import GraphBuilder
    from mnemos.graphs.loading import load_target

    obj = load_target(target)
    if not isinstance(obj, (GraphBuilder, StateGraph, CompiledStateGraph)) and callable(obj):
        obj = obj()
    return obj


@graph_app.command("show")
def graph_show(
    target: Annotated[str, typer.Argument(metavar="MODULE:GRAPH")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="text, mermaid or dot.")] = "text",
) -> None:
    """Draw a graph: readable text (default), Mermaid, or Graphviz DOT."""
    from mnemos.graphs.render import render

    drawing = render(_shape(target), fmt)
    if fmt == "text":
        console = stdout()
        for line in drawing.splitlines():
            style = "red" if "! error" in line else "yellow" if "! warning" in line else None
            console.print(line, style=style, highlight=False, markup=False)
    else:
        sys.stdout.write(drawing)


@graph_app.command("check")
def graph_check(
    target: Annotated[str, typer.Argument(metavar="MODULE:GRAPH")],
    strict: Annotated[bool, typer.Option("--strict", help="Fail on warnings too.")] = False,
) -> None:
    """Check a graph's topology; exit 1 if it is broken."""
    from mnemos.graphs.topology import analyze

    report = analyze(_shape(target), name=target)
    stdout().print(str(report), highlight=False, markup=False)
    if report.errors or (strict and report.warnings):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``run``, ``threads`` and ``graph`` to the root command."""
    app.command("run")(reported(run))
    app.add_typer(threads_app, name="threads")
    app.add_typer(graph_app, name="graph")
