"""Shared fixtures for the memory adapter tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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
