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
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from pathlib import Path

__all__ = ["EVERY_COMMITS", "INLINE_PAGES", "Checkpointer"]

EVERY_COMMITS = 16
"""A background checkpoint is started after this many commits of the store's connection."""
INLINE_PAGES = 10_000
"""The store's own connection still checkpoints when a commit leaves the log this long
(a bulk load, or a background thread that fell behind)."""


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
        self.last: tuple[int, int, int] | None = None
        """What the last background checkpoint returned: (busy, frames in the log, frames copied)."""
        conn.execute(f"PRAGMA wal_autocheckpoint = {INLINE_PAGES}")

    def committed(self) -> None:
        """Count a commit of the store's connection; start a checkpoint when one is due
        and none is running (call under the store's lock)."""
        self.commits += 1
        if self.commits % EVERY_COMMITS or self._closed:
            return
        if self._pid != os.getpid():  # a forked child: its parent's thread and connection are not its own
            self._pid, self._thread, self._conn = os.getpid(), None, None
            self._signal, self._due, self._running = threading.Condition(), False, False
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
            try:
                self._checkpoint()
            finally:
                with signal:
                    self._running = False
                    signal.notify_all()

    def _checkpoint(self) -> None:
        with contextlib.suppress(sqlite3.Error):  # the next one, or the safety net, will do it
            if self._conn is None:
                self._conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            rows = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()  # to the end: no snapshot kept
            self.last = tuple(rows[0])

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
