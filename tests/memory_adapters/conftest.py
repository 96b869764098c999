"""Shared fixtures for the memory adapter tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mnemos.memory_adapters._sql_adapter import SqlMemoryAdapter
from mnemos.memory_adapters.conformance import ManualClock
from mnemos.memory_adapters.native import NativeMemoryAdapter

# The conformance suite lives in the installed package; let pytest rewrite its
# asserts so failures show the compared values.
pytest.register_assert_rewrite("mnemos.memory_adapters.conformance")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[NativeMemoryAdapter]:
    """A real native store (SQLite, the built-in hashing embedder at 256 dimensions), closed after the test.

    A module that needs another store (another adapter, another embedder) defines its own ``store``.
    """
    adapter = NativeMemoryAdapter(tmp_path / "m.db", embedder="hashing:256")
    yield adapter
    adapter.close()


@pytest.fixture
def sql_clock() -> ManualClock:
    """The clock of :func:`sql_store`, at 2030-01-01 UTC when the test starts."""
    return ManualClock(datetime(2030, 1, 1, tzinfo=UTC))


@pytest.fixture(params=["native", pytest.param("postgres", marks=pytest.mark.pgvector)])
def sql_store(request: pytest.FixtureRequest, tmp_path: Path, sql_clock: ManualClock) -> Iterator[SqlMemoryAdapter]:
    """Each store built on the shared SQL core (native, then PostgreSQL with pgvector), on ``sql_clock``."""
    adapter: SqlMemoryAdapter
    if request.param == "native":
        adapter = NativeMemoryAdapter(tmp_path / "m.db", embedder="hashing:64", clock=sql_clock)
    else:
        from mnemos.memory_adapters.postgres import PostgresMemoryAdapter

        adapter = PostgresMemoryAdapter(request.getfixturevalue("pg_schemas").new_url(), embedder="hashing:64",
                                        clock=sql_clock)
    yield adapter
    adapter.close()


@pytest.fixture(params=["native", pytest.param("postgres", marks=pytest.mark.pgvector)])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], SqlMemoryAdapter]]:
    """Opens empty stores of one backend (closed after the test)."""
    opened: list[SqlMemoryAdapter] = []

    def open_one() -> SqlMemoryAdapter:
        adapter: SqlMemoryAdapter
        if request.param == "native":
            adapter = NativeMemoryAdapter(tmp_path / f"{len(opened)}.db", embedder="hashing:256")
        else:
            from mnemos.memory_adapters.postgres import PostgresMemoryAdapter

            adapter = PostgresMemoryAdapter(request.getfixturevalue("pg_schemas").new_url(), embedder="hashing:256")
        opened.append(adapter)
        return adapter

    yield open_one
    for adapter in opened:
        adapter.close()
