"""DNS-rebinding protection on every loopback form: a server bound to 127.0.0.0/8, ``localhost``
in any case or ``::1`` refuses requests whose ``Host`` or ``Origin`` names another site
(``evil.example``), with or without tokens. Over real HTTP: uvicorn on the address itself, and
``mnemos mcp serve --no-auth`` in a subprocess."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from mcp_testkit import mnemos_command, subprocess_env

from mnemos.memory_adapters.native import NativeMemoryAdapter
from mnemos.tools._http_security import is_loopback, loopback_transport_security
from mnemos.tools.mcp_server import build_server

_INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
}
_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def _can_bind(address: str) -> bool:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family) as sock:
            sock.bind((address, 0))
    except OSError:
        return False
    return True


def _url_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


@contextlib.contextmanager
def _serve(app: Any, address: str) -> Iterator[int]:
    server = uvicorn.Server(uvicorn.Config(app, host=address, port=0, log_level="warning", lifespan="on",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield int(server.servers[0].sockets[0].getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _post(address: str, port: int, **headers: str) -> int:
    url = f"http://{_url_host(address)}:{port}/mcp"
    return httpx.post(url, json=_INIT, headers={**_HEADERS, **headers}, timeout=10).status_code


# (the host given to the server, the address it binds, the Host a local client sends)
FORMS = [
    ("127.0.0.1", "127.0.0.1", "127.0.0.1"),
    ("127.0.0.2", "127.0.0.2", "127.0.0.2"),
    ("127.10.20.30", "127.10.20.30", "127.10.20.30"),
    ("localhost", "127.0.0.1", "localhost"),
    ("LOCALHOST", "127.0.0.1", "localhost"),
    ("LocalHost", "127.0.0.1", "LocalHost"),
    ("::1", "::1", "[::1]"),
    ("[::1]", "::1", "[::1]"),
]


@pytest.mark.parametrize(("host", "address", "client_host"), FORMS)
@pytest.mark.parametrize("tokens", [None, {"a-token-5c0ffee7": "alice"}], ids=["no-auth", "tokens"])
def test_every_loopback_form_refuses_foreign_host_and_origin(
    memory: NativeMemoryAdapter, host: str, address: str, client_host: str, tokens: dict[str, str] | None
) -> None:
    if not _can_bind(address):
        pytest.skip(f"cannot bind {address} here")
    server = build_server(memory, host=host, tokens=tokens)
    auth = {"Authorization": "Bearer a-token-5c0ffee7"} if tokens else {}
    with _serve(server.streamable_http_app(), address) as port:
        assert _post(address, port, Host="evil.example", **auth) == 421
        assert _post(address, port, Host=f"evil.example:{port}", **auth) == 421
        assert _post(address, port, Host=f"{client_host}:{port}", Origin="http://evil.example", **auth) == 403
        assert _post(address, port, Host=f"{client_host}:{port}", Origin=f"http://evil.example:{port}", **auth) == 403
        # a local client is served: its own Host, with or without a same-machine Origin
        assert _post(address, port, Host=f"{client_host}:{port}", **auth) == 200
        assert _post(address, port, Host=f"{client_host}:{port}", Origin=f"http://{client_host}:{port}", **auth) == 200
    assert memory.count() == 0


def test_the_check_is_on_for_loopback_hosts_only() -> None:
    for host, _, _ in FORMS:
        assert is_loopback(host), host
        settings = loopback_transport_security(host)
        assert settings is not None and settings.enable_dns_rebinding_protection
    for host in ("0.0.0.0", "192.168.1.10", "example.com", "localhost.evil.example", "", "::"):
        assert not is_loopback(host), host
        assert loopback_transport_security(host) is None


def _free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("host", ["127.0.0.2", "LOCALHOST"])
def test_cli_no_auth_server_refuses_a_rebinding_request(tmp_path: Path, host: str) -> None:
    """The reproducer: ``--no-auth --host 127.0.0.2`` (or ``LOCALHOST``) served ``Host: evil.example``."""
    address = "127.0.0.2" if host == "127.0.0.2" else "127.0.0.1"
    if not _can_bind(address):
        pytest.skip(f"cannot bind {address} here")
    port = _free_port(address)
    proc = subprocess.Popen(
        mnemos_command("mcp", "serve", "--transport", "http", "--no-auth", "--host", host, "--port", str(port),
                       "--store", str(tmp_path / "memory.db")),
        env=subprocess_env(tmp_path / "home"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
            try:
                httpx.get(f"http://{address}:{port}/mcp", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert _post(address, port, Host="evil.example", Origin="http://evil.example") == 421
        assert _post(address, port, Host=f"{address}:{port}", Origin="http://evil.example") == 403
        assert _post(address, port, Host=f"{address}:{port}") == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)
