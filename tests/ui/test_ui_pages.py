"""Every page of the web UI over HTTP (Starlette's TestClient): what it shows, bad input, changes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest
from starlette.testclient import TestClient
from ui_testkit import REVIEW_GRAPH, UIData, wait_for_run

from mnemos.memory_adapters.native import NativeMemoryAdapter
from mnemos.ui.base import graph_key

# --- memory browser -------------------------------------------------------------------------


def test_home_redirects_to_the_memory_browser(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/memory"


def test_memory_page_shows_the_namespace_tree_and_records(client: TestClient, data: UIData) -> None:
    first = client.get("/memory").text
    assert 'data-src="/memory/tree' in first  # the page comes first; the tree follows
    tree = client.get("/memory/tree", params={"ns": "users/alice"}).text
    for name in ("users", "alice", "bob", "notes", "principals"):
        assert f">{name}</a>" in tree
    counts = re.findall(r'>(\w+)</a> <span class="count">(\d+)</span>', tree)
    assert ("principals", "1") in counts
    page = client.get("/memory").text
    assert 'class="count"' in page  # counted once, then reused
    assert data.ids["tea"] in page and data.ids["bob"] in page
    assert data.ids["home_old"] not in page  # superseded facts are hidden unless asked for


def test_memory_filters_by_namespace_kind_importance_metadata_and_time(client: TestClient, data: UIData) -> None:
    alice = client.get("/memory", params={"ns": "users/alice"}).text
    assert data.ids["tea"] in alice and data.ids["bob"] not in alice
    semantic = client.get("/memory", params={"ns": "users", "kind": "semantic"}).text
    assert data.ids["tea"] in semantic and data.ids["bob"] in semantic and data.ids["meeting"] not in semantic
    important = client.get("/memory", params={"min_importance": "0.85"}).text
    assert data.ids["rule"] in important and data.ids["tea"] not in important
    chat = client.get("/memory", params={"meta": "source=chat"}).text
    assert data.ids["tea"] in chat and data.ids["meeting"] not in chat
    future = client.get("/memory", params={"since": "2999-01-01"}).text
    assert "No records here." in future
    everything = client.get("/memory", params={"superseded": "1", "ns": "users/alice"}).text
    assert data.ids["home_old"] in everything


def test_search_draws_the_score_reasons_as_bars(client: TestClient, data: UIData) -> None:
    page = client.get("/memory", params={"q": "green tea"}).text
    hits = re.findall(r'<li class="hit card" data-id="([0-9a-z]+)"', page)
    assert hits and hits[0] in (data.ids["tea"], data.ids["principal"])
    assert 'data-signal="keyword"' in page and 'class="seg"' in page
    widths = [float(w) for w in re.findall(r'class="seg" style="width: ([0-9.]+)%', page)]
    assert widths and max(widths) <= 100.0 and min(widths) > 0


def test_full_text_search_mode_uses_keyword_ranking_only(client: TestClient) -> None:
    page = client.get("/memory", params={"q": "green tea", "mode": "keyword"}).text
    assert 'data-signal="keyword"' in page and 'data-signal="vector"' not in page


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"kind": "dream"}, "unknown kind"),
        ({"since": "last tuesday"}, "bad since"),
        ({"min_importance": "2"}, "bad min_importance"),
        ({"mode": "psychic", "q": "x"}, "unknown search mode"),
        ({"ns": "users//alice"}, "bad namespace"),
        ({"offset": "-3"}, "bad offset"),
        ({"meta": "no equals sign"}, "bad metadata filter"),
    ],
)
def test_bad_filters_are_a_clear_400(client: TestClient, params: dict[str, str], needle: str) -> None:
    response = client.get("/memory", params=params)
    assert response.status_code == 400
    assert needle in response.text


def test_record_page_shows_provenance_history_chain_and_entities(client: TestClient, data: UIData) -> None:
    page = client.get(f"/memory/{data.ids['tea']}").text
    assert "Alice prefers green tea" in page
    assert 'href="/threads/review-1"' in page and "m-1" in page and "assistant" in page
    assert 'id="entities"' in page and "Alice" in page
    chain = client.get(f"/memory/{data.ids['home']}").text
    assert data.ids["home_old"] in chain and "Alice lives in Lyon" in chain  # the fact it replaced


def test_unknown_and_malformed_record_ids_are_404(client: TestClient) -> None:
    for bad in ("01ARZ3NDEKTSV4RRFFQ69G5FAV", "nope", "%20"):
        response = client.get(f"/memory/{bad}")
        assert response.status_code == 404, bad
        assert "Not found" in response.text


def test_edit_makes_a_new_version_and_keeps_the_old_one(client: TestClient, data: UIData) -> None:
    rid = data.ids["meeting"]
    response = client.post(f"/memory/{rid}/edit", data={"content": "Alice met Bob in Hamburg",
                                                        "importance": "0.6", "metadata": '{"checked": true}'},
                           follow_redirects=False)
    assert response.status_code == 303
    with NativeMemoryAdapter(data.store) as mem:
        record = mem.get(rid)
        assert (record.content, record.importance, record.metadata, record.version) == (
            "Alice met Bob in Hamburg", 0.6, {"checked": True}, 2)
        assert mem.history(rid)[0].content.startswith("Alice met Bob in Berlin")
    page = client.get(f"/memory/{rid}").text
    assert "v2" in page and "v1" in page


def test_edit_with_bad_metadata_changes_nothing(client: TestClient, data: UIData) -> None:
    rid = data.ids["meeting"]
    response = client.post(f"/memory/{rid}/edit", data={"content": "changed", "metadata": "{not json"})
    assert response.status_code == 400 and "metadata is not JSON" in response.text
    with NativeMemoryAdapter(data.store) as mem:
        assert mem.get(rid).version == 1


def test_supersede_links_the_new_fact_to_the_old(client: TestClient, data: UIData) -> None:
    rid = data.ids["tea"]
    response = client.post(f"/memory/{rid}/supersede", data={"content": "Alice now drinks coffee"},
                           follow_redirects=False)
    assert response.status_code == 303
    new_id = response.headers["location"].split("/memory/")[1].split("?")[0]
    with NativeMemoryAdapter(data.store) as mem:
        assert mem.get(rid).superseded_by == new_id
    assert client.post(f"/memory/{rid}/supersede", data={"content": "again"}).status_code == 400


def test_delete_asks_first_then_removes_the_record(client: TestClient, data: UIData) -> None:
    rid = data.ids["meeting"]
    confirm = client.get(f"/memory/{rid}/delete")
    assert confirm.status_code == 200 and "Delete this memory?" in confirm.text
    assert client.post(f"/memory/{rid}/delete").status_code == 400  # no confirmation
    with NativeMemoryAdapter(data.store) as mem:
        assert mem.get(rid).id == rid
    response = client.post(f"/memory/{rid}/delete", data={"confirm": "yes"}, follow_redirects=False)
    assert response.status_code == 303
    assert client.get(f"/memory/{rid}").status_code == 404
    assert client.post(f"/memory/{rid}/delete", data={"confirm": "yes"}).status_code == 404


def test_erase_a_namespace_after_confirmation(client: TestClient, data: UIData) -> None:
    with NativeMemoryAdapter(data.store) as mem:
        can_erase = callable(getattr(mem, "erase", None))
        before = mem.count(("users", "bob"))
    if not can_erase:  # a store without erase says so instead of pretending
        response = client.get("/memory/erase", params={"ns": "users/bob"})
        assert response.status_code == 400 and "cannot erase" in response.text
        return
    assert 'id="erase-link"' in client.get("/memory", params={"ns": "users/bob"}).text
    confirm = client.get("/memory/erase", params={"ns": "users/bob"})
    assert confirm.status_code == 200 and f"{before} memories" in confirm.text
    assert client.post("/memory/erase?ns=users/bob").status_code == 400  # no confirmation
    assert client.post("/memory/erase?ns=", data={"confirm": "yes"}).status_code == 400  # not everything
    response = client.post("/memory/erase?ns=users/bob", data={"confirm": "yes"}, follow_redirects=False)
    assert response.status_code == 303
    with NativeMemoryAdapter(data.store) as mem:
        assert mem.count(("users", "bob")) == 0 and mem.count(("users", "alice")) > 0


def test_delete_with_history_removes_the_facts_it_replaced(client: TestClient, data: UIData) -> None:
    import inspect

    with NativeMemoryAdapter(data.store) as mem:
        supported = "with_history" in inspect.signature(mem.delete).parameters
    page = client.get(f"/memory/{data.ids['home']}").text
    assert ('id="delete-history-form"' in page) == supported
    if not supported:
        assert client.get(f"/memory/{data.ids['home']}/delete?history=1").status_code == 400
        return
    response = client.post(f"/memory/{data.ids['home']}/delete?history=1", data={"confirm": "yes"},
                           follow_redirects=False)
    assert response.status_code == 303
    assert client.get(f"/memory/{data.ids['home_old']}").status_code == 404


def test_export_is_the_jsonl_of_a_namespace(client: TestClient, data: UIData) -> None:
    response = client.get("/memory/export", params={"ns": "users/bob"})
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    rows = [json.loads(line) for line in response.text.splitlines()]
    assert data.ids["bob"] in [r["id"] for r in rows]
    assert all(r["namespace"][:2] == ["users", "bob"] for r in rows)
    everything = [json.loads(line)["id"] for line in client.get("/memory/export").text.splitlines()]
    with NativeMemoryAdapter(data.store) as mem:
        assert everything == [r["id"] for r in mem.iter_export()]  # superseded facts too, as the CLI's
    assert data.ids["home_old"] in everything


def test_a_scoped_ui_cannot_reach_a_foreign_namespace(data: UIData) -> None:
    from mnemos.ui import create_app

    app = create_app(data.config(scope=("users", "alice")))
    with TestClient(app, base_url="http://127.0.0.1") as c:
        assert c.get(f"/memory/{data.ids['tea']}").status_code == 200
        assert c.get(f"/memory/{data.ids['bob']}").status_code == 404
        assert c.post(f"/memory/{data.ids['bob']}/delete", data={"confirm": "yes"}).status_code == 404
        assert data.ids["bob"] not in c.get("/memory/export").text
    with NativeMemoryAdapter(data.store) as mem:
        assert mem.get(data.ids["bob"])  # still there


# --- threads ---------------------------------------------------------------------------------


def test_threads_page_lists_runs_and_brainstorms_with_status(client: TestClient) -> None:
    page = client.get("/threads").text
    rows = dict(re.findall(r'<tr data-thread="([^"]+)">.*?<span class="status (\w+)"', page, re.S))
    assert rows == {"review-0": "finished", "review-1": "interrupted", "review-cut": "unfinished", "review-bob": "interrupted",
                    "ideas-1": "finished", "ideas-2": "finished"}
    brainstorms = client.get("/threads", params={"kind": "brainstorm"}).text
    assert "ideas-1" in brainstorms and "review-1" not in brainstorms
    assert client.get("/threads", params={"kind": "nonsense"}).status_code == 400


def _statuses(client: TestClient) -> dict[str, str]:
    page = client.get("/threads").text
    return dict(re.findall(r'<tr data-thread="([^"]+)">.*?<span class="status (\w+)"', page, re.S))


def test_a_thread_another_process_runs_shows_as_running(client: TestClient, data: UIData) -> None:
    """The status ``mnemos threads list`` gives: a live process holding the thread's run lock
    (a run started from the CLI, here a child that only holds the lock) makes it ``running``,
    and the UI does not resume it; once the process is gone it is ``unfinished`` again."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom mnemos.graphs._runs import running\n"
         f"with running({str(data.checkpoints)!r}, 'review-cut'):\n"
         "    print('held', flush=True)\n    sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert _statuses(client)["review-cut"] == "running"
        assert '<span class="status running"' in client.get("/threads/review-cut").text
        refused = client.post("/threads/review-cut/resume")
        assert refused.status_code == 400 and "status running" in refused.text
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert _statuses(client)["review-cut"] == "unfinished"


