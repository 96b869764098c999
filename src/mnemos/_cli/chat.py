"""``mnemos chat``: talk to one agent whose memory persists, with MemGPT's commands.

In the spirit of MemGPT's ``memgpt run``: the agent is a MemGPT agent (core,
recall and archival memory, memory functions, a virtual context), resumed by
name across runs. See docs/chat.md.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mnemos._cli._common import compact_reasons, reported
from mnemos.exceptions import UsageError

__all__ = ["COMMANDS", "register"]

COMMANDS: dict[str, str] = {
    "/exit": "save and leave (Ctrl-D does the same)",
    "/save": "checkpoint the agent and the conversation",
    "/dump": "show the context window: each message with its token count",
    "/memory": "show core memory, and recall and archival memory in brief",
    "/pop": "undo the last exchange, in the context and in memory",
    "/heartbeat": "send a heartbeat system message to the agent",
    "/memorywarning": "send the memory-pressure warning to the agent",
    "/recall QUERY": "search recall and archival memory, with the reasons",
    "/attach SOURCE": "copy an ingested document into archival memory (no SOURCE: list them)",
    "/help": "this list",
}
DEFAULT_PERSONA = "I am a helpful assistant with a long memory. I keep what matters in core memory."


def _text_or_file(value: str | None) -> str | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    if len(value) < 4096 and path.is_file():
        return path.read_text(encoding="utf-8").strip()
    return value


def _open(memory: str, store: str | None, embedder: str | None) -> Any:
    from mnemos.memory_adapters.memgpt import MemGPTMemoryAdapter
    from mnemos.memory_adapters.registry import open_memory

    if memory == "memgpt":
        opened = open_memory(store, embedder=embedder)
        if isinstance(opened, MemGPTMemoryAdapter):
            return opened
        if opened.scope:
            opened.close()
            raise UsageError("mnemos chat needs a store opened at its root, not a scoped one")
        return MemGPTMemoryAdapter(opened)
    if memory.startswith("memgpt"):
        opened = open_memory(memory, embedder=embedder)
        if isinstance(opened, MemGPTMemoryAdapter):
            return opened
        opened.close()
    raise UsageError(
        f"--memory {memory!r}: mnemos chat runs a MemGPT agent; use memgpt (virtual context over "
        "--store) or a memgpt+letta://host:port?agent=NAME URL"
    )


class _Reader:
    """Reads a line: prompt_toolkit (editing, history) on a terminal, else plain input()."""

    def __init__(self, history: Path) -> None:
        self._session: Any = None
        if sys.stdin.isatty() and sys.stdout.isatty():
            try:
                from prompt_toolkit import PromptSession
                from prompt_toolkit.history import FileHistory
            except ImportError:
                return
            history.parent.mkdir(parents=True, exist_ok=True)
            self._session = PromptSession(history=FileHistory(str(history)))

    def read(self, prompt: str) -> str:
        if self._session is not None:
            return str(self._session.prompt(prompt))
        return input(prompt)


class _Printer:
    """Prints streamed reply text after the agent's name, once per reply."""

    def __init__(self, console: Console, name: str) -> None:
        self.console = console
        self.name = name
        self.started = False

    def __call__(self, text: str) -> None:
        if not self.started:
            self.console.print(f"[bold green]{escape(self.name)}>[/bold green] ", end="")
            self.started = True
        self.console.file.write(text)
        self.console.file.flush()


