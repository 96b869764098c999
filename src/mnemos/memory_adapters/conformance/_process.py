"""Writer processes for the multi-process and SIGKILL tests (and the crash benchmark).

A writer is ``python -m mnemos.memory_adapters.conformance._worker SPEC``: it
opens the store described by a :class:`ProcessOpener`, prints ``ready``, then
adds memories one by one and prints ``ack <index> <id>`` (flushed) after each
``add`` has returned. Whatever the parent has read is acknowledged: after any
crash, every acknowledged write must still be in the store.
"""

from __future__ import annotations

import importlib
import json
import os
import queue
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from mnemos.exceptions import UsageError
from mnemos.memory_adapters.base import BaseMemoryAdapter
from mnemos.memory_adapters.conformance._support import write_content

__all__ = [
    "ImportKill",
    "KillTrial",
    "ProcessOpener",
    "WriterResult",
    "open_from_opener",
    "run_concurrent_writers",
    "run_killed_import",
    "run_sigkill_trial",
    "verify_acknowledged",
]

_WORKER = "mnemos.memory_adapters.conformance._worker"


@dataclass(kw_only=True, frozen=True)
class ProcessOpener:
    """How a separate Python process opens the same store.

    ``target`` is either a store URL given to
    :func:`mnemos.memory_adapters.registry.open_memory` (``native:///abs/memory.db``)
    or ``"package.module:factory"``, an importable callable that takes
    ``scope=`` and the ``options`` and returns an adapter. ``options`` must be
    JSON-serializable; ``env`` is added to the child's environment.
    """

    target: str
    options: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "options": dict(self.options)}


def open_from_opener(spec: Mapping[str, Any], *, scope: Sequence[str] = ()) -> BaseMemoryAdapter:
    """Open an adapter from :meth:`ProcessOpener.to_json` output (in the child process)."""
    target = spec["target"]
    options = dict(spec.get("options") or {})
    if "://" in target:
        from mnemos.memory_adapters.registry import open_memory

        return open_memory(target, scope=tuple(scope), **options)
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"an opener target is a store URL or 'module:factory', got {target!r}")
    factory = getattr(importlib.import_module(module_name), attr)
    adapter = factory(scope=tuple(scope), **options)
    if not isinstance(adapter, BaseMemoryAdapter):
        raise UsageError(f"{target} returned {type(adapter).__name__}, not a memory adapter")
    return adapter


@dataclass(kw_only=True, frozen=True)
class WriterResult:
    """What one writer process acknowledged before it ended (or was killed)."""

    label: str
    acknowledged: tuple[tuple[int, str], ...]
    """``(index, id)`` of every write whose ``ack`` line the parent read."""
    finished: bool
    """Whether the writer printed ``done``."""
    returncode: int | None
    stderr: str


@dataclass(kw_only=True, frozen=True)
class KillTrial:
    """One SIGKILL trial: the writer's acknowledgements and when it was killed."""

    writer: WriterResult
    planned_kill_after: int
    killed: bool
    """False if the writer finished all its writes before the signal."""


class _Writer:
    """A writer process with a thread draining its stdout into a queue."""

    def __init__(
        self,
        opener: ProcessOpener,
        *,
        scope: Sequence[str],
        label: str,
        wait_for_go: bool = False,
        **job: Any,
    ) -> None:
        spec = {
            "opener": opener.to_json(),
            "scope": list(scope),
            "label": label,
            "wait": wait_for_go,
            **job,
        }
        self.label = label
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", _WORKER, json.dumps(spec)],
            stdin=subprocess.PIPE if wait_for_go else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env={**os.environ, **opener.env},
            text=True,
            encoding="utf-8",
        )
        self.acks: list[tuple[int, str]] = []
        self.progress: list[tuple[int, int]] = []
        self.finished = False
        self._lines: queue.Queue[str | None] = queue.Queue()
        assert self.proc.stdout is not None
        threading.Thread(target=self._drain, args=(self.proc.stdout,), daemon=True).start()

    def _drain(self, stream: IO[str]) -> None:
        for line in stream:
            if line.endswith("\n"):  # a torn last line was never acknowledged
                self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def next_event(self, deadline: float) -> str | None:
        """The next line (acks are recorded), or None at end of output."""
        timeout = deadline - time.monotonic()
        if timeout <= 0:
            raise TimeoutError(f"writer {self.label} timed out:\n{self.stderr()}")
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"writer {self.label} timed out:\n{self.stderr()}") from None
        if line is None:
            return None
        if line.startswith("ack "):
            _, index, memory_id = line.split(" ", 2)
            self.acks.append((int(index), memory_id))
        elif line.startswith("progress "):
            _, done, total = line.split(" ")
            self.progress.append((int(done), int(total)))
        elif line == "done":
            self.finished = True
        return line

    def wait_ready(self, deadline: float) -> None:
        line = self.next_event(deadline)
        while line is not None and line != "ready":  # a library may print while importing
            line = self.next_event(deadline)
        if line is None:
            self.proc.wait()
            raise RuntimeError(
                f"writer {self.label} did not start (exit {self.proc.returncode}):\n{self.stderr()}"
            )

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.close()

    def drain(self, deadline: float) -> None:
        while self.next_event(deadline) is not None:
            pass
        self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()

    def result(self) -> WriterResult:
        return WriterResult(
            label=self.label,
            acknowledged=tuple(self.acks),
            finished=self.finished,
            returncode=self.proc.returncode,
            stderr=self.stderr(),
        )

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        self.kill()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()


