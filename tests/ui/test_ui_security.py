"""Who may use the web UI: Host and Origin checks on loopback, bearer tokens and principals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner
from ui_testkit import UIData

from mnemos.cli import app as cli_app
from mnemos.memory_adapters.native import NativeMemoryAdapter
from mnemos.ui import create_app
from mnemos.ui._security import is_loopback

TOKENS = {"tok-alice-123": "alice", "tok-bob-456": "bob"}


@pytest.fixture
def secured(data: UIData) -> Iterator[TestClient]:
    """The UI as served off loopback: tokens required, Host not checked."""
    app = create_app(data.config(tokens=TOKENS, loopback=False))
    with TestClient(app, base_url="http://mnemos.example:8765") as c:
        yield c


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_loopback_names() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.4", "example.com", ""))


def test_a_foreign_host_header_is_refused_on_loopback(client: TestClient) -> None:
    response = client.get("/memory", headers={"host": "evil.example:8765"})
    assert response.status_code == 421 and "not this machine" in response.text
    for host in ("localhost:8765", "127.0.0.1", "[::1]:8765"):
        assert client.get("/memory", headers={"host": host}).status_code == 200, host


def test_a_change_from_another_origin_is_refused(client: TestClient, data: UIData) -> None:
    rid = data.ids["meeting"]
    foreign = client.post(f"/memory/{rid}/delete", data={"confirm": "yes"},
                          headers={"origin": "http://evil.example"})
    assert foreign.status_code == 403
    cross = client.post(f"/memory/{rid}/delete", data={"confirm": "yes"},
                        headers={"sec-fetch-site": "cross-site"})
    assert cross.status_code == 403
    with NativeMemoryAdapter(data.store) as mem:
        assert mem.get(rid).id == rid  # nothing was deleted
    same = client.post(f"/memory/{rid}/delete", data={"confirm": "yes"},
                       headers={"origin": "http://127.0.0.1:8765"}, follow_redirects=False)
    assert same.status_code == 303


def test_without_a_token_nothing_is_shown(secured: TestClient) -> None:
    for path in ("/memory", "/threads", "/brainstorms", "/graphs", "/memory/export"):
        response = secured.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert secured.get("/memory", headers=_bearer("wrong")).status_code == 401
    page = secured.get("/memory", headers={"accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
    assert secured.get("/static/ui.css").status_code == 200  # the login page needs its style


def test_a_principal_sees_only_its_own_memory(secured: TestClient, data: UIData) -> None:
    page = secured.get("/memory", headers=_bearer("tok-alice-123")).text
    assert data.ids["principal"] in page
    assert data.ids["tea"] not in page and data.ids["bob"] not in page  # outside principals/alice
    assert secured.get(f"/memory/{data.ids['bob']}", headers=_bearer("tok-alice-123")).status_code == 404
    assert secured.get(f"/memory/{data.ids['principal']}", headers=_bearer("tok-bob-456")).status_code == 404
    deleted = secured.post(f"/memory/{data.ids['principal']}/delete", data={"confirm": "yes"},
                           headers=_bearer("tok-bob-456"))
    assert deleted.status_code == 404
    with NativeMemoryAdapter(data.store) as mem:
        assert mem.get(data.ids["principal"])


def test_a_principal_sees_only_its_own_threads(secured: TestClient) -> None:
    alice = secured.get("/threads", headers=_bearer("tok-alice-123")).text
    assert "review-1" in alice and "review-bob" not in alice
    assert secured.get("/threads/review-bob", headers=_bearer("tok-alice-123")).status_code == 404
    bob = secured.get("/threads/review-bob", headers=_bearer("tok-bob-456"))
    assert bob.status_code == 200 and "Publish this brief?" in bob.text
    answer = secured.post("/threads/review-bob/answer", data={"answer": "yes"}, headers=_bearer("tok-alice-123"))
    assert answer.status_code == 404
    assert "ideas-1" not in secured.get("/brainstorms", headers=_bearer("tok-bob-456")).text


def test_login_sets_a_cookie_that_later_requests_use(secured: TestClient) -> None:
    form = secured.get("/login")
    assert form.status_code == 200 and 'name="token"' in form.text
    bad = secured.post("/login", data={"token": "nope", "next": "/threads"})
    assert bad.status_code == 401 and "not valid" in bad.text
    good = secured.post("/login", data={"token": "tok-alice-123", "next": "https://evil.example/"},
                        follow_redirects=False)
    assert good.status_code == 303 and good.headers["location"] == "/memory"  # no open redirect
    cookie = good.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert secured.get("/threads").status_code == 200  # the client keeps the cookie
    secured.post("/logout")
    secured.cookies.clear()
    assert secured.get("/threads").status_code == 401


def test_a_token_link_logs_in_and_drops_the_token_from_the_address(secured: TestClient) -> None:
    response = secured.get("/threads?token=tok-bob-456&kind=graph", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/threads?kind=graph"
    assert "mnemos_ui=tok-bob-456" in response.headers["set-cookie"]
    assert secured.get("/threads?token=wrong").status_code == 401


def test_cli_refuses_a_public_address_without_tokens() -> None:
    result = CliRunner().invoke(cli_app, ["ui", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "not a loopback address" in result.output and "--tokens" in result.output


def test_cli_rejects_a_bad_scope() -> None:
    result = CliRunner().invoke(cli_app, ["ui", "--scope", "a//b"])
    assert result.exit_code == 2 and "error:" in result.output


def test_mnemos_ui_serves_over_a_real_socket(data: UIData, tmp_path: Path) -> None:
    """``mnemos ui`` in its own process: pages over HTTP, then a clean stop."""
    import subprocess
    import sys
    import time

    import httpx
    from ui_testkit import free_port

    port = free_port()
    command = [sys.executable, "-c", "from mnemos.cli import main; main()", "ui", "--port", str(port),
               "--store", str(data.store), "--checkpoints", str(data.checkpoints)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/memory", timeout=5)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "mnemos ui did not start"
                time.sleep(0.2)
        assert response.status_code == 200 and data.ids["tea"] in response.text
        refused = httpx.get(f"http://127.0.0.1:{port}/memory", headers={"host": "evil.example"}, timeout=5)
        assert refused.status_code == 421
    finally:
        process.terminate()
        _, err = process.communicate(timeout=20)
    assert f"mnemos ui on http://127.0.0.1:{port}/" in err
