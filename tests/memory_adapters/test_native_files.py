"""The native store's file: bounded lock waits, read-only opening, private files,
and refusing files that are not stores."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from mnemos.exceptions import (
    ConfigurationError,
    ForeignStoreError,
    ReadOnlyStoreError,
    StorageError,
    StoreBusyError,
)
from mnemos.graphs.checkpoint import close_checkpointer, sqlite_checkpointer
from mnemos.memory_adapters.native import NativeMemoryAdapter
from mnemos.memory_adapters.registry import open_memory


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "memory.db"
    with NativeMemoryAdapter(path, embedder="hashing") as store:
        store.add("the spare key is under the blue pot", namespace=("h",))
    return path


# -- hole 7: bounded waits -------------------------------------------------------------------


def test_a_write_behind_a_long_transaction_gives_up_within_the_bound(store_path: Path) -> None:
    blocker = sqlite3.connect(store_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        start = time.monotonic()
        store = NativeMemoryAdapter(store_path, embedder="hashing", lock_timeout=0.5)
        opened = time.monotonic() - start
        assert opened < 0.5, "opening an existing store waited for the write lock"
        assert [r.content for r in store.list()] == ["the spare key is under the blue pot"]
        start = time.monotonic()
        with pytest.raises(StoreBusyError, match="locked by another writer"):
            store.add("a write that has to wait", namespace=("h",))
        waited = time.monotonic() - start
        assert 0.4 <= waited < 2.0, waited
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    store.add("a write after the lock is released", namespace=("h",))
    assert store.count() == 2
    store.close()


def test_a_bad_lock_timeout_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        NativeMemoryAdapter(tmp_path / "m.db", lock_timeout=-1)


# -- hole 7: read-only ------------------------------------------------------------------------


def test_a_store_opened_read_only_reads_and_refuses_writes(store_path: Path) -> None:
    digest = hashlib.sha256(store_path.read_bytes()).hexdigest()
    url = f"native://{quote(str(store_path))}?mode=ro"
    for store in (NativeMemoryAdapter(store_path, read_only=True), open_memory(url)):
        with store:
            assert store.search("where is the spare key?")[0].record.content.startswith("the spare key")
            with pytest.raises(ReadOnlyStoreError):
                store.add("not allowed", namespace=("h",))
            with pytest.raises(ReadOnlyStoreError):
                store.erase(("h",))
    assert hashlib.sha256(store_path.read_bytes()).hexdigest() == digest
    with pytest.raises(StorageError, match="opened read-only"):
        NativeMemoryAdapter(store_path.with_name("missing.db"), read_only=True)
    assert not store_path.with_name("missing.db").exists()


# -- hole 8: private files ----------------------------------------------------------------------


def test_new_files_are_private(tmp_path: Path) -> None:
    home = tmp_path / "home" / "deeper"
    with NativeMemoryAdapter(home / "memory.db", embedder="hashing") as store:
        store.add("private", namespace=("p",))
        assert _mode(home / "memory.db") == 0o600
        assert _mode(home / "memory.db-wal") == 0o600
        assert _mode(home / "memory.db-shm") == 0o600
        store.export_jsonl(tmp_path / "export.jsonl")
    assert _mode(home) == _mode(home.parent) == 0o700
    assert _mode(tmp_path / "export.jsonl") == 0o600
    saver = sqlite_checkpointer(tmp_path / "ckpt" / "checkpoints.db")
    try:
        assert _mode(tmp_path / "ckpt" / "checkpoints.db") == 0o600
        assert _mode(tmp_path / "ckpt") == 0o700
    finally:
        close_checkpointer(saver)


def test_an_empty_or_foreign_file_is_refused_unless_initialize(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(ForeignStoreError, match="initialize=True"):
        NativeMemoryAdapter(empty)
    assert empty.stat().st_size == 0
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE invoices (n INTEGER)")
    conn.execute("INSERT INTO invoices VALUES (7)")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    with pytest.raises(ForeignStoreError, match="another application"):
        NativeMemoryAdapter(other)
    with pytest.raises(ForeignStoreError):
        open_memory(f"native://{quote(str(other))}")
    assert other.read_bytes() == before
    with NativeMemoryAdapter(empty, embedder="hashing", initialize=True) as store:
        store.add("now a store", namespace=("n",))
    with NativeMemoryAdapter(empty) as store:
        assert store.count() == 1


def test_processes_creating_one_store_at_once_all_open_it(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    code = (
        "import sys; from mnemos.memory_adapters.native import NativeMemoryAdapter as A; "
        "s = A(sys.argv[1], embedder='hashing'); s.add('hi from ' + sys.argv[2], namespace=('n',)); s.close()"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), str(i)], stderr=subprocess.PIPE)
             for i in range(4)]
    errors = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    with NativeMemoryAdapter(path) as store:
        assert store.count() == 4
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".new")]
