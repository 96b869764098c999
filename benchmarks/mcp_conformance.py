"""Run the official MCP conformance suite's server scenarios against ``mnemos mcp serve``.

Starts ``mnemos mcp serve --transport http --no-auth`` on a free loopback
port with a temporary ``MNEMOS_HOME`` (or uses ``--url``), runs
``npx @modelcontextprotocol/conformance@VERSION server --url ...`` (all
scenarios of the chosen suite in one run), and prints one line per scenario:
whether it applies to mnemos and how its checks went. Exit status 0 when every
scenario that applies passed, 1 when one failed, 3 when the suite could not be
run (no ``npx``, or the package could not be fetched).

Scenarios that do not apply call tools, prompts or resources that exist only
in the suite's own test server (``test_image_content``, ``test://static-text``,
``test_simple_prompt`` ...); what mnemos answers to them is printed too.

    python benchmarks/mcp_conformance.py            # pinned version, active suite
    python benchmarks/mcp_conformance.py --suite all --json results.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

VERSION = "0.1.13"
"""The newest release that runs on Node 20 (0.1.15 and later need Node 22)."""

APPLICABLE = {
    "server-initialize": "initialize handshake",
    "ping": "ping",
    "logging-set-level": "logging/setLevel",
    "completion-complete": "completion/complete (an unknown prompt gets an empty list)",
    "tools-list": "tools/list",
    "resources-list": "resources/list",
    "resources-subscribe": "resources/subscribe",
    "resources-unsubscribe": "resources/unsubscribe",
    "prompts-list": "prompts/list",
    "server-sse-multiple-streams": "several SSE streams on one session",
    "dns-rebinding-protection": "Host/Origin checks on loopback",
}
FIXTURE = "calls {what} of the suite's own test server, which mnemos does not have"
NOT_APPLICABLE = {
    "tools-call-simple-text": FIXTURE.format(what="the tool test_simple_text"),
    "tools-call-image": FIXTURE.format(what="the tool test_image_content"),
    "tools-call-audio": FIXTURE.format(what="the tool test_audio_content"),
    "tools-call-embedded-resource": FIXTURE.format(what="the tool test_embedded_resource"),
    "tools-call-mixed-content": FIXTURE.format(what="the tool test_multiple_content_types"),
    "tools-call-with-logging": FIXTURE.format(what="the tool test_tool_with_logging"),
    "tools-call-error": FIXTURE.format(what="the tool test_error_handling"),
    "tools-call-with-progress": FIXTURE.format(what="the tool test_tool_with_progress"),
    "tools-call-sampling": FIXTURE.format(what="the tool test_sampling") + "; mnemos never asks the client to sample",
    "tools-call-elicitation": FIXTURE.format(what="the tool test_elicitation") + "; mnemos never elicits",
    "elicitation-sep1034-defaults": FIXTURE.format(what="an elicitation tool") + "; mnemos never elicits",
    "elicitation-sep1330-enums": FIXTURE.format(what="an elicitation tool") + "; mnemos never elicits",
    "resources-read-text": FIXTURE.format(what="the resource test://static-text"),
    "resources-read-binary": FIXTURE.format(what="the resource test://static-binary") + "; mnemos has no binary resources",
    "resources-templates-read": FIXTURE.format(what="the template test://template/{id}/data"),
    "prompts-get-simple": FIXTURE.format(what="the prompt test_simple_prompt"),
    "prompts-get-with-args": FIXTURE.format(what="the prompt test_prompt_with_arguments"),
    "prompts-get-embedded-resource": FIXTURE.format(what="the prompt test_prompt_with_embedded_resource"),
    "prompts-get-with-image": FIXTURE.format(what="the prompt test_prompt_with_image") + "; mnemos prompts are text",
    "server-sse-polling": FIXTURE.format(what="the tool test_reconnection"),
    "json-schema-2020-12": FIXTURE.format(what="the tool json_schema_2020_12_tool"),
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def mnemos_server(home: Path) -> Iterator[str]:
    """``mnemos mcp serve --transport http --no-auth`` on a free port; yields its URL."""
    port = _free_port()
    env = {**os.environ, "MNEMOS_HOME": str(home), "MNEMOS_MODEL": os.environ.get("MNEMOS_MODEL", "offline")}
    env.pop("MNEMOS_MCP_TOKENS", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mnemos.cli", "mcp", "serve", "--transport", "http", "--no-auth",
         "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mnemos mcp serve exited: {proc.stderr.read() if proc.stderr else ''}")
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Unavailable(RuntimeError):
    """The suite cannot run here (no npx, or no network to fetch it)."""


def run_suite(url: str, out: Path, *, version: str = VERSION, suite: str = "active") -> dict[str, list[dict[str, Any]]]:
    """Run the suite's server scenarios against ``url``; return each scenario's checks."""
    npx = shutil.which("npx")
    if npx is None:
        raise Unavailable("npx (Node.js) is not installed")
    package = f"@modelcontextprotocol/conformance@{version}"
    env = {**os.environ, "npm_config_yes": "true"}
    try:
        subprocess.run([npx, "-y", "-p", package, "node", "-e", "0"], env=env, check=True,
                       capture_output=True, timeout=300)
    except (subprocess.SubprocessError, OSError) as exc:
        raise Unavailable(f"cannot fetch {package} with npx: {exc}") from exc
    subprocess.run([npx, "-y", package, "server", "--url", url, "--suite", suite, "-o", str(out)],
                   env=env, capture_output=True, text=True, timeout=600)
    results: dict[str, list[dict[str, Any]]] = {}
    for checks in sorted(out.glob("server-*/checks.json")):
        name = re.sub(r"-\d{4}-\d{2}-\d{2}T[\d-]+Z?$", "", checks.parent.name.removeprefix("server-"))
        results[name] = json.loads(checks.read_text())
    if not results:
        raise RuntimeError("the conformance suite produced no results")
    return results


def summarize(results: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per scenario: name, applies, passed/failed counts, reason and failure messages."""
    rows = []
    for name, checks in sorted(results.items()):
        passed = sum(c.get("status") == "SUCCESS" for c in checks)
        failed = [c for c in checks if c.get("status") == "FAILURE"]
        applies = name in APPLICABLE
        rows.append({
            "scenario": name,
            "applies": applies,
            "passed": passed,
            "failed": len(failed),
            "why": APPLICABLE.get(name) or NOT_APPLICABLE.get(name, "unclassified scenario: check it"),
            "failures": [str(c.get("errorMessage") or c.get("id")) for c in failed],
        })
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", help="an already running mnemos MCP endpoint (default: start one)")
    parser.add_argument("--version", default=VERSION, help=f"conformance package version (default {VERSION})")
    parser.add_argument("--suite", default="active", choices=["active", "all", "pending"])
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mnemos-conformance-") as tmp:
        try:
            if args.url:
                results = run_suite(args.url, Path(tmp) / "out", version=args.version, suite=args.suite)
            else:
                with mnemos_server(Path(tmp) / "home") as url:
                    results = run_suite(url, Path(tmp) / "out", version=args.version, suite=args.suite)
        except Unavailable as exc:
            print(f"conformance suite unavailable: {exc}", file=sys.stderr)
            return 3
    rows = summarize(results)
    for row in rows:
        mark = ("PASS" if not row["failed"] and row["passed"] else "FAIL") if row["applies"] else "n/a "
        print(f"{mark}  {row['scenario']:<32} {row['passed']} passed, {row['failed']} failed  ({row['why']})")
        if row["applies"]:
            for failure in row["failures"]:
                print(f"        {failure}")
    bad = [r for r in rows if (r["applies"] and (r["failed"] or not r["passed"]))
           or (not r["applies"] and r["scenario"] not in NOT_APPLICABLE)]
    applicable = [r for r in rows if r["applies"]]
    print(f"\n{len(applicable) - len([r for r in bad if r['applies']])}/{len(applicable)} applicable scenarios pass "
          f"(conformance {args.version}, suite {args.suite}, {time.monotonic() - started:.1f} s)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
