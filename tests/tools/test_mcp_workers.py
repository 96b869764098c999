"""``mnemos mcp serve --workers 4`` on one PostgreSQL database (store and checkpoints).

The server is a real subprocess with four uvicorn worker processes on one
port; the clients are the SDK's ``ClientSession`` over streamable HTTP,
many at once, for several principals. Every write must be in the store
afterwards (no errors, none lost), graph threads must continue across
workers (their checkpoints are shared). ``benchmarks/mcp_load.py`` runs the
same at a larger scale, on native SQLite too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from mcp_testkit import http_session, mnemos_command, subprocess_env
from typer.testing import CliRunner

from mnemos.cli import app
from mnemos.memory_adapters.registry import open_memory

TOKENS = {f"worker-token-{n}": f"p{n}" for n in range(4)}
ENV_TOKENS = ",".join(f"{t}={p}" for t, p in TOKENS.items())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(entry.name))
    return found


@contextlib.contextmanager
def _serve(home: Path, *args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = _free_port()
    env = subprocess_env(home, MNEMOS_MCP_TOKENS=ENV_TOKENS)
    server = subprocess.Popen(
        mnemos_command("mcp", "serve", "--transport", "http", "--port", str(port), "--no-entry-points",
                       "--graph", "echo=mcp_testkit:echo_graph", "--rate-limit", "0", *args),
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url, timeout=2).status_code == 401:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise AssertionError(f"server did not start: {server.communicate(timeout=10)[1][-3000:]}")
            time.sleep(0.2)
        yield url, server
    finally:
        server.terminate()
        try:
            _, err = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            _, err = server.communicate()
    assert "Traceback" not in err, err[-3000:]


async def _load(url: str, *, clients: int, calls: int) -> list[str]:
    """``clients`` sessions at once, each adding ``calls`` memories; returns the errors."""
    errors: list[str] = []
    tokens = list(TOKENS)

    async def client(n: int) -> None:
        async with http_session(url, tokens[n % len(tokens)]) as session:
            for k in range(calls):
                result = await session.call_tool(
                    "memory_add", {"content": f"client {n} write {k} lantern", "namespace": f"load/c{n}"})
                if result.isError:
                    errors.append(str(result.content))
            found = await session.call_tool("memory_search", {"query": "lantern", "namespace": f"load/c{n}"})
            if found.isError:
                errors.append(str(found.content))

    await asyncio.gather(*(client(n) for n in range(clients)))
    return errors


async def _graph_turns(url: str, threads: int, turns: int) -> list[str]:
    """Several turns on several threads, each turn a new session (any worker may take it)."""
    last: list[str] = []

    async def thread(n: int) -> None:
        text = ""
        for turn in range(turns):
            async with http_session(url, "worker-token-0") as session:
                result = await session.call_tool(
                    "graph_run", {"name": "echo", "thread_id": f"t{n}", "input": f"hello {turn}"})
                assert not result.isError, result.content
                text = result.structuredContent["messages"][-1]["content"]  # type: ignore[index]
        last.append(text)

    await asyncio.gather(*(thread(n) for n in range(threads)))
    return last


def _check_store(store: str, clients: int, calls: int) -> None:
    memory = open_memory(store)
    try:
        for n in range(clients):
            principal = TOKENS[list(TOKENS)[n % len(TOKENS)]]
            scoped = memory.scoped("principals", principal)
            assert scoped.count(("load", f"c{n}")) == calls, f"client {n}"
    finally:
        memory.close()


def _run_checks(url: str, server: subprocess.Popen[str], store: str) -> None:
    assert len(_children(server.pid)) >= 4, "expected four worker processes"
    clients, calls = 8, 5
    errors = asyncio.run(_load(url, clients=clients, calls=calls))
    assert errors == []
    _check_store(store, clients, calls)
    assert sorted(asyncio.run(_graph_turns(url, threads=3, turns=3))) == ["turn 3: hello 2"] * 3


def test_four_workers_on_postgres_store_and_checkpoints(tmp_path: Path, pg_schemas: object, pgvector_url: str) -> None:
    import psycopg

    store = pg_schemas.new_url()  # type: ignore[attr-defined]
    schema = pg_schemas.new()  # type: ignore[attr-defined]
    with psycopg.connect(pgvector_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in pgvector_url else "?"
    checkpoints = f"{pgvector_url}{sep}options={quote(f'-csearch_path={schema}')}"
    with _serve(tmp_path, "--workers", "4", "--store", store, "--checkpoints", checkpoints) as (url, server):
        _run_checks(url, server, store)
    with psycopg.connect(pgvector_url, autocommit=True) as conn:
        threads = conn.execute(f'SELECT count(DISTINCT thread_id) FROM "{schema}".checkpoints').fetchone()
    assert threads is not None and threads[0] == 3


def test_workers_need_http() -> None:
    result = CliRunner().invoke(app, ["mcp", "serve", "--workers", "2"])
    assert result.exit_code != 0
    assert "--transport http only" in result.output


@pytest.fixture(autouse=True)
def _no_stray_env() -> Iterator[None]:
    yield
    os.environ.pop("MNEMOS_MCP_WORKER_SETTINGS", None)
    sys.stdout.flush()


def test_opening_checkpoints_keeps_this_process_locks(tmp_path: Path) -> None:
    """Opening a checkpointer on a file another connection of this process is writing in must
    not drop that connection's locks (closing any descriptor of the file drops them all): with
    several workers, concurrent graph runs corrupted the SQLite checkpoints ("database disk
    image is malformed") until the file was no longer opened and closed when it exists."""
    import sqlite3

    # what every opening of a checkpoint file runs first
    from mnemos.graphs.checkpoint import _private_file

    path = tmp_path / "threads.db"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("CREATE TABLE t (x)")
    writer.execute("BEGIN EXCLUSIVE")
    try:
        _private_file(path)  # another graph run of this process opens the same file
        probe = subprocess.run(
            [sys.executable, "-c",
             "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)\n"
             "try:\n    c.execute('BEGIN IMMEDIATE'); print('got the lock')\n"
             "except sqlite3.OperationalError as e:\n    print(e)",
             str(path)],
            capture_output=True, text=True, timeout=60,
        )
        assert probe.stdout.strip() == "database is locked", probe.stdout + probe.stderr
    finally:
        writer.execute("ROLLBACK")
        writer.close()
