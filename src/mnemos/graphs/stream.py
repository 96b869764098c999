"""Show a graph run as it happens: which node ran, what it said, which tools it
called, which memories it recalled (and why) and which it wrote.

:func:`stream_run` runs a compiled graph with ``stream_mode=["updates",
"custom"]`` and hands every event to a :class:`RunPrinter`, which writes them
readably with rich, or as JSON lines (one object per event) for programs.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Mapping, Sequence
from typing import IO, Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.types import Interrupt
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from mnemos.graphs.supervisor import ROUTE_KEY

__all__ = ["RunPrinter", "jsonable", "message_to_dict", "stream_run"]

_HIDDEN_KEYS = frozenset({"messages", "memory_trace", ROUTE_KEY})


def message_to_dict(message: BaseMessage) -> dict[str, Any]:
    """The parts of a message worth showing: type, name, text, tool calls."""
    data: dict[str, Any] = {"type": message.type, "name": message.name, "content": message.text}
    if isinstance(message, AIMessage) and message.tool_calls:
        data["tool_calls"] = [{"name": c["name"], "args": c["args"]} for c in message.tool_calls]
    if isinstance(message, ToolMessage):
        data["tool_call_id"] = message.tool_call_id
    return data


def jsonable(value: Any) -> Any:
    """``value`` with messages, interrupts, models and dataclasses made JSON-friendly."""
    if isinstance(value, BaseMessage):
        return message_to_dict(value)
    if isinstance(value, Interrupt):
        return {"id": value.id, "value": jsonable(value.value)}
    if isinstance(value, BaseModel):
        return jsonable(value.model_dump())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _short(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class RunPrinter:
    """Writes the events of a run, readably (rich) or as JSON lines.

    Memory events an agent emits while it runs are held until the agent's
    update arrives, then shown in a natural order: what it recalled, what it
    said, what it wrote.
    """

    def __init__(
        self, console: Console | None = None, *, json_lines: bool = False, out: IO[str] | None = None
    ) -> None:
        self.json_lines = json_lines
        self._out = out
        self.console = console or Console(file=out or sys.stdout, highlight=False)
        self._pending: list[dict[str, Any]] = []

    # -- entry points ----------------------------------------------------------------------

    def event(self, namespace: Sequence[str], mode: str, chunk: Any) -> None:
        """Handle one ``(namespace, mode, chunk)`` from ``graph.stream(..., subgraphs=True)``."""
        if self.json_lines:
            self._json_event(namespace, mode, chunk)
            return
        if mode == "custom":
            self._pending.append(chunk if isinstance(chunk, dict) else {"event": "custom", "data": chunk})
            return
        if mode == "updates" and isinstance(chunk, Mapping):
            for node, update in chunk.items():
                if node == "__interrupt__":
                    for item in update:
                        self.interrupt(item)
                else:
                    self._node(_path(namespace, node), update)
        self._flush()

    def emit(self, record: Mapping[str, Any]) -> None:
        """Write one JSON line (json mode) or a dim status line."""
        if self.json_lines:
            self._write(json.dumps(jsonable(record), ensure_ascii=False))
        else:
            text = " ".join(f"{k}={v}" for k, v in record.items() if k != "type")
            self.console.print(f"[dim]{escape(text)}[/dim]")

    def interrupt(self, item: Interrupt) -> None:
        """Show a pending interrupt (an approval question, or any value)."""
        if self.json_lines:
            self._write(json.dumps({"type": "interrupt", "data": jsonable(item)}, ensure_ascii=False))
            return
        value = item.value
        if isinstance(value, Mapping) and value.get("type") == "approval":
            body = f"[bold]{escape(str(value.get('question', '')))}[/bold]"
            if value.get("draft"):
                body += f"\n\n{escape(_short(str(value['draft']), 1200))}"
            title = f"waiting for approval at {value.get('node', '?')}"
        else:
            body, title = escape(json.dumps(jsonable(value), ensure_ascii=False)), "waiting for input"
        self.console.print(Panel(body, title=title, border_style="yellow", expand=False))

    # -- rendering ---------------------------------------------------------------------------

    def _node(self, path: str, update: Any) -> None:
        recalls = [e for e in self._pending if e.get("event") == "recall"]
        others = [e for e in self._pending if e.get("event") != "recall"]
        self._pending = []
        route = [e for e in others if e.get("event") == "route"]
        self.console.print(f"[bold cyan]▶ {escape(path)}[/bold cyan]")
        for event in recalls:
            self._custom(event)
        for event in route:
            self._custom(event)
        if isinstance(update, Mapping):
            for message in update.get("messages") or []:
                if isinstance(message, BaseMessage):
                    self._message(message)
            for key, value in update.items():
                if key not in _HIDDEN_KEYS:
                    self.console.print(f"  [dim]{escape(key)} = {escape(_short(repr(value), 200))}[/dim]")
        for event in others:
            if event.get("event") != "route":
                self._custom(event)

    def _message(self, message: BaseMessage) -> None:
        who = escape(message.name or message.type)
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                args = json.dumps(call["args"], ensure_ascii=False)
                self.console.print(f"  [magenta]tool call[/magenta] {escape(call['name'])}({escape(_short(args, 200))})")
            if message.text.strip():
                self.console.print(f"  [green]{who}:[/green] {escape(_short(message.text, 2000))}")
        elif isinstance(message, ToolMessage):
            self.console.print(f"  [magenta]tool result[/magenta] {escape(message.name or '')}: "
                               f"{escape(_short(message.text, 300))}")
        elif isinstance(message, HumanMessage):
            self.console.print(f"  [yellow]{who}:[/yellow] {escape(_short(message.text, 1000))}")
        else:
            self.console.print(f"  {who}: {escape(_short(message.text, 1000))}")

    def _custom(self, event: Mapping[str, Any]) -> None:
        kind = event.get("event")
        agent = escape(str(event.get("agent", "")))
        if kind == "recall":
            memories = event.get("memories") or []
            if not memories:
                self.console.print(f"  [blue]{agent} recalled no memories[/blue]")
            else:
                self.console.print(f"  [blue]{agent} recalled {len(memories)} "
                                   f"memor{'y' if len(memories) == 1 else 'ies'}:[/blue]")
            for m in memories:
                score = m.get("score")
                score_text = f"score {score:.3f}" if isinstance(score, (int, float)) else ""
                self.console.print(f"    [blue]•[/blue] {escape('[' + str(m.get('kind', '?')) + ']')} "
                                   f"{escape(_short(str(m.get('content', '')), 300))}")
                conf = m.get("confidence")
                extra = f" · confidence {conf:.2f}" if isinstance(conf, (int, float)) else ""
                extra += f" · {m['source']}" if m.get("source") else ""
                self.console.print(f"      [dim]why: {escape(str(m.get('why', '')))}"
                                   f"{' · ' + score_text if score_text else ''}{escape(extra)}[/dim]")
            for rule in event.get("rules") or []:
                self.console.print(f"    [blue]rule:[/blue] {escape(str(rule))}")
        elif kind == "memory_write":
            extra = f" (supersedes {event['supersedes']})" if event.get("supersedes") else ""
            self.console.print(f"  [blue]{agent} remembered[/blue] {escape('[' + str(event.get('kind', '?')) + ']')} "
                               f"{escape(_short(str(event.get('content', '')), 300))}{escape(extra)}")
        elif kind == "sources":
            for src in event.get("sources") or []:
                conf = src.get("confidence")
                conf_text = f" · confidence {conf:.2f}" if isinstance(conf, (int, float)) else ""
                self.console.print(f"  [blue]source {escape(str(src.get('ref')))}[/blue] "
                                   f"{escape(str(src.get('source') or src.get('kind')))}"
                                   f"[dim] · {escape(str(src.get('id')))}{conf_text}[/dim]")
        elif kind == "route":
            reason = f" ({event['reason']})" if event.get("reason") else ""
            self.console.print(f"  [cyan]{agent} → {escape(str(event.get('next')))}[/cyan]{escape(reason)}")
        elif kind == "approval":
            verdict = "approved" if event.get("approved") else "rejected"
            feedback = f": {event['feedback']}" if event.get("feedback") else ""
            self.console.print(f"  [yellow]{verdict}{escape(feedback)}[/yellow]")
        else:
            self.console.print(f"  [dim]{escape(json.dumps(jsonable(event), ensure_ascii=False))}[/dim]")

    def _flush(self) -> None:
        """Events no node update claimed (e.g. from an agent used as a tool)."""
        for event in self._pending:
            self._custom(event)
        self._pending = []

    def finish(self) -> None:
        """Show anything still held back."""
        if not self.json_lines:
            self._flush()

    # -- json -----------------------------------------------------------------------------------

    def _json_event(self, namespace: Sequence[str], mode: str, chunk: Any) -> None:
        if mode == "updates" and isinstance(chunk, Mapping):
            for node, update in chunk.items():
                if node == "__interrupt__":
                    for item in update:
                        self.interrupt(item)
                    continue
                if isinstance(update, Mapping):  # memory events already went out as "custom"
                    update = {k: v for k, v in update.items() if k not in ("memory_trace", ROUTE_KEY)}
                record = {"type": "update", "namespace": list(namespace), "node": node,
                          "update": jsonable(update)}
                self._write(json.dumps(record, ensure_ascii=False))
        else:
            record = {"type": mode, "namespace": list(namespace), "data": jsonable(chunk)}
            self._write(json.dumps(record, ensure_ascii=False))

    def _write(self, line: str) -> None:
        out = self._out or sys.stdout
        out.write(line + "\n")
        out.flush()


def _path(namespace: Sequence[str], node: str) -> str:
    parents = [part.split(":", 1)[0] for part in namespace]
    return " › ".join([*parents, node])


def stream_run(
    graph: Any, graph_input: Any, config: RunnableConfig | Mapping[str, Any], printer: RunPrinter
) -> list[Interrupt]:
    """Run ``graph`` on ``graph_input``, printing every step; return the pending interrupts."""
    for namespace, mode, chunk in graph.stream(
        graph_input, config, stream_mode=["updates", "custom"], subgraphs=True
    ):
        printer.event(namespace, mode, chunk)
    printer.finish()
    if getattr(graph, "checkpointer", None) is None:
        return []
    return list(graph.get_state(config).interrupts)
