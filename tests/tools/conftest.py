from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mnemos.memory_adapters.native import NativeMemoryAdapter


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "memory.db"


@pytest.fixture
def memory(db_path: Path) -> Iterator[NativeMemoryAdapter]:
    adapter = NativeMemoryAdapter(db_path)
    yield adapter
    adapter.close()
