"""The README's ``mcpServers`` blocks, copied verbatim, work in ``langchain-mcp-adapters``.

The stdio block starts ``mnemos mcp serve`` (found on ``PATH``, as the block
says); the HTTP block connects to the server the README's command starts,
with the README's token. Both are driven by the real ``MultiServerMCPClient``,
which calls ``memory_add`` and ``memory_search``. ``mnemos mcp config``
prints blocks of the same shape with absolute paths.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_mcp_adapters.client import MultiServerMCPClient
from langchain_mcp_adapters.tools import load_mcp_tools
from mcp_testkit import REPO, subprocess_env
from typer.testing import CliRunner

from mnemos.cli import app

README = (REPO / "README.md").read_text(encoding="utf-8")
MCP_SECTION = README.split("\n## MCP\n", 1)[1].split("\n## ", 1)[0]


def _blocks() -> dict[str, dict[str, Any]]:
    """The README's mcpServers entries by transport."""
    found = {}
    for text in re.findall(r"^```json\n(.*?)^```", MCP_SECTION, re.M | re.S):
        entry = json.loads(text)["mcpServers"]["mnemos"]
        found["http" if "url" in entry else "stdio"] = json.loads(text)
    assert set(found) == {"stdio", "http"}
    return found


def _serve_line() -> str:
    (line,) = re.findall(r"^```bash\n(MNEMOS_MCP_TOKENS=.*mnemos mcp serve --transport http.*)\n```", MCP_SECTION, re.M)
    return line


async def _add_and_search(connections: dict[str, Any], text: str) -> str:
    client = MultiServerMCPClient(connections)
    async with client.session("mnemos") as session:  # one server process for the calls
        tools = {t.name: t for t in await load_mcp_tools(session)}
        assert {"memory_add", "memory_search"} <= set(tools)
        await tools["memory_add"].ainvoke({"content": text, "namespace": "readme/check"})
        found = await tools["memory_search"].ainvoke({"query": text.split()[-1]})
    return json.dumps(found, default=str)


def test_readme_stdio_block_verbatim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    block = _blocks()["stdio"]
    assert "${" not in json.dumps(block)
    # the client's environment: a HOME of its own, and the environment's scripts on PATH
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    monkeypatch.delenv("MNEMOS_HOME", raising=False)
    result = asyncio.run(_add_and_search(block["mcpServers"], "the stdio block reaches falconberry"))
    assert "falconberry" in result
    assert (tmp_path / ".mnemos" / "memory.db").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_readme_http_block_verbatim(tmp_path: Path) -> None:
    block = _blocks()["http"]
    line = _serve_line()
    text = json.dumps(block)
    assert "${" not in text
    if _port_taken(8765):  # another server on this machine: move both to a free port, nothing else
        port = str(_free_port())
        line, text = line.replace("8765", port), text.replace("8765", port)
        block = json.loads(text)
    assignment, *command = shlex.split(line)
    key, value = assignment.split("=", 1)
    assert command[0] == "mnemos"
    env = subprocess_env(tmp_path, **{key: value})
    server = subprocess.Popen(
        [sys.executable, "-m", "mnemos.cli", *command[1:]], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        url = block["mcpServers"]["mnemos"]["url"]
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url, timeout=2)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"server did not start: {server.stderr.read() if server.stderr else ''}") from None
                time.sleep(0.1)
        result = asyncio.run(_add_and_search(block["mcpServers"], "the http block reaches quillfeather"))
        assert "quillfeather" in result
    finally:
        server.terminate()
        server.wait(timeout=20)
    # the block's token is the one the command serves
    assert block["mcpServers"]["mnemos"]["headers"]["Authorization"] == "Bearer " + value.split("=")[0]


def test_config_command_prints_blocks_clients_read(tmp_path: Path) -> None:
    runner = CliRunner()
    stdio = json.loads(runner.invoke(app, ["mcp", "config"], env={"MNEMOS_HOME": str(tmp_path)}).stdout)
    entry = stdio["mcpServers"]["mnemos"]
    assert Path(entry["command"]).is_absolute()
    assert entry["args"][-2:] == ["mcp", "serve"]
    assert entry["env"] == {"MNEMOS_HOME": str(tmp_path.resolve())}
    assert entry["transport"] == "stdio"

    http = runner.invoke(app, ["mcp", "config", "-t", "http", "--principal", "bob", "--client", "desktop"],
                         env={"MNEMOS_MCP_TOKENS": "tok-a=alice,tok-b=bob"})
    assert http.exit_code == 0, http.output
    assert json.loads(http.stdout) == {"mcpServers": {"mnemos": {
        "url": "http://127.0.0.1:8765/mcp", "headers": {"Authorization": "Bearer tok-b"}}}}

    unclear = runner.invoke(app, ["mcp", "config", "-t", "http"], env={"MNEMOS_MCP_TOKENS": "tok-a=alice,tok-b=bob"})
    assert unclear.exit_code != 0
    assert "give --token" in unclear.output


def test_config_command_block_runs_in_langchain(tmp_path: Path) -> None:
    """What `mnemos mcp config` prints starts a working server (its command, args and env)."""
    printed = CliRunner().invoke(app, ["mcp", "config", "--store", str(tmp_path / "m.db")],
                                 env={"MNEMOS_HOME": str(tmp_path)})
    block = json.loads(printed.stdout)
    result = asyncio.run(_add_and_search(block["mcpServers"], "the printed block reaches marrowlight"))
    assert "marrowlight" in result
    assert (tmp_path / "m.db").exists()
