"""The top-level package exports its curated names, loading heavy parts lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest

import mnemos


@pytest.mark.parametrize("name", mnemos.__all__)
def test_every_exported_name_resolves(name: str) -> None:
    assert getattr(mnemos, name) is not None


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = mnemos.no_such_thing  # type: ignore[attr-defined]


def test_import_does_not_load_agents_or_langgraph() -> None:
    code = "import sys, mnemos; print('mnemos.agents' in sys.modules, 'langgraph' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]
