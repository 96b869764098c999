"""Read saved threads out of a checkpointer: rows, status, the step-by-step run, brainstorm state.

A thread's row comes from its latest root checkpoint: the graph it ran
(``mnemos_graph`` in the metadata; ``brainstorm`` for a brainstorm session),
its user, its step. Its status is the one ``mnemos threads list`` shows
(:func:`mnemos.graphs._runs.thread_status`, from the checkpoint and the thread's
run lock):

- ``running``: the UI, or another process (``mnemos run``, say), is running it now;
- ``interrupted``: it waits for an answer (a pending ``interrupt()``);
- ``unfinished``: it stopped before the end (cut off, or a node failed) and can be resumed;
- ``finished``: nothing is left to run.

A brainstorm session is ``finished`` once it records why it stopped.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from mnemos.exceptions import MnemosError, UsageError
from mnemos.graphs._runs import is_running, thread_status
from mnemos.graphs.stream import jsonable

__all__ = [
    "BRAINSTORM",
    "GraphCache",
    "Step",
    "ThreadRow",
    "brainstorm_state",
    "find_thread",
    "thread_config",
    "thread_rows",
    "thread_steps",
]

BRAINSTORM = "brainstorm"
"""The ``mnemos_graph`` a brainstorm session records."""


@dataclass
class ThreadRow:
    """One saved thread, as the threads page lists it."""

    thread: str
    graph: str | None
    user: str | None
    step: int | None
    updated: str | None
    checkpoints: int
    interrupted: bool
    store: str | None = None
    status: str = "saved"

    @property
    def kind(self) -> str:
        return "brainstorm" if self.graph == BRAINSTORM else "graph"


def _new_row(thread: str, item: Any, live: bool) -> ThreadRow:
    meta = item.metadata or {}
    status, waits = thread_status(item, live=live)
    row = ThreadRow(
        thread=thread, graph=meta.get("mnemos_graph"), user=meta.get("mnemos_user"),
        step=meta.get("step"), updated=item.checkpoint.get("ts"), checkpoints=0,
        interrupted=waits, store=meta.get("mnemos_store") or None, status=status,
    )
    if row.graph == BRAINSTORM and status == "unfinished":  # a session says when it is done
        values = item.checkpoint.get("channel_values") or {}
        row.status = "finished" if values.get("stop_reason") else "unfinished"
    return row


def _rows(
    saver: BaseCheckpointSaver[Any], config: dict[str, Any] | None, location: str | None, busy: set[str]
) -> dict[str, ThreadRow]:
    rows: dict[str, ThreadRow] = {}
    for item in saver.list(config):  # type: ignore[arg-type]
        conf = item.config["configurable"]
        if conf.get("checkpoint_ns"):
            continue
        tid = conf["thread_id"]
        row = rows.get(tid)
        if row is None:  # the list is newest first: the first one seen is the latest
            row = rows[tid] = _new_row(tid, item, tid in busy or is_running(location, tid))
        row.checkpoints += 1
    return rows


def thread_rows(
    saver: BaseCheckpointSaver[Any],
    *,
    location: str | None = None,
    user: str | None = None,
    running: Iterable[str] = (),
) -> list[ThreadRow]:
    """Every thread (of ``user``, if given), most recently updated first, with its status:
    ``running`` if it is among ``running`` (the UI's own runs) or a process holds its run
    lock at the checkpoint ``location`` (as the CLI names it; ``None``: the default)."""
    rows = [r for r in _rows(saver, None, location, set(running)).values() if user is None or r.user == user]
    return sorted(rows, key=lambda r: r.updated or "", reverse=True)


def find_thread(
    saver: BaseCheckpointSaver[Any],
    thread: str,
    user: str | None,
    *,
    location: str | None = None,
    running: Iterable[str] = (),
) -> ThreadRow:
    """The row of one thread, with its status as in :func:`thread_rows`; :class:`LookupError`
    if there is none (or it is another user's)."""
    if not isinstance(thread, str) or not thread.strip() or len(thread) > 200:
        raise UsageError(f"bad thread id {thread!r}")
    latest = saver.get_tuple({"configurable": {"thread_id": thread}})
    if latest is None:
        raise LookupError(f"no saved thread {thread!r}")
    meta = latest.metadata or {}
    if user is not None and meta.get("mnemos_user") != user:
        raise LookupError(f"no saved thread {thread!r}")  # another principal's thread does not exist for you
    row = _rows(saver, {"configurable": {"thread_id": thread}}, location, set(running)).get(thread)
    if row is None:
        raise LookupError(f"no saved thread {thread!r}")
    return row


class GraphCache:
    """Graphs named ``MODULE:GRAPH``, loaded once and compiled with the UI's checkpointer.

    Loading imports the module, so only specs the UI was given or threads
    recorded are ever loaded; never one a request names.
    """

    def __init__(self, saver: BaseCheckpointSaver[Any]) -> None:
        self.saver = saver
        self._graphs: dict[tuple[str, str | None], Any] = {}
        self._errors: dict[tuple[str, str | None], str] = {}
        self._lock = threading.Lock()

    def get(self, spec: str, store: str | None = None) -> Any:
        """The compiled graph; :class:`MnemosError` (or the import's error) if it cannot load."""
        from mnemos.graphs.loading import load_graph

        key = (spec, store)
        with self._lock:
            if key in self._graphs:
                return self._graphs[key]
            if key in self._errors:
                raise UsageError(self._errors[key])
            previous = os.environ.get("MNEMOS_STORE")
            if store:  # graph modules open their memory when loaded; this is how they learn the store
                os.environ["MNEMOS_STORE"] = store
            try:
                graph = load_graph(spec, self.saver)
            except Exception as exc:
                self._errors[key] = f"cannot load graph {spec}: {type(exc).__name__}: {exc}"
                raise UsageError(self._errors[key]) from None
            finally:
                if store:
                    if previous is None:
                        os.environ.pop("MNEMOS_STORE", None)
                    else:
                        os.environ["MNEMOS_STORE"] = previous
            self._graphs[key] = graph
            return graph


def thread_config(row: ThreadRow) -> dict[str, Any]:
    """The run config of a thread: its id and its owner (a thread refuses any other user)."""
    return {"configurable": {"thread_id": row.thread, "user_id": row.user or "default"}}


@dataclass
class Step:
    """One node's work in a run: what it recalled (and why), said, called and wrote."""

    step: int
    node: str
    created: str | None
    messages: list[dict[str, Any]] = field(default_factory=list)
    recalls: list[dict[str, Any]] = field(default_factory=list)
    writes: list[dict[str, Any]] = field(default_factory=list)
    routes: list[dict[str, Any]] = field(default_factory=list)
    other: dict[str, Any] = field(default_factory=dict)
    interrupts: list[dict[str, Any]] = field(default_factory=list)


_SHOWN_ELSEWHERE = frozenset({"messages", "memory_trace", "mnemos_route"})


def _step_of(number: int, created: str | None, name: str, result: Any) -> Step:
    step = Step(step=number, node=name, created=created)
    if not isinstance(result, Mapping):
        return step
    for message in jsonable(result.get("messages") or []):
        step.messages.append(message)
    for event in result.get("memory_trace") or []:
        kind = event.get("event") if isinstance(event, Mapping) else None
        if kind == "recall":
            step.recalls.append(jsonable(event))
        elif kind == "memory_write":
            step.writes.append(jsonable(event))
        elif kind == "route":
            step.routes.append(jsonable(event))
    route = result.get("mnemos_route")
    if isinstance(route, Mapping):  # a supervisor's decision: {supervisor: {next, reason, ...}}
        for decision in route.values():
            if isinstance(decision, Mapping) and decision.get("next"):
                step.routes.append({"next": str(decision["next"]), "reason": decision.get("reason")})
    step.other = {k: jsonable(v) for k, v in result.items() if k not in _SHOWN_ELSEWHERE}
    return step


def thread_steps(graph: Any, row: ThreadRow) -> tuple[list[Step], Any]:
    """The run, oldest step first, and the thread's current ``StateSnapshot``."""
    config = thread_config(row)
    state = graph.get_state(config)
    steps: list[Step] = []
    for snap in reversed(list(graph.get_state_history(config))):
        number = (snap.metadata or {}).get("step", -1)
        for task in snap.tasks:
            if task.result is None and not task.interrupts:
                continue
            step = _step_of(number + 1, snap.created_at, task.name, task.result)
            step.interrupts = [jsonable(i) for i in task.interrupts]
            steps.append(step)
    return steps, state


def brainstorm_state(saver: BaseCheckpointSaver[Any], thread: str) -> dict[str, Any]:
    """A brainstorm session's state values (topic, messages, ledger, recalled, summary...).

    Read through the session's graph: its transcript and ledger are delta
    channels, which a checkpoint holds as steps to replay, not as values.
    """
    from mnemos.graphs.brainstorm import graph_for_thread

    latest = saver.get_tuple({"configurable": {"thread_id": thread}})
    if latest is None:
        raise LookupError(f"no saved brainstorm {thread!r}")
    meta = latest.metadata or {}
    config = {"configurable": {"thread_id": thread, "user_id": meta.get("mnemos_user") or "default"}}
    try:
        graph = graph_for_thread(meta, saver)
        return dict(graph.get_state(config).values or {})
    except MnemosError:  # its persona file is gone: what the checkpoint holds itself
        return dict(latest.checkpoint.get("channel_values") or {})