def run_concurrent_writers(
    opener: ProcessOpener,
    *,
    labels: Sequence[str],
    count: int,
    namespace: Sequence[str],
    scope: Sequence[str] = (),
    timeout: float = 300.0,
) -> list[WriterResult]:
    """Start one writer per label, release them together, wait for all to finish."""
    deadline = time.monotonic() + timeout
    writers = [
        _Writer(opener, scope=scope, namespace=namespace, label=label, count=count, wait_for_go=True)
        for label in labels
    ]
    try:
        for writer in writers:
            writer.wait_ready(deadline)
        for writer in writers:
            writer.go()
        for writer in writers:
            writer.drain(deadline)
        return [w.result() for w in writers]
    finally:
        for writer in writers:
            writer.close()


def run_sigkill_trial(
    opener: ProcessOpener,
    *,
    writes: int,
    namespace: Sequence[str],
    label: str,
    rng: random.Random,
    scope: Sequence[str] = (),
    timeout: float = 600.0,
) -> KillTrial:
    """Run a writer of ``writes`` single adds and SIGKILL it at a random moment.

    The kill comes after a random number of acknowledged writes (1 to 95% of
    ``writes``) plus a random pause of up to 5 ms, so it lands anywhere in
    the add/commit/print cycle. Lines already printed are read after the kill:
    they were acknowledged too.
    """
    if not hasattr(signal, "SIGKILL"):
        raise UsageError("SIGKILL is not available on this platform")
    deadline = time.monotonic() + timeout
    kill_after = rng.randint(1, max(1, writes * 95 // 100))
    writer = _Writer(
        opener, scope=scope, namespace=namespace, label=label, count=writes, wait_for_go=False
    )
    try:
        writer.wait_ready(deadline)
        while len(writer.acks) < kill_after and not writer.finished:
            if writer.next_event(deadline) is None:
                break
        time.sleep(rng.uniform(0.0, 0.005))
        killed = writer.proc.poll() is None
        if killed:
            os.kill(writer.proc.pid, signal.SIGKILL)
        writer.drain(deadline)
        if not killed and writer.proc.returncode != 0:
            raise RuntimeError(f"writer {label} failed (exit {writer.proc.returncode}):\n{writer.stderr()}")
        return KillTrial(
            writer=writer.result(),
            planned_kill_after=kill_after,
            killed=killed and not writer.finished,
        )
    finally:
        writer.close()


@dataclass(kw_only=True, frozen=True)
class ImportKill:
    """A JSONL import killed part-way: how far it had reported before the signal."""

    progress: tuple[tuple[int, int], ...]
    """``(done, total)`` reports the importer printed before it died."""
    finished: bool
    """True if the import returned before the signal (then it must be complete)."""


def run_killed_import(
    opener: ProcessOpener,
    *,
    source: str,
    batch_size: int,
    rng: random.Random,
    scope: Sequence[str] = (),
    timeout: float = 300.0,
) -> ImportKill:
    """Import the JSONL file ``source`` in a child process and SIGKILL it mid-import.

    The kill follows a random progress report other than the last (plus up to
    5 ms), so it lands between batches of what should be one transaction.
    """
    if not hasattr(signal, "SIGKILL"):
        raise UsageError("SIGKILL is not available on this platform")
    deadline = time.monotonic() + timeout
    child = _Writer(opener, scope=scope, label="import", mode="import", file=source, batch_size=batch_size)
    try:
        child.wait_ready(deadline)
        target: int | None = None
        while not child.finished:
            if child.next_event(deadline) is None:
                break
            if child.progress and target is None:
                batches = -(-child.progress[0][1] // max(1, batch_size))
                target = rng.randint(1, max(1, batches - 1))
            if target is not None and len(child.progress) >= target:
                break
        time.sleep(rng.uniform(0.0, 0.005))
        if child.proc.poll() is None:
            os.kill(child.proc.pid, signal.SIGKILL)
        child.drain(deadline)
        if child.proc.returncode not in (0, -signal.SIGKILL):
            raise RuntimeError(f"the importer failed (exit {child.proc.returncode}):\n{child.stderr()}")
        return ImportKill(progress=tuple(child.progress), finished=child.finished)
    finally:
        child.close()


def verify_acknowledged(adapter: BaseMemoryAdapter, results: Sequence[WriterResult]) -> list[str]:
    """Problems with acknowledged writes: missing records or wrong contents (empty if none)."""
    problems: list[str] = []
    for result in results:
        acks = list(result.acknowledged)
        for start in range(0, len(acks), 500):
            chunk = acks[start : start + 500]
            found = adapter.get_many([memory_id for _, memory_id in chunk])
            for (index, memory_id), record in zip(chunk, found, strict=True):
                if record is None:
                    problems.append(f"{result.label} write {index} ({memory_id}) is missing")
                elif record.content != write_content(result.label, index):
                    problems.append(
                        f"{result.label} write {index} ({memory_id}) has content {record.content!r}"
                    )
    return problems
