"""``mnemos brainstorm``: a group of persona agents brainstorms a topic and remembers it.

Shows who speaks and the idea ledger as the session runs, then writes
``transcript.md``, ``transcript.json``, ``ideas.md`` and ``ideas.json`` to
``--out`` (default ``$MNEMOS_HOME/brainstorms/THREAD``). Sessions on the
LangGraph engine are checkpointed (``--checkpoints``) and continue with
``--resume --thread ID``.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from mnemos._cli._common import reported, stderr, stdout
from mnemos.exceptions import UsageError

__all__ = ["brainstorm", "register"]


def brainstorm(
    topic: Annotated[str | None, typer.Argument(metavar="TOPIC", help="What to brainstorm (omit with --resume).")] = None,
    personas: Annotated[str | None, typer.Option("--personas", "-p", metavar="FILE|builtin",
                                                 help="A persona file (.toml, .json, .yaml) or builtin[:NAME] "
                                                      "(default: builtin).")] = None,
    rounds: Annotated[int | None, typer.Option("--rounds", "-r", min=1,
                                               help="Rounds (each participant speaks once per round; default 3).")] = None,
    engine: Annotated[str, typer.Option("--engine", "-e", help="langgraph or autogen.")] = "langgraph",
    thread: Annotated[str | None, typer.Option("--thread", "-t", help="Thread id (default: a new one).")] = None,
    user: Annotated[str | None, typer.Option(
        "--user", "-u", help="User id: whose memories the agents use (default: 'default'; "
                             "required when MNEMOS_REQUIRE_USER is on).")] = None,
    store: Annotated[str | None, typer.Option("--store", metavar="URL",
                                              help="Memory store (default: the configured one).")] = None,
    checkpoints: Annotated[str | None, typer.Option("--checkpoints", metavar="URL",
                                                    help="Where sessions are saved (default: $MNEMOS_HOME/checkpoints.db).")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="provider:model (default: the configured one).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Directory for the transcript and ideas.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the unfinished session of --thread.")] = False,
    show_prompts: Annotated[bool, typer.Option("--show-prompts", help="Print each speaker's prompt.")] = False,
) -> None:
    """Brainstorm TOPIC with persona agents that remember earlier sessions."""
    from mnemos.agents import RunIdentity, offline_fallback_notice, resolve_model
    from mnemos.config import mnemos_home
    from mnemos.graphs._personas import load_personas
    from mnemos.graphs.brainstorm import (
        brainstorm_chat,
        finished_session,
        run_session,
        saved_settings,
    )
    from mnemos.memory_adapters.registry import open_memory

    if engine not in ("langgraph", "autogen"):
        raise UsageError(f"--engine is langgraph or autogen, not {engine!r}")
    if resume and not thread:
        raise UsageError("--resume needs the --thread of the session to continue")
    if resume and engine == "autogen":
        raise UsageError("sessions on the autogen engine are not checkpointed; resume needs --engine langgraph")
    if not resume and not (topic and topic.strip()):
        raise UsageError("give a TOPIC to brainstorm (or --resume --thread ID)")
    if resume and thread:  # the session goes on as it was started, unless told otherwise
        saved = saved_settings(checkpoints, thread) or {}
        personas = personas or saved.get("personas")
        rounds = rounds or saved.get("rounds")
        store = store or saved.get("store") or None
        model = model or saved.get("model") or None
        user = saved.get("user") or user
    user = RunIdentity.from_config({"configurable": {"user_id": user}}).user_id
    personas, rounds = personas or "builtin", int(rounds or 3)
    team = load_personas(personas)
    agents_log = logging.getLogger("mnemos.agents")
    quiet, agents_log.disabled = agents_log.disabled, True  # the notice is printed below, once
    try:
        chat_model = resolve_model(model)
    finally:
        agents_log.disabled = quiet
    notice = offline_fallback_notice()
    if notice:
        stderr().print(f"[yellow]{notice}[/yellow]", highlight=False)
    memory = open_memory(store)
    chat, _ = brainstorm_chat(team, model=chat_model, memory=memory, rounds=rounds)
    thread_id = thread or f"brainstorm-{uuid.uuid4().hex[:8]}"
    console = stdout()
    console.print(f"[dim]brainstorm · thread {thread_id} · team {team.team} · engine {engine} · "
                  f"model {getattr(chat_model, 'model_name', None) or type(chat_model).__name__}[/dim]",
                  highlight=False)
    if engine == "langgraph" and not resume:
        console.print(f"[dim]if interrupted, continue with: mnemos brainstorm --resume --thread {thread_id}[/dim]",
                      highlight=False)
    # A finished session resumed with --out (e.g. stopped after its last checkpoint, before its
    # files were written) writes its transcript; without --out it is refused as before.
    done = finished_session(chat, thread_id=thread_id, user_id=user, checkpoints=checkpoints) \
        if resume and engine == "langgraph" and out is not None else None
    try:
        if done is not None:
            console.print(f"the session on thread {thread_id} is already finished: writing its transcript",
                          highlight=False)
            result = done
        else:
            with _LiveView(console, prompts=show_prompts) as view:
                if engine == "autogen":
                    from mnemos.graphs.autogen import run_brainstorm_on_autogen

                    assert topic is not None
                    result = run_brainstorm_on_autogen(chat, topic, thread_id=thread_id, user_id=user,
                                                       on_update=view.update)
                else:
                    result = run_session(chat, topic, thread_id=thread_id, user_id=user,
                                         checkpoints=checkpoints, resume=resume, on_update=view.update,
                                         on_event=view.event, settings={"personas": _lasting(personas),
                                                                        "store": store, "model": model})
    finally:
        memory.close()
    console.print(_ledger_table(result.ideas))
    if result.rehearsal:
        console.print("[yellow]rehearsal on the offline model: placeholder ideas, nothing stored[/yellow]",
                      highlight=False)
    if result.ledger.get("dropped"):
        console.print(f"[dim]dropped {len(result.ledger['dropped'])} repeat(s) of ideas rejected earlier[/dim]")
    directory = out or (mnemos_home() / "brainstorms" / thread_id)
    paths = result.write(directory, prompts=show_prompts)
    console.print("wrote " + ", ".join(str(p) for p in paths), highlight=False, soft_wrap=True)


class _LiveView:
    """Who speaks and the ledger: a live panel on a terminal, plain lines otherwise."""

    def __init__(self, console: Any, *, prompts: bool) -> None:
        self.console = console
        self.prompts = prompts
        self.ideas: list[dict[str, Any]] = []
        self.ledger: dict[str, Any] | None = None
        self.speaking: str | None = None
        self._live = Live(self._render(), console=console, transient=True) if console.is_terminal else None

    def __enter__(self) -> _LiveView:
        if self._live is not None:
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()

    def _render(self) -> Group:
        who = f"[bold]{self.speaking}[/bold] is speaking…" if self.speaking else "the group is gathering…"
        return Group(Text.from_markup(who), _ledger_table(self.ideas))

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def event(self, event: dict[str, Any]) -> None:
        """A custom stream event: show what a speaker recalls."""
        if event.get("event") == "recall" and event.get("memories"):
            recalled = "; ".join(m["content"][:60] for m in event["memories"][:2])
            self.console.print(f"[dim]{event['agent']} recalls: {recalled}[/dim]", highlight=False)

    def update(self, node: str, update: dict[str, Any]) -> None:
        """A graph step: print its messages, prompts, notes and memory writes; refresh the ledger."""
        console = self.console
        if self.prompts:
            for record in update.get("prompts", []):
                console.rule(f"prompt of {record['speaker']} · {record['tokens']}/{record['budget']} tokens")
                for m in record["messages"]:
                    console.print(Text.assemble((m["role"], "bold"), ": ", m["content"]), highlight=False)
        for message in update.get("messages", []):
            name = getattr(message, "name", None) or node
            round_ = (getattr(message, "additional_kwargs", None) or {}).get("round")
            header = f"[bold cyan]{name}[/bold cyan]" + (f" [dim](round {round_})[/dim]" if round_ else "")
            console.print(header, highlight=False)
            console.print(message.text, highlight=False, markup=False)
        for note in update.get("notes", []):
            console.print(f"[dim]note: {note}[/dim]", highlight=False)
        for event in update.get("memory_trace", []):
            if event.get("event") == "memory_write":
                console.print(f"[dim]remembered ({event['kind']}, {event['agent']}): {event['content'][:100]}[/dim]",
                              highlight=False)
        if "ledger" in update:  # what the step changed in the ledger
            from mnemos.graphs._ledger import apply_patch

            self.ledger = apply_patch(self.ledger, update["ledger"])
            self.ideas = list(self.ledger["ideas"])
        if node == "select":
            self.speaking = update.get("next") if update.get("next") != "close" else None
        self._refresh()


def _lasting(personas: str) -> str:
    """A persona file as an absolute path, so a resume from another directory finds it."""
    if personas == "builtin" or personas.startswith("builtin:"):
        return personas
    return str(Path(personas).expanduser().resolve())


def _ledger_table(ideas: list[dict[str, Any]]) -> Table:
    table = Table(title="Ideas")
    for column in ("#", "idea", "author", "score", "status"):
        table.add_column(column)
    colors = {"accepted": "green", "rejected": "red", "merged": "dim", "proposed": "yellow"}
    for i in ideas:
        status = i["status"] + ("" if i.get("origin") == "session" else " (earlier)")
        table.add_row(str(i["id"]), i["text"], i["author"], f"{sum(i['votes'].values()):+d}",
                      f"[{colors.get(i['status'], 'white')}]{status}[/]")
    return table


def register(app: typer.Typer) -> None:
    """Add ``brainstorm`` to the root command."""
    app.command("brainstorm")(reported(brainstorm))
