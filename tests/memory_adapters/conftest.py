"""Shared fixtures for the memory adapter tests: an isolated MNEMOS_HOME."""

from __future__ import annotations

from pathlib import Path

import pytest

# The conformance suite lives in the installed package; let pytest rewrite its
# asserts so failures show the compared values.
pytest.register_assert_rewrite("mnemos.memory_adapters.conformance")


@pytest.fixture(autouse=True)
def mnemos_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary MNEMOS_HOME, so no test touches the real home directory."""
    home = tmp_path / "mnemos-home"
    monkeypatch.setenv("MNEMOS_HOME", str(home))
    return home
