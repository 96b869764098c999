"""The native store's write-ahead log is checkpointed on a background thread, not inside
the commit that fills it (real SQLite files)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from mnemos.memory_adapters import _native_checkpoint
from mnemos.memory_adapters._native_checkpoint import EVERY_COMMITS, INLINE_PAGES, Checkpointer
from mnemos.memory_adapters.native import NativeMemoryAdapter

NS = ("users", "ann")


def _commit_until_a_checkpoint(store: NativeMemoryAdapter, note: str = "note") -> Checkpointer:
    """The store's checkpointer, after :data:`EVERY_COMMITS` commits and the checkpoint they start."""
    checkpointer = store._store.checkpointer
    assert checkpointer is not None
    for i in range(EVERY_COMMITS):
        store.add(f"{note} {i}", namespace=NS)
    checkpointer.wait()
    return checkpointer


def test_commits_do_not_checkpoint_inline_and_a_background_thread_copies_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    original = Checkpointer._checkpoint

    def spy(self: Checkpointer) -> None:
        threads.append(threading.current_thread().name)
        original(self)

    monkeypatch.setattr(Checkpointer, "_checkpoint", spy)
    with NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing:64") as store:
        conn = store._store.conn
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == INLINE_PAGES
        checkpointer = store._store.checkpointer
        assert checkpointer is not None
        for i in range(EVERY_COMMITS - 1):
            store.add(f"note {i} about the garden shed", namespace=NS)
        checkpointer.wait()
        assert threads == []
        store.add("the last note", namespace=NS)
        checkpointer.wait()
        assert threads == ["mnemos-checkpoint"]
        assert checkpointer.last is not None
        busy, frames, copied = checkpointer.last
        assert busy == 0 and frames > 0 and copied == frames  # the whole log is in the file
        assert len(store.search("garden shed", namespace=NS)) == 10
    with NativeMemoryAdapter(tmp_path / "memory.db") as again:
        assert again.count(NS) == EVERY_COMMITS


def test_read_only_and_in_memory_stores_have_no_checkpointer(tmp_path: Path) -> None:
    with NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing:64") as store:
        store.add("a note", namespace=NS)
    with NativeMemoryAdapter(tmp_path / "memory.db", read_only=True) as reader:
        assert reader._store.checkpointer is None
    with NativeMemoryAdapter(":memory:", embedder="hashing:64") as private:
        assert private._store.checkpointer is None


def test_scrub_waits_for_a_background_checkpoint_and_empties_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_native_checkpoint, "EVERY_COMMITS", 1)  # a checkpoint after every commit
    with NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing:64") as store:
        for i in range(5):
            store.add(f"note {i}", namespace=NS)
        assert store.scrub()
        assert (tmp_path / "memory.db-wal").stat().st_size == 0


def test_a_forked_child_does_not_reuse_its_parents_checkpoint_connection(tmp_path: Path) -> None:
    with NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing:64") as store:
        checkpointer = _commit_until_a_checkpoint(store)
        parents = checkpointer._conn
        assert parents is not None
        checkpointer._pid = -1  # as seen from a child process after fork
        _commit_until_a_checkpoint(store, "more")
        assert checkpointer._conn is not None and checkpointer._conn is not parents
        assert checkpointer.last is not None and checkpointer.last[0] == 0
        parents.close()


def test_one_thread_serves_every_checkpoint_and_ends_with_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[threading.Thread] = []
    original = Checkpointer._checkpoint
    monkeypatch.setattr(Checkpointer, "_checkpoint",
                        lambda self: runs.append(threading.current_thread()) or original(self))
    store = NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing:64")
    checkpointer = store._store.checkpointer
    assert checkpointer is not None
    for i in range(3 * EVERY_COMMITS):
        store.add(f"note {i}", namespace=NS)
        checkpointer.wait()
    # three checkpoints, each finished before the next write, which so started the log again;
    # the commit after each woke the thread to see that (and it did not checkpoint)
    assert checkpointer.passes == 3 and len(runs) == 5
    assert len({id(t) for t in runs}) == 1  # woken five times, started once
    assert checkpointer.last is not None and checkpointer.last[0] == 0
    store.close()
    assert not runs[0].is_alive()


