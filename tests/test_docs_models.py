"""The Python examples of docs/models.md run (on the offline model, and on the local one if installed)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = (Path(__file__).resolve().parents[1] / "docs" / "models.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```python\n(.*?)^```", DOC, re.M | re.S)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_python_examples_run(block: str, tmp_path: Path) -> None:
    env = {**os.environ, "MNEMOS_HOME": str(tmp_path), "MNEMOS_MODEL": "offline"}
    done = subprocess.run([sys.executable, "-c", block], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    if "structured_call" in block:
        assert done.stdout.startswith(("name=", "no usable answer"))


def test_the_documented_settings_are_the_real_ones() -> None:
    from mnemos.config import ModelSettings

    table = re.search(r"```toml\n\[model\]\n(.*?)```", DOC, re.S)
    assert table
    keys = {line.split("=")[0].strip() for line in table.group(1).splitlines() if "=" in line}
    assert keys == {"provider", *(f for f in ModelSettings.__dataclass_fields__ if f != "provider")}
    for key in keys - {"provider"}:
        assert f"MNEMOS_MODEL_{key.upper()}" in DOC
