"""Helpers for the MCP tests: a small graph, user tools, and servers on real transports.

Importable by name from the server subprocesses too (the tests put this
directory on their ``PYTHONPATH``), so ``--graph echo=mcp_testkit:echo_graph``
and ``--tool mcp_testkit:user_tools`` work on the command line.
"""

from __future__ import annotations

import contextlib
import operator
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import httpx
import uvicorn
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import interrupt
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from sse_starlette.sse import AppStatus

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
EXTERNAL_SERVER = REPO / "examples" / "mcp_external_tool" / "server.py"


# --- a graph and tools to register -------------------------------------------------------


class EchoState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    turns: Annotated[int, operator.add]


def _respond(state: EchoState, config: RunnableConfig) -> dict[str, Any]:
    last = state["messages"][-1]
    turn = sum(1 for m in state["messages"] if isinstance(m, HumanMessage))
    memory = config.get("configurable", {}).get("mnemos_memory")
    if memory is not None:
        memory.add(f"graph input: {last.content}", namespace=("graph", "inputs"))
    return {"messages": [AIMessage(f"turn {turn}: {last.content}")], "turns": 1}


def _build_echo() -> Any:
    builder = StateGraph(EchoState)
    builder.add_node("respond", _respond)
    builder.add_edge(START, "respond")
    builder.add_edge("respond", END)
    return builder.compile()


echo_graph = _build_echo()


class ApprovalState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def _ask(state: ApprovalState) -> dict[str, Any]:
    answer = interrupt(f"approve: {state['messages'][-1].content}?")
    verdict = "approved" if str(answer).lower() in ("yes", "y", "ok") else "rejected"
    return {"messages": [AIMessage(verdict)]}


def _build_approval() -> Any:
    builder = StateGraph(ApprovalState)
    builder.add_node("ask", _ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    return builder  # uncompiled: the registry compiles it with its checkpointer


approval_graph = _build_approval()


@tool
def shout(text: str) -> str:
    """Return the text in upper case."""
    return text.upper()


@tool
def add_numbers(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


user_tools = [shout, add_numbers]


# --- servers on real transports -----------------------------------------------------------


def subprocess_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for a server subprocess: a temp MNEMOS_HOME and this directory importable."""
    env = dict(os.environ)
    env["MNEMOS_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH", "")]))
    env.pop("MNEMOS_MCP_TOKENS", None)
    env.update(extra)
    return env


def mnemos_command(*args: str) -> list[str]:
    """``python -m mnemos.cli ...`` with this interpreter."""
    return [sys.executable, "-m", "mnemos.cli", *args]


@contextlib.asynccontextmanager
async def stdio_session(args: list[str], env: dict[str, str]) -> AsyncIterator[ClientSession]:
    """An initialized ClientSession to ``python -m mnemos.cli <args>`` over stdio."""
    params = StdioServerParameters(command=sys.executable, args=["-m", "mnemos.cli", *args], env=env)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@contextlib.contextmanager
def serve_http(app: Any) -> Iterator[str]:
    """Run an ASGI app with uvicorn on a free 127.0.0.1 port in a thread; yield its /mcp URL."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        # As on Ctrl-C: sse-starlette hooks uvicorn's exit handler to end open SSE streams, so
        # a client still connected does not hold the shutdown for the whole graceful timeout.
        server.handle_exit(signal.SIGINT, None)
        thread.join(timeout=10)
        AppStatus.should_exit = False  # process-wide: later servers of this test process stream again


@contextlib.asynccontextmanager
async def http_session(url: str, token: str | None) -> AsyncIterator[ClientSession]:
    """An initialized ClientSession over streamable HTTP, with a bearer token if given."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx.AsyncClient(headers=headers, timeout=30) as client,
        streamable_http_client(url, http_client=client) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session
