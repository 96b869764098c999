"""Checkpoints of the native store's write-ahead log, off the writing thread.

In WAL mode SQLite copies the log into the database file (a checkpoint) when a
commit leaves the log past ``wal_autocheckpoint`` pages, inside that commit: with
``synchronous=NORMAL`` it syncs the log and the database file to disk there, and
the write that happened to fill the log waits for both. An agent's turn commits
some thirty pages, so every thirtieth turn or so paid tens of milliseconds.

Here the store's own connection checkpoints only as a safety net (at
:data:`INLINE_PAGES`), and every :data:`EVERY_COMMITS` of its commits a
background thread runs a ``PASSIVE`` checkpoint on a connection of its own: it
copies what no reader still needs and never blocks readers or writers. A commit
is durable when it is in the log (a killed process loses nothing either way);
a checkpoint only moves committed pages into the database file, so doing it
later, or not at all before a crash, loses nothing.

The log starts again from its beginning (and stops growing) only when a write
transaction begins while every frame of it is in the database file. When
commits follow each other closely, a checkpoint begun after one of them is
overtaken by the next, which appends to the log. So after a checkpoint that
copied something, the next commit wakes the thread again: if the wal-index (the
``-shm`` file) shows the log did not start again, it checkpoints what is new,
little, and so on after each commit until one ends before the next write begins,
at most :data:`CATCH_UP` in a row (writes that follow each other more closely
than a checkpoint takes overtake every one; the log then still grows to
:data:`INLINE_PAGES`). It never starts a checkpoint when nothing is left to copy:
the next write may then be starting the log again, and a checkpoint running
beside that could, in SQLite before 3.51.3, record frames of the new log as
copied (the "WAL-reset bug"). ``journal_size_limit`` (:data:`LOG_BYTES`) cuts
a log file that a bulk load made long when the log starts again.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import struct
import threading
from pathlib import Path
from typing import BinaryIO

__all__ = ["CATCH_UP", "EVERY_COMMITS", "INLINE_PAGES", "LOG_BYTES", "Checkpointer", "log_state"]

EVERY_COMMITS = 16
"""A background checkpoint is started after this many commits of the store's connection."""
INLINE_PAGES = 10_000
"""The store's own connection still checkpoints when a commit leaves the log this long
(a bulk load, or a background thread that fell behind)."""
CATCH_UP = 4
"""Checkpoints after single commits in a row, at most, before the thread waits for the
count of commits again (writes that follow each other more closely than a checkpoint
takes overtake every one: the log then grows to :data:`INLINE_PAGES`)."""
LOG_BYTES = 16 << 20
"""``journal_size_limit``: a log file longer than this is cut to it when the log starts again."""


def log_state(shm: BinaryIO) -> tuple[int, int] | None:
    """(frames in the log, frames of it copied into the database file) as the wal-index
    header in ``shm`` (the open ``-shm`` file) says: ``mxFrame`` at byte 16 of its first
    copy and ``nBackfill`` at byte 96, in the machine's byte order (SQLite's "WAL-mode
    File Format"). Read without SQLite's locks, so a hint: None when it cannot be read."""
    try:
        shm.seek(0)
        head = shm.read(100)
    except OSError:
        return None
    if len(head) < 100:
        return None
    return struct.unpack_from("=I", head, 16)[0], struct.unpack_from("=I", head, 96)[0]


class Checkpointer:
    """Runs ``PASSIVE`` checkpoints of one store file on a background thread, one at a time.

    The thread is started once and waits between checkpoints: waking it costs the
    committing thread far less than starting a thread (which waits until it runs).
    """

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.commits = 0
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._pid = os.getpid()
        self._signal = threading.Condition()
        self._due = False
        self._running = False
        self._behind = False
        """The last checkpoint copied frames, and a write may have begun before it ended and
        appended to the log: the next commit starts a checkpoint, which runs if the log did
        not start again since."""
        self._chain = 0
        """Checkpoints started by single commits since the last one started by the count."""
        self._shm: BinaryIO | None = None
        self.last: tuple[int, int, int] | None = None
        """What the last background checkpoint returned: (busy, frames in the log, frames copied)."""
        self.passes = 0
        """Checkpoints run by the thread."""
        conn.execute(f"PRAGMA wal_autocheckpoint = {INLINE_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit = {LOG_BYTES}")

    def committed(self) -> None:
        """Count a commit of the store's connection; start a checkpoint when one is due (every
        :data:`EVERY_COMMITS`, or after each commit while the log is behind) and none is
        running (call under the store's lock)."""
        self.commits += 1
        if (self.commits % EVERY_COMMITS and not self._behind) or self._closed:
            return
        if self._pid != os.getpid():  # a forked child: its parent's thread and connection are not its own
            self._pid, self._thread, self._conn, self._shm = os.getpid(), None, None, None
            self._signal, self._due, self._running, self._behind = threading.Condition(), False, False, False
            self._chain = 0
        with self._signal:
            if self._due or self._running:
                return
            self._due = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, args=(self._signal,),
                                                name="mnemos-checkpoint", daemon=True)
                self._thread.start()
            else:
                self._signal.notify()

    def _serve(self, signal: threading.Condition) -> None:
        """The thread: one checkpoint each time one is due, until the checkpointer closes."""
        while True:
            with signal:
                while not self._due and not self._closed:
                    signal.wait()
                if not self._due:
                    return
                self._due, self._running = False, True
                catching_up = self._behind
            behind = False
            try:
                behind = self._checkpoint()
            finally:
                with signal:
                    self._chain = self._chain + 1 if catching_up else 0
                    self._running, self._behind = False, behind and self._chain < CATCH_UP
                    signal.notify_all()

    def _checkpoint(self) -> bool:
        """A ``PASSIVE`` checkpoint, unless the wal-index says the log has nothing to catch up
        on. Return whether the next commit should start another: this one copied something,
        and a write may have begun before it ended (then that write appended to the log
        instead of starting it again)."""
        with contextlib.suppress(sqlite3.Error, OSError):  # the next one, or the safety net, will do it
            if self._conn is None:
                self._conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            before = self._log_state()
            if before is not None:
                frames, copied = before
                if copied >= frames:
                    return False  # nothing to copy; and the next write may be starting the log again
                if self._behind and copied == 0:
                    return False  # the log started again since the last checkpoint: back to the count
            rows = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()  # to the end: no snapshot kept
            self.last = tuple(rows[0])
            self.passes += 1
            after = self._log_state()
            return before is not None and after is not None and after[1] > before[1]
        return False

    def _log_state(self) -> tuple[int, int] | None:
        """:func:`log_state` of the store's ``-shm`` file; None (checkpoint as if nothing were
        known) when it cannot be opened."""
        if self._shm is None:
            try:
                self._shm = open(f"{self.path}-shm", "rb", buffering=0)  # noqa: SIM115 (closed by close())
            except OSError:
                return None
        return log_state(self._shm)

    def wait(self) -> None:
        """Wait for a due or running checkpoint to end (before a checkpoint of the store's own)."""
        with self._signal:
            while (self._due or self._running) and self._thread is not None and self._thread.is_alive():
                self._signal.wait(0.1)

    def close(self) -> None:
        """Wait for a due or running checkpoint, then stop the thread and close its connection."""
        with self._signal:
            self._closed = True
            self._signal.notify_all()
        thread = self._thread
        if thread is not None and self._pid == os.getpid():
            thread.join()
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
        if self._shm is not None:
            self._shm.close()
            self._shm = None
