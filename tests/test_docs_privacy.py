"""The examples in docs/privacy.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "privacy.md"


@pytest.mark.parametrize("index", range(len(re.findall(r"^```python\n", DOC.read_text(encoding="utf-8"), re.M))))
def test_python_example_runs(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"^```python\n(.*?)^```", DOC.read_text(encoding="utf-8"), re.M | re.S)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MNEMOS_HOME", str(tmp_path / "home"))
    exec(compile(blocks[index], f"{DOC.name}[{index}]", "exec"), {"__name__": "__doc_example__"})