def chat(
    agent: Annotated[str, typer.Option("--agent", help="Agent name: resumed if it exists, else created.")] = "assistant",
    persona: Annotated[
        str | None, typer.Option("--persona", metavar="TEXT_OR_FILE", help="Persona core block for a new agent.")
    ] = None,
    human: Annotated[
        str | None, typer.Option("--human", metavar="TEXT_OR_FILE", help="Human core block for a new agent.")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", metavar="SPEC", help="Chat model, e.g. offline, local:smollm2, openai:gpt-4o-mini.")
    ] = None,
    first: Annotated[bool, typer.Option("--first", help="You speak first (else the agent greets you).")] = False,
    memory: Annotated[
        str, typer.Option("--memory", metavar="ADAPTER", help="memgpt (virtual context over --store) or memgpt+letta://...")
    ] = "memgpt",
    store: Annotated[
        str | None, typer.Option("--store", envvar="MNEMOS_STORE", show_default=False, metavar="URL_OR_PATH",
                                 help="Memory store (default: $MNEMOS_HOME/memory.db).")
    ] = None,
    embedder: Annotated[
        str | None, typer.Option("--embedder", envvar="MNEMOS_EMBEDDER", show_default=False, metavar="SPEC",
                                 help="Embedder of the store.")
    ] = None,
    context_window: Annotated[
        int, typer.Option("--context-window", min=512, help="The agent's context window, in tokens.")
    ] = 8000,
    docs_ns: Annotated[
        str, typer.Option("--docs-ns", metavar="NAMESPACE", help="Where /attach finds ingested documents.")
    ] = "documents",
    consolidate: Annotated[
        bool, typer.Option("--consolidate", help="On leaving, merge near-duplicate memories of the agent "
                           "(reversible) and decay unused ones.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show function results in full, context events and tokens.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Answer yes to confirmations (create the agent, replace its persona).")] = False,
) -> None:
    """Chat with an agent that remembers (MemGPT-style), with /commands (/help lists them)."""
    from mnemos._cli._chat_session import ChatSession
    from mnemos.agents.models import resolve_model
    from mnemos.agents.offline import OfflineChatModel
    from mnemos.config import mnemos_home
    from mnemos.memory_adapters._namespace import parse_namespace

    console = Console(highlight=False)
    chat_model = resolve_model(model)
    adapter = _open(memory, store, embedder)
    try:
        exists = bool(adapter.core_blocks(("agents", agent)))
        if not exists and not yes and sys.stdin.isatty() and not typer.confirm(
            f"There is no agent {agent!r} yet. Create it?", default=True
        ):
            raise typer.Exit(1)
        session = ChatSession(
            adapter, chat_model, name=agent,
            persona=_text_or_file(persona) or DEFAULT_PERSONA, human=_text_or_file(human) or "",
            context_window=context_window,
            summarizer="extractive" if isinstance(chat_model, OfflineChatModel) else "model",
        )
        if not session.created:
            _update_blocks(session, console, {"persona": _text_or_file(persona), "human": _text_or_file(human)}, yes)
        _banner(console, session, chat_model)
        documents = parse_namespace(docs_ns, allow_empty=False)
        _loop(console, session, documents, debug, first, mnemos_home() / "chat_history")
        if consolidate:
            from mnemos.memory_adapters.consolidation import consolidate as run_consolidation

            report = run_consolidation(adapter, session.namespace)
            console.print(f"[dim]consolidated: {report.merged} near-duplicates merged into "
                          f"{len(report.merges)} (mnemos memory consolidate --undo ID reverses one); "
                          f"{report.decayed} unused memories decayed[/dim]")
    finally:
        adapter.close()


def _update_blocks(session: Any, console: Console, given: dict[str, str | None], yes: bool) -> None:
    current = session.core_values()
    for label, value in given.items():
        if value is None or current.get(label) == value:
            continue
        if yes or (sys.stdin.isatty() and typer.confirm(f"Replace the {label} block of {session.name!r}?")):
            session._set_block(label, value)
            console.print(f"[dim]{label} block replaced[/dim]")
        else:
            console.print(f"[yellow]--{label} ignored: agent {session.name!r} keeps its own {label} "
                          "block (--yes replaces it)[/yellow]")


def _banner(console: Console, session: Any, chat_model: Any) -> None:
    verb = "created" if session.created else "resumed"
    name = getattr(chat_model, "model_name", None) or type(chat_model).__name__
    console.print(f"[bold]agent {escape(session.name)}[/bold] {verb} · model {escape(str(name))} · "
                  f"{session.memory.message_count(session.namespace)} messages in recall memory · "
                  f"{session.memory.archival_count(session.namespace)} passages in archival memory")
    if session.restored:
        console.print(f"[dim]{session.restored} messages back in context; the last ones:[/dim]")
        for role, text in list(session.history())[-4:]:
            console.print(f"[dim]  {role}: {escape(_short(text, 160))}[/dim]")
    console.print("[dim]/help lists the commands; Ctrl-D or /exit saves and leaves.[/dim]")


