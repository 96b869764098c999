"""Where a saved thread stands: finished, running now, waiting for an answer, or stopped before the end.

The checkpoint tells most of it, as LangGraph's ``StateSnapshot`` does: a
pending ``interrupt()`` is in the checkpoint's pending writes (``interrupts``);
a node still due to run has its trigger set (``branch:to:NODE``, or
``__start__`` for input no step has read yet: ``next``); a step whose writes
were saved but whose checkpoint was not has pending writes (``tasks``). What
the checkpoint cannot tell is whether a process is working on the thread right
now or died mid-step: a run holds an advisory lock for its thread
(:func:`running`) while it goes on, which the operating system drops when the
process ends, however it ends, so :func:`is_running` sees only live runs.

The locks are files under ``$MNEMOS_HOME/runs``, one per checkpoint location
and thread: runs in other processes of the same machine and user are seen,
runs on other machines sharing a PostgreSQL database are not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from mnemos._files import make_private_dirs
from mnemos.config import mnemos_home

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows: no run is seen as running there
    fcntl = None  # type: ignore[assignment]

__all__ = ["ThreadStatus", "is_running", "running", "thread_status"]

ThreadStatus = Literal["finished", "running", "interrupted", "unfinished"]


def _lock_path(location: str, thread_id: str) -> Path:
    from mnemos.graphs.checkpoint import _parse_location as parse_location
    from mnemos.graphs.checkpoint import default_checkpoint_url

    kind, target = parse_location(location or default_checkpoint_url())
    where = str(Path(target).expanduser().resolve()) if kind == "sqlite" else target
    digest = hashlib.sha256(f"{kind}\0{where}\0{thread_id}".encode()).hexdigest()[:32]
    return mnemos_home() / "runs" / f"{digest}.lock"


@contextmanager
def running(location: str | Path | None, thread_id: str) -> Iterator[None]:
    """Hold the run lock of ``thread_id`` at the checkpoint ``location`` while the block runs."""
    if fcntl is None:
        yield
        return
    path = _lock_path(str(location or ""), thread_id)
    make_private_dirs(path.parent)
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            held = True
        except OSError:  # another live run has it; the checkpointer's own rules apply to what follows
            held = False
        try:
            yield
        finally:
            if held:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def is_running(location: str | Path | None, thread_id: str) -> bool:
    """Whether a live process holds the run lock of ``thread_id`` at ``location``."""
    if fcntl is None:
        return False
    path = _lock_path(str(location or ""), thread_id)
    if not path.exists():
        return False
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return False


def thread_status(item: Any, *, live: bool = False) -> tuple[ThreadStatus, bool]:
    """``(status, waits_for_answer)`` of a thread from its latest checkpoint tuple.

    ``interrupted``: paused at an ``interrupt()``, waiting for an answer;
    ``running``: ``live`` (a process runs it now) and something is left to run;
    ``unfinished``: something is left to run and no process runs it (killed
    mid-step, or a node failed); ``finished``: nothing is left to run.
    """
    writes = item.pending_writes or []
    if any(w[1] == "__interrupt__" for w in writes):
        return "interrupted", True
    values = item.checkpoint.get("channel_values") or {}
    left = bool(writes) or any(str(k).startswith("branch:to:") or k == "__start__" for k in values)
    if not left:
        return "finished", False
    return ("running" if live else "unfinished"), False
