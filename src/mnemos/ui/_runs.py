"""Runs the UI starts: a graph run, a resume or an answer, each on a worker thread.

A page learns what happens through the checkpointer (every step is saved) and
through :meth:`RunManager.version`, a counter that moves whenever a run of a
thread starts, steps or ends; the thread page's event stream watches both.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RunInfo", "RunManager"]


@dataclass
class RunInfo:
    """The UI's own run of one thread."""

    thread: str
    action: str
    graph: str | None = None
    user: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    error: str | None = None
    steps: int = 0

    @property
    def running(self) -> bool:
        return self.finished is None


class RunManager:
    """At most one run per thread at a time, on daemon worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, RunInfo] = {}
        self._versions: dict[str, int] = {}
        self._changed = threading.Condition(self._lock)

    def get(self, thread: str) -> RunInfo | None:
        with self._lock:
            return self._runs.get(thread)

    def running(self, thread: str) -> bool:
        info = self.get(thread)
        return info is not None and info.running

    def active(self) -> set[str]:
        """The threads being run now."""
        with self._lock:
            return {t for t, info in self._runs.items() if info.running}

    def version(self, thread: str) -> int:
        with self._lock:
            return self._versions.get(thread, 0)

    def _bump(self, thread: str) -> None:
        self._versions[thread] = self._versions.get(thread, 0) + 1
        self._changed.notify_all()

    def step(self, thread: str) -> None:
        """Called by a run after each step."""
        with self._lock:
            info = self._runs.get(thread)
            if info is not None:
                info.steps += 1
            self._bump(thread)

    def wait(self, thread: str, version: int, timeout: float) -> int:
        """Block until the thread's version differs from ``version`` or ``timeout`` passes."""
        with self._changed:
            self._changed.wait_for(lambda: self._versions.get(thread, 0) != version, timeout)
            return self._versions.get(thread, 0)

    def start(
        self,
        thread: str,
        action: str,
        work: Callable[[RunInfo], Any],
        *,
        graph: str | None = None,
        user: str | None = None,
    ) -> RunInfo:
        """Run ``work(info)`` on a worker thread; refuse if this thread already runs."""
        from mnemos.exceptions import UsageError

        with self._lock:
            current = self._runs.get(thread)
            if current is not None and current.running:
                raise UsageError(f"thread {thread!r} is already running ({current.action})")
            info = RunInfo(thread=thread, action=action, graph=graph, user=user)
            self._runs[thread] = info
            self._bump(thread)

        def target() -> None:
            try:
                work(info)
            except BaseException as exc:  # a failed node: the thread keeps its last checkpoint
                info.error = f"{type(exc).__name__}: {exc}"
            finally:
                with self._lock:
                    info.finished = time.time()
                    self._bump(thread)

        worker = threading.Thread(target=target, name=f"mnemos-ui-run-{thread}", daemon=True)
        worker.start()
        return info

    def join(self, thread: str, timeout: float = 30.0) -> RunInfo | None:
        """Wait for a thread's run to end (for tests and scripts)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.get(thread)
            if info is None or not info.running:
                return info
            time.sleep(0.02)
        return self.get(thread)
