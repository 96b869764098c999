"""Fixtures for the web UI: a store, saved threads and a brainstorm, the app, a live server.

The data is built once per session (a real native store, a real LangGraph run of
the supervisor example paused at its approval interrupt, a run cut off halfway,
a real brainstorm with the offline model) and copied for each test, so tests
that delete or resume do not see each other's changes.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason='the web UI needs its extra: pip install "mnemos[ui]"')

from starlette.testclient import TestClient
from ui_testkit import UIData, build, free_port

from mnemos.ui import create_app


@pytest.fixture(scope="session")
def _prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    where = tmp_path_factory.mktemp("ui-data")
    with pytest.MonkeyPatch.context() as mp:
        ids = build(where, mp)
    return where, ids


@pytest.fixture
def data(_prepared: tuple[Path, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> UIData:
    """A private copy of the module's store, checkpoints and brainstorm files."""
    source, ids = _prepared
    target = tmp_path / "ui"
    shutil.copytree(source, target)
    monkeypatch.setenv("MNEMOS_STORE", str(target / "memory.db"))
    return UIData(dir=target, store=target / "memory.db", checkpoints=target / "checkpoints.db", ids=dict(ids))


@pytest.fixture
def app(data: UIData) -> Iterator[Any]:
    application = create_app(data.config())
    yield application


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1:8765") as c:
        yield c


@pytest.fixture
def live_server(app: Any) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    worker = threading.Thread(target=server.run, daemon=True)
    worker.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not worker.is_alive():
            raise RuntimeError("the UI server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    worker.join(10)