def test_thread_page_shows_each_step_with_recalls_and_the_pending_question(client: TestClient) -> None:
    page = client.get("/threads/review-1").text
    nodes = re.findall(r'<li class="step card" data-node="([^"]+)">', page)
    assert nodes[:4] == ["__start__", "supervisor", "research", "supervisor"]
    assert "research" in nodes and "write" in nodes and "review" in nodes
    recalls = re.findall(r'<div class="why muted small">why: ([^<]+)</div>', page)
    assert recalls and all(r.strip() for r in recalls)  # what the agents recalled from review-0, and why
    assert "remembered" in page
    assert 'id="interrupt"' in page and "Publish this brief?" in page


def test_unknown_thread_is_404(client: TestClient) -> None:
    assert client.get("/threads/no-such-thread").status_code == 404
    assert client.post("/threads/no-such-thread/answer", data={"answer": "yes"}).status_code == 404


def test_answering_the_interrupt_resumes_the_run_to_the_end(client: TestClient, app: Any) -> None:
    assert client.post("/threads/review-1/answer", data={"answer": ""}).status_code == 400
    response = client.post("/threads/review-1/answer", data={"answer": "yes"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/threads/review-1"
    info = wait_for_run(app, "review-1")
    assert info.error is None and info.steps >= 1
    page = client.get("/threads/review-1").text
    assert '<span class="status finished" id="status">finished</span>' in page
    assert 'id="interrupt"' not in page
    again = client.post("/threads/review-1/answer", data={"answer": "yes"})
    assert again.status_code == 400 and "not waiting for an answer" in again.text


def test_feedback_sends_the_draft_back_and_asks_again(client: TestClient, app: Any) -> None:
    client.post("/threads/review-1/answer", data={"answer": "mention the costs"})
    wait_for_run(app, "review-1")
    page = client.get("/threads/review-1").text
    assert '<span class="status interrupted" id="status">' in page
    assert page.count('data-node="write"') >= 2  # the writer ran again


def test_resume_finishes_a_run_that_was_cut_off(client: TestClient, app: Any) -> None:
    assert client.post("/threads/review-1/resume").status_code == 400  # waits for an answer instead
    response = client.post("/threads/review-cut/resume", follow_redirects=False)
    assert response.status_code == 303
    wait_for_run(app, "review-cut")
    page = client.get("/threads/review-cut").text
    assert '<span class="status interrupted" id="status">' in page  # it ran on to the approval


def test_events_stream_reports_a_change_when_the_run_moves(client: TestClient, app: Any) -> None:
    with client.stream("GET", "/threads/review-1/events", params={"seconds": "20"}) as stream:
        lines = stream.iter_lines()
        assert next(lines) == "event: hello"
        client.post("/threads/review-1/answer", data={"answer": "yes"})
        seen = []
        for line in lines:
            seen.append(line)
            if line == "event: change":
                break
        assert "event: change" in seen
    wait_for_run(app, "review-1")


def test_a_brainstorm_thread_opens_its_brainstorm_page(client: TestClient) -> None:
    response = client.get("/threads/ideas-1", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/brainstorms/ideas-1"


# --- brainstorms -----------------------------------------------------------------------------


def test_brainstorms_page_lists_sessions(client: TestClient) -> None:
    page = client.get("/brainstorms").text
    assert "A loyalty product for small shops" in page and "Loyalty cards for small shops, next steps" in page


def test_brainstorm_page_shows_rounds_ledger_votes_and_recall(client: TestClient) -> None:
    page = client.get("/brainstorms/ideas-2").text
    assert "Round 1" in page and "Round 2" in page
    ideas = re.findall(r'<tr class="idea (\w+)" data-idea="(\d+)">', page)
    assert ideas and {status for status, _ in ideas} <= {"proposed", "accepted", "rejected", "merged"}
    assert 'class="vote' in page
    recalled = page[page.index('id="recalled"'):]
    assert "Accepted before" in recalled or "Rejected before" in recalled  # it remembers ideas-1


def test_brainstorm_written_only_to_files_is_shown(client: TestClient, data: UIData) -> None:
    import shutil

    shutil.copytree(data.dir / "brainstorms" / "ideas-1", data.dir / "brainstorms" / "on-autogen")
    assert "on-autogen" in client.get("/brainstorms").text
    page = client.get("/brainstorms/on-autogen")
    assert page.status_code == 200 and 'id="ledger"' in page.text


def test_unknown_brainstorm_is_404(client: TestClient) -> None:
    assert client.get("/brainstorms/nope").status_code == 404
    assert client.get("/brainstorms/review-1").status_code == 404  # a graph thread, not a brainstorm
    assert client.get("/brainstorms/..%2F..%2Fetc").status_code == 404


# --- graphs ----------------------------------------------------------------------------------


def test_graph_page_draws_the_topology(client: TestClient) -> None:
    assert graph_key(REVIEW_GRAPH) in client.get("/graphs").text
    page = client.get(f"/graphs/{graph_key(REVIEW_GRAPH)}").text
    drawn = set(re.findall(r'data-node="([^"]+)"', page))
    assert {"__start__", "supervisor", "research", "write", "review", "approval", "__end__"} <= drawn
    assert "<svg" in page and "flowchart" in page  # the picture and the Mermaid source


def test_graph_page_runs_the_graph_on_a_new_thread(client: TestClient, app: Any) -> None:
    key = graph_key(REVIEW_GRAPH)
    assert client.post(f"/graphs/{key}/run", data={"input": " "}).status_code == 400
    assert client.post(f"/graphs/{key}/run", data={"input": "hi", "thread": "../x"}).status_code == 400
    assert client.post(f"/graphs/{key}/run", data={"input": "hi", "thread": "review-1"}).status_code == 400
    response = client.post(f"/graphs/{key}/run", data={"input": "Write a brief about solar panels",
                                                       "thread": "ui-new", "user": "carol"},
                           follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/threads/ui-new"
    assert wait_for_run(app, "ui-new").error is None
    page = client.get("/threads/ui-new").text
    assert "Publish this brief?" in page and "user carol" in page


def test_unknown_graph_key_is_404(client: TestClient) -> None:
    assert client.get("/graphs/0123456789ab").status_code == 404
    assert client.post("/graphs/0123456789ab/run", data={"input": "x"}).status_code == 404


def test_the_python_example_in_docs_ui_runs(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile
    from pathlib import Path

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    text = (Path(__file__).resolve().parents[2] / "docs" / "ui.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.M | re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "docs/ui.md", "exec"), {})
    assert any(p.name == "memory.db" for p in tmp_path.rglob("*.db"))


def test_an_offline_rehearsal_is_marked_as_such(client: TestClient, data: UIData) -> None:
    from mnemos.graphs.brainstorm import brainstorm_chat, run_session

    with NativeMemoryAdapter(data.store) as mem:
        chat, _ = brainstorm_chat("builtin", model="offline", memory=mem, rounds=1)
        run_session(chat, "A rehearsal topic", thread_id="rehearsal-1", user_id="alice",
                    checkpoints=str(data.checkpoints))
    assert 'id="rehearsal"' in client.get("/brainstorms/rehearsal-1").text
    assert 'id="rehearsal"' not in client.get("/brainstorms/ideas-1").text


def test_an_unfinished_brainstorm_resumes_from_its_page(client: TestClient, app: Any, data: UIData) -> None:
    from mnemos.graphs.brainstorm import brainstorm_chat
    from mnemos.graphs.checkpoint import open_checkpointer

    with NativeMemoryAdapter(data.store) as mem, open_checkpointer(str(data.checkpoints)) as saver:
        chat, _ = brainstorm_chat("builtin", model="offline", memory=mem, rounds=2)
        graph = chat.compile(checkpointer=saver)
        config: Any = {"configurable": {"thread_id": "cut-session", "user_id": "alice"},
                       "metadata": {"mnemos_graph": "brainstorm", "mnemos_user": "alice", "mnemos_rounds": 2,
                                    "mnemos_personas": "builtin", "mnemos_model": "offline"}}
        for n, _ in enumerate(chat.stream(graph, "A topic cut short", config), start=1):
            if n >= 4:
                break  # the process "dies" mid-session
    page = client.get("/brainstorms/cut-session").text
    assert "unfinished" in page and 'id="resume"' in page
    assert client.post("/brainstorms/ideas-1/resume").status_code == 400  # finished
    assert client.post("/brainstorms/review-1/resume").status_code == 404  # not a brainstorm
    response = client.post("/brainstorms/cut-session/resume", follow_redirects=False)
    assert response.status_code == 303
    info = wait_for_run(app, "cut-session", timeout=120)
    assert info.error is None, info.error
    page = client.get("/brainstorms/cut-session").text
    assert '<span class="status finished">finished</span>' in page and "Round 2" in page
