from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mnemos.memory_adapters.native import NativeMemoryAdapter


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("MNEMOS_HOME", str(home))
    monkeypatch.delenv("MNEMOS_STORE", raising=False)
    monkeypatch.delenv("MNEMOS_MCP_TOKENS", raising=False)
    return home


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "memory.db"


@pytest.fixture
def memory(db_path: Path) -> Iterator[NativeMemoryAdapter]:
    adapter = NativeMemoryAdapter(db_path)
    yield adapter
    adapter.close()
