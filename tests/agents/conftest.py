from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mnemos.memory_adapters.native import NativeMemoryAdapter


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[NativeMemoryAdapter]:
    adapter = NativeMemoryAdapter(tmp_path / "memory.db")
    yield adapter
    adapter.close()

