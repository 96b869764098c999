from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _mnemos_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("MNEMOS_HOME", str(home))
    monkeypatch.delenv("MNEMOS_CHECKPOINTS", raising=False)
    monkeypatch.delenv("MNEMOS_STORE", raising=False)
    return home