def test_a_checkpoint_is_started_once_its_commit_is_done(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commit that makes a checkpoint due does not write the log beside the checkpoint's
    first reads and writes: the thread is woken after the commit, for a single write and for
    a batch of writes (a turn's episode and reinforcement)."""
    seen: list[bool] = []
    original = Checkpointer.committed
    monkeypatch.setattr(Checkpointer, "committed",
                        lambda self: seen.append(store._store.conn.in_transaction) or original(self))
    store = NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing:64")
    first = store.add("a note about the shed", namespace=NS)
    with store._batch():
        store.add("a second note", namespace=NS)
        store.update(first.id, importance=0.9)
    assert seen == [False, False]
    store.close()


class _Overtaken:
    """The checkpoint thread's connection, where a checkpoint after every ``EVERY_COMMITS``-th
    commit is overtaken by the next commit: that commit's transaction begins before the
    checkpoint copies the log and commits after it (so the order never depends on timing)."""

    def __init__(self, conn: sqlite3.Connection, checkpointer: Checkpointer, *, every: bool = False) -> None:
        self.conn, self.checkpointer, self.every = conn, checkpointer, every
        self.inside, self.begun, self.copied = threading.Event(), threading.Event(), threading.Event()

    def execute(self, sql: str) -> sqlite3.Cursor:
        overtaken = self.every or self.checkpointer.commits % EVERY_COMMITS == 0
        if overtaken:
            self.inside.set()
            assert self.begun.wait(10)
            self.begun.clear()
        try:
            return self.conn.execute(sql)
        finally:
            if overtaken:
                self.copied.set()

    def close(self) -> None:
        self.conn.close()


def test_the_log_starts_again_when_each_periodic_checkpoint_is_overtaken_by_a_commit(tmp_path: Path) -> None:
    """Commits with pauses between them, but each checkpoint made due by the count of commits
    is overtaken by the commit after it, so it leaves that commit's frames in the log: the
    next checkpoint follows the next commit, copies the rest in the pause, and the log starts
    again from its beginning (the -wal file stops growing). A thread that only checkpointed
    every EVERY_COMMITS commits never saw the log all copied when a write began: the file
    grew by every commit."""
    path = tmp_path / "memory.db"
    with NativeMemoryAdapter(path, embedder="hashing:64") as store:
        checkpointer = store._store.checkpointer
        assert checkpointer is not None
        conn = _Overtaken(sqlite3.connect(str(path), isolation_level=None, check_same_thread=False), checkpointer)
        checkpointer._conn = conn  # type: ignore[assignment]
        sizes = []
        for cycle in range(12):
            while True:
                store.add(f"note {checkpointer.commits} of cycle {cycle} about the garden shed", namespace=NS,
                          dedup=False)
                if checkpointer.commits % EVERY_COMMITS == 0:
                    assert conn.inside.wait(10)  # the checkpoint has begun; a write begins beside it
                    conn.inside.clear()
                    with store._batch():
                        store.add(f"the overtaking note of cycle {cycle}", namespace=NS, dedup=False)
                        conn.begun.set()
                        assert conn.copied.wait(10)  # the checkpoint copied what it saw; now the commit
                        conn.copied.clear()
                    checkpointer.wait()
                    break
                checkpointer.wait()  # a pause: a due checkpoint ends before the next write
            sizes.append((path.parent / "memory.db-wal").stat().st_size)
        # the file stays as long as one cycle's log (its pages grow a little as the tables do);
        # a log that never started again made it grow by a cycle's worth each cycle
        assert sizes[-1] < 2 * sizes[0], sizes
        commits = checkpointer.commits
    with NativeMemoryAdapter(path) as again:
        assert again.count(NS) == commits == 12 * EVERY_COMMITS + 1


def _overtake(store: NativeMemoryAdapter, conn: _Overtaken, text: str) -> None:
    """A write that begins while the checkpoint thread's checkpoint waits in ``conn`` and
    commits once that checkpoint copied what it saw."""
    with store._batch():
        store.add(text, namespace=NS, dedup=False)
        conn.begun.set()
        assert conn.copied.wait(10)
        conn.copied.clear()


def test_checkpoints_after_single_commits_stop_after_catch_up_in_a_row(tmp_path: Path) -> None:
    """Writes that overtake every checkpoint: after the one the count of commits starts, the
    thread checkpoints after single commits CATCH_UP times, then waits for the count again
    (the log then grows, as it did before)."""
    path = tmp_path / "memory.db"
    with NativeMemoryAdapter(path, embedder="hashing:64") as store:
        checkpointer = store._store.checkpointer
        assert checkpointer is not None
        conn = _Overtaken(sqlite3.connect(str(path), isolation_level=None, check_same_thread=False), checkpointer,
                          every=True)
        checkpointer._conn = conn  # type: ignore[assignment]
        catching_up: list[bool] = []  # of each checkpoint: started by a single commit, not the count
        original = conn.execute

        def execute(sql: str) -> sqlite3.Cursor:
            catching_up.append(getattr(checkpointer, "_behind", False))
            return original(sql)

        conn.execute = execute  # type: ignore[method-assign]
        while checkpointer.commits < 4 * EVERY_COMMITS:
            store.add(f"note {checkpointer.commits}", namespace=NS, dedup=False)
            deadline = time.monotonic() + 10
            while checkpointer._due or checkpointer._running:  # until the thread is idle again:
                assert time.monotonic() < deadline
                if conn.inside.wait(0.01):  # each checkpoint it starts is overtaken by a write
                    conn.inside.clear()
                    _overtake(store, conn, f"overtaking note {checkpointer.commits}")
        runs = "".join("c" if c else "." for c in catching_up).split(".")
        assert len(runs) >= 3 and {len(run) for run in runs[1:-1]} == {_native_checkpoint.CATCH_UP}, catching_up


def test_a_wal_index_that_cannot_be_opened_still_leaves_the_checkpoints_to_the_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreadable(*args: object, **kwargs: object) -> None:
        raise PermissionError("no access to the -shm file")

    monkeypatch.setattr(_native_checkpoint, "open", unreadable, raising=False)
    with NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing:64") as store:
        checkpointer = _commit_until_a_checkpoint(store)
        assert checkpointer.passes == 1 and checkpointer.last is not None
        busy, frames, copied = checkpointer.last
        assert busy == 0 and frames > 0 and copied == frames
