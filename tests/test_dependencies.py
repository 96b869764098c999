"""The distribution's runtime dependencies are the ones its code uses."""

from __future__ import annotations

import ast
import re
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# installed for another package to pick up, never imported by mnemos itself
PICKED_UP = {
    "httptools": "uvicorn's C HTTP parser, used when installed",
    "uvloop": "uvicorn's event loop, used when installed",
}


def _imported_top_levels(folder: Path) -> set[str]:
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return names


def _dist(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_every_runtime_dependency_is_imported_by_the_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    modules_of: dict[str, set[str]] = {}
    for module, dists in packages_distributions().items():
        for dist in dists:
            modules_of.setdefault(dist.lower().replace("_", "-"), set()).add(module)
    imported = _imported_top_levels(ROOT / "src" / "mnemos")
    unused = [dist for dist in map(_dist, project["dependencies"])
              if dist not in PICKED_UP and not modules_of.get(dist, set()) & imported]
    assert unused == [], f"declared but never imported by src/mnemos: {unused} (a test-only need goes in the dev extra)"
