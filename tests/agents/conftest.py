from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mnemos.memory_adapters.native import NativeMemoryAdapter


@pytest.fixture(autouse=True)
def mnemos_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("MNEMOS_HOME", str(home))
    monkeypatch.delenv("MNEMOS_MODEL", raising=False)
    return home


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[NativeMemoryAdapter]:
    adapter = NativeMemoryAdapter(tmp_path / "memory.db")
    yield adapter
    adapter.close()

