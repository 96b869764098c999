"""Checkpointers: SQLite by default, PostgreSQL on the real server, URL resolution,
and threads that survive a new process."""

from __future__ import annotations

import operator
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, TypedDict

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command

from mnemos.exceptions import ConfigurationError, StorageError
from mnemos.graphs import (
    GraphBuilder,
    checkpointer_from_url,
    close_checkpointer,
    open_checkpointer,
    sqlite_checkpointer,
)
from mnemos.graphs.checkpoint import aopen_checkpointer, default_checkpoint_url

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"

GRAPH_SCRIPT = textwrap.dedent(
    """
    import operator, sys
    from typing import Annotated, TypedDict
    from mnemos.graphs import GraphBuilder, open_checkpointer
    from langgraph.types import Command

    class S(TypedDict):
        log: Annotated[list[str], operator.add]

    def a(s): return {"log": ["a"]}
    def b(s): return {"log": ["b"]}

    builder = GraphBuilder(S, name="two").node(a).node(b)
    builder.approval(after="a", on_approve="b")
    url, mode = sys.argv[1], sys.argv[2]
    cfg = {"configurable": {"thread_id": "persist"}}
    with open_checkpointer(url) as saver:
        graph = builder.compile(checkpointer=saver)
        if mode == "start":
            out = graph.invoke({"log": []}, cfg)
            print("interrupted" if "__interrupt__" in out else "finished")
        else:
            out = graph.invoke(Command(resume="yes"), cfg)
            print(",".join(out["log"]))
    """
)


def _run(script: Path, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_default_is_sqlite_undermnemos_home(mnemos_home: Path) -> None:
    assert default_checkpoint_url() == f"sqlite:///{mnemos_home / 'checkpoints.db'}"
    saver = sqlite_checkpointer()
    try:
        assert isinstance(saver, SqliteSaver)
        assert (mnemos_home / "checkpoints.db").exists()
    finally:
        close_checkpointer(saver)


def test_env_var_names_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNEMOS_CHECKPOINTS", f"sqlite:///{tmp_path / 'env.db'}")
    with open_checkpointer() as saver:
        assert isinstance(saver, SqliteSaver)
    assert (tmp_path / "env.db").exists()


def test_url_forms(tmp_path: Path) -> None:
    assert isinstance(checkpointer_from_url("memory"), InMemorySaver)
    with open_checkpointer(str(tmp_path / "plain.db")) as saver:
        assert isinstance(saver, SqliteSaver)
    with open_checkpointer(tmp_path / "path.db") as saver:
        assert isinstance(saver, SqliteSaver)
    with pytest.raises(ConfigurationError, match="unknown checkpoint scheme 'redis'"):
        checkpointer_from_url("redis://localhost")
    with pytest.raises(ConfigurationError):
        checkpointer_from_url("  ")


def test_unopenable_sqlite_file_is_a_storage_error(tmp_path: Path) -> None:
    bad = tmp_path / "not_a_db.db"
    bad.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StorageError, match="checkpoint database"):
        sqlite_checkpointer(bad)
    assert bad.read_bytes().startswith(b"this is not sqlite")


def test_sqlite_thread_resumes_in_a_new_process(tmp_path: Path) -> None:
    script = tmp_path / "g.py"
    script.write_text(GRAPH_SCRIPT)
    url = f"sqlite:///{tmp_path / 'cp.db'}"
    assert _run(script, url, "start") == "interrupted"
    assert _run(script, url, "resume") == "a,b"


@pytest.fixture
def pg_url() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg")
    schema = f"mnemos_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_URL, autocommit=True)
    except psycopg.OperationalError as exc:  # pragma: no cover - server missing
        pytest.skip(f"PostgreSQL not available: {exc}")
    admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


@pytest.mark.postgres
def test_postgres_thread_resumes_in_a_new_process(tmp_path: Path, pg_url: str) -> None:
    script = tmp_path / "g.py"
    script.write_text(GRAPH_SCRIPT)
    assert _run(script, pg_url, "start") == "interrupted"
    assert _run(script, pg_url, "resume") == "a,b"
    with open_checkpointer(pg_url) as saver:
        threads = {c.config["configurable"]["thread_id"] for c in saver.list(None)}
    assert threads == {"persist"}


@pytest.mark.postgres
def test_postgres_bad_server_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match="PostgreSQL"):
        checkpointer_from_url("postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=2")


class _LogState(TypedDict):
    log: Annotated[list[str], operator.add]


async def _async_round_trip(url: str) -> list[str]:
    def a(s: _LogState) -> dict:
        return {"log": ["a"]}

    def b(s: _LogState) -> dict:
        return {"log": ["b"]}

    builder = GraphBuilder(_LogState, name="async_two").node(a).node(b)
    builder.approval(after="a", on_approve="b")
    cfg = {"configurable": {"thread_id": "async"}}
    async with aopen_checkpointer(url) as saver:
        graph = builder.compile(checkpointer=saver)
        first = await graph.ainvoke({"log": []}, cfg)
        assert "__interrupt__" in first
    async with aopen_checkpointer(url) as saver:  # a new connection continues the thread
        graph = builder.compile(checkpointer=saver)
        out = await graph.ainvoke(Command(resume="yes"), cfg)
    return out["log"]


async def test_async_sqlite_checkpointer_resumes(tmp_path: Path) -> None:
    assert await _async_round_trip(f"sqlite:///{tmp_path / 'async.db'}") == ["a", "b"]


@pytest.mark.postgres
async def test_async_postgres_checkpointer_resumes(pg_url: str) -> None:
    assert await _async_round_trip(pg_url) == ["a", "b"]


def test_postgres_without_the_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulates the missing package (it is installed here) by hiding its module."""
    from mnemos.exceptions import MissingExtraError

    monkeypatch.setitem(sys.modules, "langgraph.checkpoint.postgres", None)
    with pytest.raises(MissingExtraError, match=r"mnemos\[postgres\]"):
        checkpointer_from_url("postgresql://postgres@127.0.0.1:5432/test")
