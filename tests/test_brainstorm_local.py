"""Brainstorms on the real local model (SmolLM2-135M on llama.cpp), end to end.

Two sessions in two processes of ``mnemos brainstorm``, once on the embedded
model and once through the ``openai:`` provider over real HTTP (llama.cpp's
OpenAI-compatible server on 127.0.0.1, ``base_url`` from ``config.toml``);
``brainstorm_run`` over MCP on the local model is in
``tests/tools/test_mcp_brainstorm.py``. The model is weak and its wording is its own, so these tests assert
structure and memory effects, never wording: a valid ledger, ideas that are
the model's text (no persona-file string), accepted ideas written to team
memory once, and the first session's accepted ideas in the second session's
prompts. Greedy decoding (temperature 0) keeps the runs repeatable.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llama_server import tokens_generated
from mnemos.agents import local_model_available
from mnemos.graphs._personas import BUILTIN_PERSONAS, load_personas
from mnemos.graphs._turn import normalize
from mnemos.memory_adapters.native import NativeMemoryAdapter

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(not local_model_available(), reason="the local model is not installed"),
]

TOPIC = "How should a hospital reduce nurse burnout?"
NEXT = "How should a hospital reduce nurse burnout? The next steps"
SPEAKERS = {"product_manager", "engineer", "skeptic"}


def persona_strings() -> set[str]:
    """Every string of the built-in persona files (roles, instructions and their lines, leanings)."""
    out: set[str] = set()
    for name in BUILTIN_PERSONAS:
        team = load_personas(f"builtin:{name}")
        out.add(team.description)
        for p in team.personas:
            out |= {p.name, p.role, p.instructions, *p.instructions.splitlines(), *p.likes, *p.dislikes}
    return {s.strip() for s in out if s.strip()}


def assert_valid_ledger(ideas: list[dict[str, Any]], *, authors: set[str]) -> None:
    ids = [i["id"] for i in ideas]
    assert len(ids) == len(set(ids))
    for i in ideas:
        assert i["status"] in ("proposed", "accepted", "rejected", "merged")
        assert i["text"].strip()
        assert all(v in (1, -1) for v in i["votes"].values())
        if i["origin"] == "session":
            assert i["author"] in authors and i["author"] not in i["votes"]
            assert set(i["votes"]) <= authors
        if i["status"] == "merged":
            assert i["merged_into"] in ids


def assert_model_text(ideas: list[dict[str, Any]]) -> None:
    persona = {normalize(s) for s in persona_strings()}
    for i in ideas:
        assert normalize(i["text"]) not in persona, i["text"]
        assert not i["text"].startswith("placeholder ")
        for c in i["critiques"]:
            assert normalize(c["text"]) not in persona


@contextlib.contextmanager
def _model(kind: str, home: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The environment of the ``mnemos brainstorm`` processes for one way of reaching the model."""
    if kind == "local":
        yield {"MNEMOS_MODEL": "local:smollm2", "MNEMOS_MODEL_TEMPERATURE": "0"}
        return
    pytest.importorskip("langchain_openai")
    url = request.getfixturevalue("llama_url")  # the session's server, its prompt cache emptied
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'[model]\nprovider = "openai:smollm2"\nbase_url = "{url}"\ntemperature = 0.0\ntimeout = 300\n'
    )
    before = tokens_generated(url)
    yield {}
    assert tokens_generated(url) > before  # the sessions' model calls went over HTTP


def _mnemos(home: Path, model_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNEMOS_") and k != "OPENAI_API_KEY"}
    env.update(MNEMOS_HOME=str(home), COLUMNS="200", **model_env)
    return subprocess.run([sys.executable, "-m", "mnemos.cli", "brainstorm", *args], env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.parametrize("kind", ["local", "openai-http"])
def test_two_sessions_in_two_processes_on_the_local_model(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    home = tmp_path / "home"
    with _model(kind, home, request) as model_env:
        _two_sessions(tmp_path, home, model_env)


def _two_sessions(tmp_path: Path, home: Path, model_env: dict[str, str]) -> None:
    first = _mnemos(home, model_env, TOPIC, "--rounds", "2", "--thread", "one", "--out", str(tmp_path / "one"))
    assert first.returncode == 0, first.stderr
    ledger = json.loads((tmp_path / "one" / "ideas.json").read_text())
    assert ledger.get("rehearsal") is False and ledger["ideas"]
    assert_valid_ledger(ledger["ideas"], authors=SPEAKERS)
    assert_model_text(ledger["ideas"])
    accepted = [i["text"] for i in ledger["ideas"] if i["status"] == "accepted"]
    assert accepted, "the model accepted no idea (votes were all against or missing)"

    # accepted ideas are in team memory once each
    store = NativeMemoryAdapter(home / "memory.db")
    try:
        team = store.list(namespace=("teams", "business", "ideas"))
        held = [r.metadata["idea"] for r in team if r.metadata["status"] == "accepted"]
        assert sorted(held) == sorted(accepted)
    finally:
        store.close()

    second = _mnemos(home, model_env, NEXT, "--rounds", "1", "--thread", "two", "--out", str(tmp_path / "two"))
    assert second.returncode == 0, second.stderr
    transcript = json.loads((tmp_path / "two" / "transcript.json").read_text())
    prompts = "\n".join(m["content"] for p in transcript["prompts"] for m in p["messages"])
    assert all(text in prompts for text in accepted)
    recalled = [r["text"] for r in transcript["recalled"]["accepted"]]
    assert set(accepted) <= set(recalled) and len(recalled) == len({normalize(t) for t in recalled})
    later = json.loads((tmp_path / "two" / "ideas.json").read_text())["ideas"]
    assert_valid_ledger(later, authors=SPEAKERS | {"team"})
    assert_model_text([i for i in later if i["origin"] == "session"])
