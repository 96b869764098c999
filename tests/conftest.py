"""Fixtures for every test: offline, private, and nothing written to the real home.

The environment is set at import, before any test module imports mem0 or
sentence-transformers (mem0 creates its directory on import). The chat model
is the deterministic offline one (``MNEMOS_MODEL=offline``) unless a test says
otherwise: with nothing configured, mnemos would pick the local model.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pgvector_server import Schemas

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="mnemos-tests-"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["MEM0_TELEMETRY"] = "False"
os.environ.setdefault("MEM0_DIR", str(_SESSION_HOME / "mem0"))
os.environ["MNEMOS_HOME"] = str(_SESSION_HOME / "home")
for _name in ("MNEMOS_STORE", "MNEMOS_EMBEDDER", "MNEMOS_MODEL", "MNEMOS_CHECKPOINTS", "MNEMOS_MCP_TOKENS",
              "MNEMOS_REQUIRE_USER"):
    os.environ.pop(_name, None)
for _name in [n for n in os.environ if n.startswith("MNEMOS_MODEL_")]:
    os.environ.pop(_name, None)
os.environ["MNEMOS_MODEL"] = "offline"


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the session's home directory: a test run leaves nothing behind."""
    shutil.rmtree(_SESSION_HOME, ignore_errors=True)


@pytest.fixture(autouse=True)
def mnemos_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh MNEMOS_HOME for each test, with no store or embedder configured and the offline model."""
    home = tmp_path / "mnemos-home"
    home.mkdir()
    monkeypatch.setenv("MNEMOS_HOME", str(home))
    for name in ("MNEMOS_STORE", "MNEMOS_EMBEDDER", "MNEMOS_CHECKPOINTS", "MNEMOS_MCP_TOKENS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MNEMOS_MODEL", "offline")
    return home


@pytest.fixture(scope="session")
def _llama_server_for_session() -> Iterator[str]:
    from llama_server import llama_http_server
    from mnemos.agents import local_model_available

    if not local_model_available():
        pytest.skip("the local model is not installed")
    with llama_http_server() as url:
        yield url


@pytest.fixture
def llama_url(_llama_server_for_session: str) -> str:
    """llama.cpp's OpenAI-compatible server on the local model (``tests/llama_server.py``): its
    ``/v1`` base URL. One server for the session; its prompt cache is emptied for each test, so
    no reply depends on another test's requests."""
    from llama_server import forget_prompts

    forget_prompts(_llama_server_for_session)
    return _llama_server_for_session


@pytest.fixture(scope="session")
def pgvector_url() -> Iterator[str]:
    """A PostgreSQL server with pgvector for the session (see ``tests/pgvector_server.py``)."""
    from pgvector_server import UNAVAILABLE, pgvector_server

    with pgvector_server() as url:
        if url is None:
            pytest.skip(UNAVAILABLE)
        yield url


@pytest.fixture
def pg_schemas(pgvector_url: str) -> Iterator[Schemas]:
    """Fresh schemas (one per store) on the pgvector server, dropped after the test."""
    from pgvector_server import Schemas

    schemas = Schemas(pgvector_url)
    try:
        yield schemas
    finally:
        schemas.drop_all()
