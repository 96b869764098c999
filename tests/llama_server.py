"""An OpenAI-compatible HTTP server on 127.0.0.1: llama.cpp (xllamacpp) serving the local model.

Started in a child process on a free port, so requests really cross HTTP;
:func:`llama_http_server` yields its ``/v1`` base URL and stops it afterwards.
Its ``/metrics`` endpoint counts the tokens it generated, so a test can check
that a model call went through it.

One server serves the whole session (the ``llama_url`` fixture of ``conftest.py``).
llama.cpp reuses the longest cached prefix of the previous prompt, which makes a
reply depend on the requests before it; :func:`forget_prompts` empties that cache
(and the server keeps no other copy of old prompts), so each test starts as on a
fresh server.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

_SERVE = """
import sys, time
import xllamacpp
from mnemos.agents.llamacpp import local_model_path

p = xllamacpp.CommonParams()
p.model.path = str(local_model_path("smollm2"))
p.n_ctx = 4096
p.n_parallel = 1
p.cpuparams.n_threads = 1
p.cpuparams_batch.n_threads = 1
p.verbosity = -1
p.hostnames = ["127.0.0.1"]
p.port = int(sys.argv[1])
p.use_jinja = True
p.endpoint_metrics = True
p.slot_save_path = sys.argv[2]  # enables the /slots actions (forget_prompts)
p.cache_ram_mib = 0  # no copy of earlier prompts kept in RAM to be restored later
server = xllamacpp.Server(p)
print("ready", server.listening_address, flush=True)
sys.stdin.read()  # serve until the parent closes our stdin
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def llama_http_server(timeout: float = 120.0) -> Iterator[str]:
    """Serve the local model over HTTP; yields ``http://127.0.0.1:PORT/v1``."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNEMOS_MODEL")}
    slots = tempfile.mkdtemp(prefix="llama-slots-")
    proc = subprocess.Popen([sys.executable, "-c", _SERVE, str(port), slots], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the llama.cpp server exited: {proc.stderr.read() if proc.stderr else ''}")
            try:
                with urllib.request.urlopen(base + "/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the llama.cpp server did not come up")
            time.sleep(0.2)
        yield base + "/v1"
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        shutil.rmtree(slots, ignore_errors=True)


def forget_prompts(base_url: str) -> None:
    """Empty the server's prompt cache (its one slot), so the next reply depends on no earlier request."""
    root = base_url.removesuffix("/v1")
    request = urllib.request.Request(root + "/slots/0?action=erase", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        if response.status != 200:
            raise AssertionError(f"the llama.cpp server did not empty its prompt cache: {response.status}")


def tokens_generated(base_url: str) -> int:
    """How many tokens the server has generated so far (from its Prometheus metrics)."""
    root = base_url.removesuffix("/v1")
    with urllib.request.urlopen(root + "/metrics", timeout=10) as response:
        text = response.read().decode()
    match = re.search(r"^llamacpp:tokens_predicted_total\s+(\d+)", text, re.M)
    if not match:
        raise AssertionError(f"no token counter in the metrics:\n{text[:500]}")
    return int(match.group(1))
