"""The native store's vector file: a saved vector cache that a new process maps instead of
rebuilding it from SQLite, and that is never trusted when it does not match the database
(stale, torn, from a rolled-back state, of another store). All on real SQLite files and
real processes."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mnemos.memory_adapters.native import NativeMemoryAdapter, RankingConfig

NS = ("users", "alice")
VECTOR = RankingConfig(mode="vector", neighbour_weight=0)
ANIMALS = ["otter", "falcon", "badger", "heron", "lynx", "beaver", "marten", "ibis", "puffin", "stoat"]


@pytest.fixture(autouse=True)
def small_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Save files for small caches, so the tests need few memories."""
    monkeypatch.setattr("mnemos.memory_adapters._vectors.SAVE_MIN_ROWS", 20)
    monkeypatch.setattr("mnemos.memory_adapters._vectors.SAVE_AFTER_CHANGES", 5)


def text(i: int) -> str:
    return f"the {ANIMALS[i % len(ANIMALS)]} number {i} sleeps in burrow {i * 7}"


def fill(store: NativeMemoryAdapter, count: int = 40, start: int = 0, ns: tuple[str, ...] = NS) -> None:
    store.add_many([{"content": text(i), "namespace": ns} for i in range(start, start + count)])


def vector_file(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + "-vectors")


def top(store: NativeMemoryAdapter, text: str, **kwargs: object) -> list[str]:
    return [h.record.content for h in store.search(text, ranking=VECTOR, **kwargs)]


def saved_store(tmp_path: Path, count: int = 40) -> Path:
    path = tmp_path / "memory.db"
    with NativeMemoryAdapter(path, embedder="hashing:64") as store:
        fill(store, count)
        store.search("otter")  # the first search builds the cache from SQLite and saves it
    assert vector_file(path).exists()
    return path


def opened(path: Path, **kwargs: object) -> NativeMemoryAdapter:
    return NativeMemoryAdapter(path, embedder="hashing:64", **kwargs)


def test_a_reopened_store_maps_its_vector_file_and_finds_the_same(tmp_path: Path) -> None:
    path = saved_store(tmp_path)
    assert vector_file(path).stat().st_mode & 0o777 == 0o600
    with opened(path) as store:
        expected = top(store, text(13))
        assert store._store.cache.from_file  # mapped, not rebuilt
    with opened(path) as again:
        assert top(again, text(13)) == expected
        assert expected[0] == text(13)


def test_what_was_committed_after_the_file_is_read_from_the_database(tmp_path: Path) -> None:
    path = saved_store(tmp_path)
    with opened(path) as writer:  # never searches, so never saves: the file stays behind
        fill(writer, 3, start=100)
        victim = writer.list(namespace=NS, limit=1)[0]
        writer.update(victim.id, content="a walrus rests on the ice floe")
        gone = next(r for r in writer.list(namespace=NS, limit=None) if "number 5 " in r.content)
        writer.delete(gone.id)
    with opened(path) as store:
        assert top(store, "walrus rests on the ice floe")[0] == "a walrus rests on the ice floe"
        assert store._store.cache.from_file
        assert top(store, text(101))[0] == text(101)
        assert victim.content not in top(store, victim.content, limit=50)
        assert gone.content not in top(store, gone.content, limit=50)


def test_a_stale_file_is_ignored_and_the_cache_rebuilt(tmp_path: Path) -> None:
    path = saved_store(tmp_path)
    old = vector_file(path).read_bytes()
    with opened(path) as store:
        fill(store, 10, start=200)
        store.search("otter")
    assert vector_file(path).read_bytes() != old  # saved again on close
    vector_file(path).write_bytes(old)  # an older save put back: its token is not the database's
    with opened(path) as store:
        assert top(store, text(204))[0] == text(204)
        assert not store._store.cache.from_file