def _short(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _loop(console: Console, session: Any, documents: tuple[str, ...], debug: bool, first: bool,
          history: Path) -> None:
    reader = _Reader(history)
    try:
        if not first:
            login = json.dumps({"type": "login", "time": datetime.now(UTC).isoformat(timespec="seconds"),
                                "hint": "The user has just logged in; greet them."})
            _exchange(console, session, _sender(session, login), debug)
        while True:
            try:
                line = reader.read("you> ").strip()
            except EOFError:
                console.print()
                break
            except KeyboardInterrupt:
                console.print()
                break
            if not line:
                continue
            if line.startswith("/"):
                if _command(console, session, line, documents, debug):
                    break
                continue
            _exchange(console, session, _sender(session, line), debug)
    finally:
        saved = session.save()
        console.print(f"[dim]saved agent {escape(session.name)} (checkpoint {saved.id}); bye[/dim]")


def _sender(session: Any, text: str) -> Callable[[Any], Any]:
    def send(on_text: Any) -> Any:
        return session.step(text, on_text)

    return send


def _exchange(console: Console, session: Any, run: Callable[[Any], Any], debug: bool) -> None:
    printer = _Printer(console, session.name)
    try:
        result = run(printer)
    except KeyboardInterrupt:
        console.print("\n[yellow](reply interrupted; your message is kept in recall memory)[/yellow]")
        return
    if printer.started:
        console.print()
    elif result.reply:
        printer(result.reply)
        console.print()
    for name, args, output in result.calls:
        shown = output if debug else _short(output, 120)
        console.print(f"[magenta]  ⚡ {escape(name)}({escape(json.dumps(args, ensure_ascii=False))})[/magenta]"
                      f"[dim] → {escape(shown)}[/dim]")
    if not result.reply and not result.calls:
        console.print("[dim](no reply)[/dim]")
    for src in result.sources:
        conf = src.get("confidence")
        console.print(f"[blue]  source {src['ref']}[/blue] {escape(src.get('source') or src['kind'])}"
                      f"[dim] · {src['id']}"
                      f"{f' · confidence {conf:.2f}' if isinstance(conf, (int, float)) else ''}[/dim]")
    if debug:
        for event in result.events:
            console.print(f"[yellow]  context: {escape(event.kind)} at {event.tokens} tokens"
                          f"{f', {event.evicted} messages evicted' if event.evicted else ''}[/yellow]")
        console.print(f"[dim]  context {session.agent.context.tokens()}/"
                      f"{session.agent.context.context_window} tokens[/dim]")


def _command(console: Console, session: Any, line: str, documents: tuple[str, ...], debug: bool) -> bool:
    """Run one slash command; True means leave."""
    name, _, arg = line.partition(" ")
    name, arg = name.lower(), arg.strip()
    try:
        if name in ("/exit", "/quit"):
            return True
        if name == "/help":
            table = Table(show_header=False, box=None)
            for command, text in COMMANDS.items():
                table.add_row(f"[cyan]{escape(command)}[/cyan]", text)
            console.print(table)
        elif name == "/save":
            saved = session.save()
            console.print(f"saved: {len(session.agent.context.queue)} messages in context, "
                          f"checkpoint {saved.id}")
        elif name == "/dump":
            rows = session.dump()
            table = Table(title=f"context window: {session.agent.context.tokens()} of "
                                f"{session.agent.context.context_window} tokens")
            table.add_column("#", justify="right")
            table.add_column("role")
            table.add_column("tokens", justify="right")
            table.add_column("content", overflow="fold")
            for i, (role, text, tokens) in enumerate(rows):
                table.add_row(str(i), role, str(tokens), escape(text if debug or i else _short(text, 600)))
            console.print(table)
        elif name == "/memory":
            _show_memory(console, session.summary())
        elif name == "/pop":
            removed = session.pop()
            console.print(f"popped the last exchange ({removed} records removed from memory)"
                          if removed else "nothing to pop")
        elif name == "/heartbeat":
            _exchange(console, session, session.heartbeat, debug)
        elif name == "/memorywarning":
            _exchange(console, session, session.memory_warning, debug)
        elif name == "/recall":
            if not arg:
                raise UsageError("/recall QUERY: say what to look for")
            _show_hits(console, session.search(arg))
        elif name == "/attach":
            if not arg:
                sources = session.sources(documents)
                console.print("ingested sources: " + (", ".join(sources) if sources else
                              "none (mnemos memory ingest PATH)"))
            else:
                added = session.attach(arg, documents)
                console.print(f"attached {arg}: {added} passages added to archival memory"
                              if added else f"{arg} is already attached")
        else:
            console.print(f"[yellow]unknown command {escape(name)}; /help lists them[/yellow]")
    except UsageError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
    return False


def _show_memory(console: Console, info: dict[str, Any]) -> None:
    console.print("[bold]core memory[/bold]")
    for label, (value, limit) in info["core"].items():
        console.print(f"  [cyan]{escape(label)}[/cyan] ({len(value)}/{limit} chars): {escape(value or '(empty)')}")
    console.print(f"[bold]recall memory[/bold]: {info['recall_count']} messages")
    for role, text in info["recall_latest"]:
        console.print(f"  {role}: {escape(_short(text, 120))}")
    console.print(f"[bold]archival memory[/bold]: {info['archival_count']} passages")
    for text in info["archival_latest"]:
        console.print(f"  - {escape(_short(text, 120))}")
    console.print(f"[dim]context: {info['context_tokens']}/{info['context_window']} tokens[/dim]")


def _show_hits(console: Console, hits: list[Any]) -> None:
    if not hits:
        console.print("no memories found")
        return
    table = Table()
    for column in ("#", "score", "kind", "content", "why"):
        table.add_column(column, overflow="fold")
    for rank, hit in enumerate(hits, start=1):
        table.add_row(str(rank), f"{hit.score:.3f}", hit.record.kind.value,
                      escape(_short(hit.record.content, 200)), escape(compact_reasons(hit.reasons)))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``chat`` to the root command."""
    app.command("chat")(reported(chat))
