"""``benchmarks/scale.py --keep DIR``: the load is paid once, later runs measure searches again
on the kept store (native here: the real SQLite store, tiny sizes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCALE = Path(__file__).resolve().parents[1] / "benchmarks" / "scale.py"


def _run(keep: Path, out: Path) -> dict[str, object]:
    subprocess.run(
        [sys.executable, str(SCALE), "--sizes", "100", "--queries", "3", "--warmup", "2",
         "--keep", str(keep), "--json", str(out)],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    (result,) = json.loads(out.read_text(encoding="utf-8"))
    return result  # type: ignore[no-any-return]


def test_a_kept_store_is_loaded_once_and_searched_again(tmp_path: Path) -> None:
    keep = tmp_path / "kept"
    first = _run(keep, tmp_path / "first.json")
    assert (
        not first.get("reused") and first["stored"] == 1100
    )  # 100, then 1,000 added after the load
    assert (keep / "native-100.db").exists() and (keep / "native-100.json").exists()
    second = _run(keep, tmp_path / "second.json")
    assert second["reused"] is True and second["stored"] == 1100  # not loaded (nor added to) again
    assert (
        second["ingest_seconds"] == first["ingest_seconds"]
    )  # the load's numbers, from the first run
    assert second["warmup_searches"] == 2 and set(second["search"]) == {
        "hybrid",
        "keyword",
        "vector",
    }  # type: ignore[arg-type]