@pytest.mark.parametrize("damage", ["truncated", "zeroed tail", "garbage", "empty"])
def test_a_torn_or_damaged_file_is_ignored_and_rebuilt(tmp_path: Path, damage: str) -> None:
    path = saved_store(tmp_path)
    file = vector_file(path)
    data = bytearray(file.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "zeroed tail":
        data[-4096:] = bytes(4096)
    elif damage == "garbage":
        data[100:200] = os.urandom(100)
    else:
        data = bytearray()
    file.write_bytes(bytes(data))
    with opened(path) as store:
        assert top(store, text(13))[0] == text(13)
        assert not store._store.cache.from_file
    with opened(path) as store:  # the rebuilt cache was saved whole again
        top(store, "heron")
        assert store._store.cache.from_file


def test_a_checksum_catches_changed_filter_columns(tmp_path: Path) -> None:
    path = saved_store(tmp_path)
    file = vector_file(path)
    data = bytearray(file.read_bytes())
    # the kinds column follows the matrix, coarse, rowid and namespace columns; flip a byte near the end
    # of the data (before the trailer and the holes) by finding the first non-zero byte from the back
    end = len(data) - 24
    while end > 0 and data[end - 1] == 0:
        end -= 1
    data[end - 1] ^= 0x01
    file.write_bytes(bytes(data))
    with opened(path) as store:
        top(store, "heron")
        assert not store._store.cache.from_file


def test_a_file_newer_than_the_database_after_a_power_loss_is_ignored(tmp_path: Path) -> None:
    """A power loss can roll the database back to before a save (the file, fsynced, stays);
    simulated by restoring copies of the database files taken before the save."""
    path = tmp_path / "memory.db"
    with opened(path) as store:
        fill(store, 40)
    backup = tmp_path / "before"
    backup.mkdir()
    for name in ("memory.db", "memory.db-wal"):
        if (tmp_path / name).exists():
            shutil.copy2(tmp_path / name, backup / name)
    with opened(path) as store:
        fill(store, 10, start=300)  # rolled back below
        store.search("otter")
    assert vector_file(path).exists()
    for name in ("memory.db", "memory.db-wal", "memory.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)
        if (backup / name).exists():
            shutil.copy2(backup / name, tmp_path / name)
    with opened(path) as store:
        fill(store, 10, start=500)  # the same rowids again, with other memories
        hits = top(store, text(300), limit=60)
        assert not any(text(i) in hits for i in range(300, 310))
        assert not store._store.cache.from_file
        assert top(store, text(500))[0] == text(500)


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import mnemos.memory_adapters._vectors as v
    v.SAVE_MIN_ROWS, v.SAVE_AFTER_CHANGES = 20, 5
    from mnemos.memory_adapters.native import NativeMemoryAdapter
    store = NativeMemoryAdapter(sys.argv[1], embedder="hashing:64")
    mode = sys.argv[2]
    if mode == "write-then-die":
        store.search("otter")
        for i in range(5):
            store.add(f"acknowledged gannet {i} dives at dawn", namespace=("users", "alice"))
            print(f"ok {i}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    elif mode == "add":
        store.add("a narwhal from the other process", namespace=("users", "alice"))
        store.close()
    """
)


def run_child(path: Path, mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CHILD, str(path), mode], capture_output=True, text=True,
                          timeout=120, check=False)


def test_acknowledged_writes_survive_a_killed_process_that_used_the_file(tmp_path: Path) -> None:
    path = saved_store(tmp_path)
    result = run_child(path, "write-then-die")
    assert result.returncode == -signal.SIGKILL
    acknowledged = result.stdout.split().count("ok")
    assert acknowledged == 5
    with opened(path) as store:
        found = top(store, "acknowledged gannet dives at dawn", limit=10)
        assert store._store.cache.from_file
        assert sorted(h for h in found if "gannet" in h) == [f"acknowledged gannet {i} dives at dawn" for i in range(5)]
        integrity = sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0]
        assert integrity == "ok"


def test_a_process_sees_the_vectors_another_process_writes(tmp_path: Path) -> None:
    path = saved_store(tmp_path)
    with opened(path) as store:
        assert "narwhal" not in " ".join(top(store, "narwhal from the other process"))
        assert store._store.cache.from_file
        result = run_child(path, "add")
        assert result.returncode == 0, result.stderr
        assert top(store, "narwhal from the other process")[0] == "a narwhal from the other process"


def test_a_scoped_store_takes_only_its_own_rows_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    with opened(path) as store:
        fill(store, 30, ns=("users", "alice"))
        fill(store, 30, start=1000, ns=("users", "bob"))
        store.search("otter")
    with NativeMemoryAdapter(path, embedder="hashing:64", scope=("users", "bob")) as bob:
        hits = top(bob, text(0), limit=100)
        assert bob._store.cache.from_file
        assert hits and all(int(h.split()[3]) >= 1000 for h in hits)
        assert bob._store.cache.n == 30


def test_a_read_only_store_uses_the_file_and_writes_none(tmp_path: Path) -> None:
    path = saved_store(tmp_path)
    before = vector_file(path).stat().st_mtime_ns
    with opened(path) as writer:
        fill(writer, 10, start=600)
    with opened(path, read_only=True) as reader:
        assert top(reader, text(604))[0] == text(604)
        assert reader._store.cache.from_file
    assert vector_file(path).stat().st_mtime_ns == before


def test_erase_deletes_the_vector_file(tmp_path: Path) -> None:
    path = saved_store(tmp_path)
    with opened(path) as store:
        store.erase(NS)
        assert not vector_file(path).exists()
        assert top(store, "otter") == []


def test_leftovers_of_a_killed_save_are_removed(tmp_path: Path) -> None:
    path = saved_store(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    leftover = tmp_path / f".memory.db-vectors.{dead.stdout.strip()}.abcd1234.tmp"
    leftover.write_bytes(b"half a file")
    with opened(path) as store:
        fill(store, 10, start=700)
        store.search("otter")
    assert not leftover.exists()


@pytest.mark.parametrize("pattern", ["one run", "runs with gaps", "scattered", "a block and a tail"])
def test_scoring_rows_in_place_equals_copying_them_out(pattern: str) -> None:
    """The scan reads runs of rows as views; it must score exactly the rows asked for."""
    import numpy as np

    from mnemos.memory_adapters._dots import scores as _scores
    from mnemos.memory_adapters._vectors import _at, _pieces, _runs

    rng = np.random.default_rng(3)
    matrix = rng.standard_normal((5000, 16)).astype(np.float32)
    probe = rng.standard_normal(16).astype(np.float32)
    slots = {
        "one run": np.arange(100, 900),
        "runs with gaps": np.concatenate([np.arange(0, 300), np.arange(340, 600), np.arange(2000, 2100)]),
        "scattered": np.sort(rng.choice(5000, 300, replace=False)),
        "a block and a tail": np.concatenate([np.arange(1000, 3000), np.arange(4000, 5000, 10)]),
    }[pattern].astype(np.int64)
    runs = _runs(slots)
    assert (runs is None) == (pattern == "scattered")
    pieces = _pieces(slots, runs) if runs is not None else None
    np.testing.assert_allclose(_scores(matrix, probe, slots, pieces), matrix[slots] @ probe, rtol=1e-5, atol=1e-5)
    column = rng.random(5000) < 0.5  # a mask read at the same rows
    assert np.array_equal(_at(column, slots, pieces), column[slots])


def test_a_save_blocked_by_another_writer_is_skipped_not_waited_for(tmp_path: Path) -> None:
    import time

    path = tmp_path / "memory.db"
    with opened(path) as store:
        fill(store, 40)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process in the middle of a long write
    try:
        with opened(path) as store:
            began = time.monotonic()
            assert top(store, text(7))[0] == text(7)  # built from SQLite; the save gives up
            assert time.monotonic() - began < 10
            assert not vector_file(path).exists()
            assert store._store.cache.save_failed
            began = time.monotonic()
            top(store, text(8))
            assert time.monotonic() - began < 0.9  # not tried again on every search
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
