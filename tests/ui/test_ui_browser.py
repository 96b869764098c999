"""The web UI in a real browser: headless Chromium (the system's) driven by Playwright.

Skipped, with the reason, when Playwright or a Chromium binary is missing. Each
test saves screenshots under ``tests/artifacts/ui`` (ignored by git).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_testkit import ARTIFACTS, REVIEW_GRAPH, UIData

from mnemos.memory_adapters.native import NativeMemoryAdapter
from mnemos.ui.base import graph_key

sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright (pip install playwright)")

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def _chromium() -> str | None:
    for candidate in (os.environ.get("MNEMOS_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser"),
                      "/usr/bin/chromium"):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = _chromium()
    if executable is None:
        pytest.skip("no Chromium binary: install Debian's chromium (apt-get install chromium chromium-driver) "
                    "or set MNEMOS_CHROMIUM")
    with sync_api.sync_playwright() as p:
        try:
            launched = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        except Exception as exc:  # a broken browser install is a skip with the reason, not a failure
            pytest.skip(f"Chromium at {executable} does not start headless: {exc}")
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, live_server: str) -> Iterator[Any]:
    context = browser.new_context(base_url=live_server, viewport={"width": 1200, "height": 780})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def shot(tab: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    tab.screenshot(path=str(path))
    return path


def test_search_and_see_the_reasons(page: Any) -> None:
    page.goto("/memory")
    page.wait_for_selector("#tree ul")  # fetched after the page
    assert page.locator("#tree").get_by_text("alice").count() >= 1
    shot(page, "memory")
    page.fill("#q", "green tea")
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#hits .hit")
    first = page.locator("#hits .hit").first
    assert "green tea" in first.locator(".content").inner_text()
    assert first.locator(".bar .seg").count() >= 1
    assert first.locator(".bar .seg").first.bounding_box()["width"] > 5  # drawn, not just present
    signals = first.locator(".reason").evaluate_all("els => els.map(e => e.dataset.signal)")
    assert "keyword" in signals
    shot(page, "memory-search")


def test_open_a_records_history(page: Any, data: UIData) -> None:
    page.goto("/memory?ns=users/alice")
    page.get_by_role("link", name="Alice lives in Berlin since March").click()
    page.wait_for_selector("#history")
    chain = page.locator(".chain li")
    assert chain.count() == 2
    assert "Alice lives in Lyon" in chain.nth(0).inner_text()
    assert "here" in (chain.nth(1).get_attribute("class") or "")
    assert page.locator("#provenance").is_visible()
    shot(page, "memory-record")
    page.goto(f"/memory/{data.ids['tea']}")
    entities = page.locator("#entities")
    assert entities.locator("svg [data-node]").count() >= 2  # the memory and at least one entity
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    entities.screenshot(path=str(ARTIFACTS / "memory-entities.png"))


def test_delete_and_see_it_gone(page: Any, data: UIData) -> None:
    rid = data.ids["meeting"]
    page.goto(f"/memory/{rid}")
    dialogs: list[str] = []

    def accept(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    page.click("#delete-form button")
    page.wait_for_url("**/memory?*done=deleted*")
    assert dialogs and "Delete this memory?" in dialogs[0]
    assert page.locator("#flash").inner_text() == "Memory deleted."
    assert page.locator(f'#records tr[data-id="{rid}"]').count() == 0
    shot(page, "memory-deleted")
    response = page.goto(f"/memory/{rid}")
    assert response.status == 404
    with NativeMemoryAdapter(data.store) as mem:
        assert rid not in [r.id for r in mem.list(limit=None)]


def test_dismissing_the_confirmation_keeps_the_record(page: Any, data: UIData) -> None:
    rid = data.ids["rule"]
    page.goto(f"/memory/{rid}")
    page.on("dialog", lambda dialog: dialog.dismiss())
    page.click("#delete-form button")
    page.wait_for_timeout(300)
    assert page.url.endswith(f"/memory/{rid}")
    with NativeMemoryAdapter(data.store) as mem:
        assert mem.get(rid).id == rid


def test_answer_an_interrupt_and_see_the_run_resume(page: Any, browser: Any, live_server: str) -> None:
    page.goto("/threads/review-1")
    assert page.locator("#status").inner_text() == "interrupted"
    assert "Publish this brief?" in page.locator("#interrupt").inner_text()
    page.wait_for_selector("#live[data-connected='1']", state="attached")
    shot(page, "thread-interrupted")
    # a second tab approves; the first one follows the run live (server-sent events), without reloading
    other = browser.new_context(base_url=live_server).new_page()
    other.goto("/threads/review-1")
    other.click("#approve")
    other.wait_for_url("**/threads/review-1")
    page.wait_for_function("document.querySelector('#status').textContent.trim() === 'finished'")
    assert page.locator("#interrupt").count() == 0
    nodes = page.locator(".step").evaluate_all("els => els.map(e => e.dataset.node)")
    assert nodes[-1] == "approval"
    other.wait_for_function("document.querySelector('#status').textContent.trim() === 'finished'")
    other.context.close()
    shot(page, "thread-finished")


def test_feedback_from_the_page_sends_the_draft_back(page: Any) -> None:
    page.goto("/threads/review-1")
    page.fill("#answer-text", "mention the running costs")
    page.click("#send-answer")
    page.wait_for_function("document.querySelectorAll('.step[data-node=write]').length >= 2")
    page.wait_for_function("document.querySelector('#status').textContent.trim() === 'interrupted'")
    assert "Publish this brief?" in page.locator("#interrupt").inner_text()


def test_open_a_brainstorms_ledger(page: Any) -> None:
    page.goto("/brainstorms")
    shot(page, "brainstorms")
    page.get_by_role("link", name="ideas-2").click()
    page.wait_for_selector("#ledger")
    ideas = page.locator("#ledger tr.idea")
    assert ideas.count() >= 2
    statuses = ideas.evaluate_all("els => els.map(e => e.className.replace('idea ', ''))")
    assert set(statuses) <= {"proposed", "accepted", "rejected", "merged"}
    assert page.locator("#transcript h3").first.text_content() in ("Opening", "Round 1")
    assert page.locator("#recalled li").count() >= 1  # what it recalled from ideas-1
    shot(page, "brainstorm")


def test_threads_and_graph_pages(page: Any) -> None:
    page.goto("/threads")
    assert page.locator("#threads tr[data-thread]").count() == 6
    shot(page, "threads")
    page.goto(f"/graphs/{graph_key(REVIEW_GRAPH)}")
    svg = page.locator("#topology svg")
    assert svg.bounding_box()["width"] > 200
    assert page.locator('#topology [data-node="approval"]').is_visible()
    shot(page, "graph")
