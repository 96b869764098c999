"""Page load and search round-trip times of the web UI over a store of 100k memories.

Builds a native store of ``--size`` synthetic memories (the sentence generator
of ``scale.py``, spread over 20 user namespaces; or reuses ``--store`` if it
already holds them), serves the UI with uvicorn on a loopback port, and times
real HTTP requests, each a full server-side render:

- page loads: the memory browser (the newest records), one namespace, a
  filtered listing, a record page (history, supersession chain, entity graph),
  the threads and graphs pages; and the namespace tree with its counts, which
  the page fetches after itself and the server keeps for 10 s, counted afresh;
- search round trips: ``/memory?q=...`` for generated queries, hybrid and
  full-text.

With ``--browser`` (and Chromium + Playwright installed) it also times, in
headless Chromium, the memory page's load event and a search from typing the
query to the results being on screen.

    nice python benchmarks/ui_latency.py                        # 100k memories, built in a temp dir
    nice python benchmarks/ui_latency.py --store /tmp/ui100k.db --browser --json out.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from _common import latency_summary
from rich.console import Console
from rich.table import Table
from scale import SentenceGenerator, memories

from mnemos.memory_adapters.native import NativeMemoryAdapter

USERS = 20


def build(path: Path, size: int, batch: int = 1000) -> float:
    """Fill ``path`` with ``size`` memories (skipped if it holds that many); return seconds taken."""
    start = time.perf_counter()
    with NativeMemoryAdapter(path) as store:
        have = store.count()
        if have >= size:
            return 0.0
        items = []
        for i, item in enumerate(memories(size)):
            if i < have:
                continue
            item["namespace"] = ("users", f"user{i % USERS:02d}", "notes")
            items.append(item)
            if len(items) == batch:
                store.add_many(items)
                items = []
        if items:
            store.add_many(items)
    return time.perf_counter() - start


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(store: Path, checkpoints: Path) -> tuple[str, Callable[[], None], Any]:
    import uvicorn

    from mnemos.ui import UIConfig, create_app

    app = create_app(UIConfig(store=str(store), checkpoints=str(checkpoints)))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    worker = threading.Thread(target=server.run, daemon=True)
    worker.start()
    while not server.started:
        time.sleep(0.05)

    def stop() -> None:
        server.should_exit = True
        worker.join(10)

    return f"http://127.0.0.1:{port}", stop, app


def timed(client: httpx.Client, url: str, repeat: int) -> list[float]:
    client.get(url).raise_for_status()  # warm: the first request also opens caches
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url)
        samples.append(time.perf_counter() - start)
        response.raise_for_status()
    return samples


def http_numbers(base: str, store: Path, repeat: int, queries: int, app: Any) -> dict[str, Any]:
    with NativeMemoryAdapter(store) as mem:
        record = mem.list(namespace=("users", "user03"), limit=1)[0]
    gen = SentenceGenerator(seed=99)
    texts = [gen.query() for _ in range(queries)]
    out: dict[str, Any] = {}
    with httpx.Client(base_url=base, timeout=60) as client:
        pages = {
            "memory browser (/memory)": "/memory",
            "one namespace": "/memory?ns=users/user03/notes",
            "filtered (episodic, importance >= 0.9)": "/memory?kind=episodic&min_importance=0.9",
            "record page": f"/memory/{record.id}",
            "threads": "/threads",
            "graphs": "/graphs",
        }
        for name, url in pages.items():
            out[name] = latency_summary(timed(client, url, repeat))
        cold = []  # the tree is counted afresh: what the first visit (or one after 10 s) pays
        for _ in range(max(3, repeat // 4)):
            app.state.ctx.trees.clear()
            start = time.perf_counter()
            client.get("/memory/tree").raise_for_status()
            cold.append(time.perf_counter() - start)
        out["namespace tree, counted afresh"] = latency_summary(cold)
        for mode in ("hybrid", "keyword"):
            client.get("/memory", params={"q": texts[0], "mode": mode}).raise_for_status()
            samples = []
            for text in texts:
                start = time.perf_counter()
                response = client.get("/memory", params={"q": text, "mode": mode})
                samples.append(time.perf_counter() - start)
                response.raise_for_status()
            out[f"search round trip ({'full-text' if mode == 'keyword' else mode})"] = latency_summary(samples)
    return out


def browser_numbers(base: str, repeat: int, queries: int) -> dict[str, Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"skipped": "playwright is not installed"}
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        return {"skipped": "no chromium binary"}
    gen = SentenceGenerator(seed=99)
    texts = [gen.query() for _ in range(queries)]
    out: dict[str, Any] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"])
        page = browser.new_page(base_url=base)
        page.goto("/memory")
        loads = []
        for _ in range(repeat):
            start = time.perf_counter()
            page.goto("/memory", wait_until="load")
            loads.append(time.perf_counter() - start)
        out["browser: memory page to load event"] = latency_summary(loads)
        searches = []
        for text in texts:
            page.goto("/memory")
            page.wait_for_selector("#tree ul")
            page.fill("#q", text)
            start = time.perf_counter()
            page.click("#search-form button[type=submit]")
            page.wait_for_selector("#hits", state="attached")
            searches.append(time.perf_counter() - start)
        out["browser: search, click to results shown"] = latency_summary(searches)
        browser.close()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="memories in the store (default 100000)")
    parser.add_argument("--store", type=Path, default=None, help="store file to build or reuse (default: a temp dir)")
    parser.add_argument("--repeat", type=int, default=20, help="requests per page (default 20)")
    parser.add_argument("--queries", type=int, default=30, help="search queries per mode (default 30)")
    parser.add_argument("--browser", action="store_true", help="also time page load and search in headless Chromium")
    parser.add_argument("--json", type=Path, default=None, help="write the numbers here")
    args = parser.parse_args(argv)
    console = Console()
    tmp = Path(tempfile.mkdtemp(prefix="mnemos-ui-bench-"))
    store = args.store or tmp / "memory.db"
    try:
        console.print(f"building a store of {args.size} memories at {store} …")
        built = build(store, args.size)
        console.print(f"built in {built:.0f} s" if built else "reused the existing store")
        base, stop, app = serve(store, tmp / "checkpoints.db")
        try:
            results = http_numbers(base, store, args.repeat, args.queries, app)
            if args.browser:
                results.update(browser_numbers(base, max(5, args.repeat // 2), min(10, args.queries)))
        finally:
            stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    table = Table(title=f"web UI latency, {args.size} memories (native store, hashing embedder)")
    for column in ("request", "p50 ms", "p95 ms", "mean ms", "n"):
        table.add_column(column, justify="right" if column != "request" else "left")
    for name, r in results.items():
        if "skipped" in r:
            table.add_row(name, "skipped", r["skipped"], "", "")
        else:
            table.add_row(name, f"{r['p50_ms']:.1f}", f"{r['p95_ms']:.1f}", f"{r['mean_ms']:.1f}", str(r["n"]))
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps({"size": args.size, "build_seconds": built, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
