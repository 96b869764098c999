"""``mnemos memory ...`` end to end: typer's CliRunner on a real native store, and the
installed ``mnemos`` console script in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from mnemos._cli import memory as memory_cli
from mnemos.cli import app
from mnemos.memory_adapters.registry import open_memory


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh store file, named through MNEMOS_STORE (as a user would)."""
    monkeypatch.setenv("MNEMOS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MNEMOS_EMBEDDER", raising=False)
    path = tmp_path / "memory.db"
    monkeypatch.setenv("MNEMOS_STORE", str(path))
    return path


def run(*args: str, input: str | None = None) -> Result:
    # A wide console, so tables do not fold the ids the tests look for.
    return CliRunner().invoke(app, ["memory", *args], input=input, env={"COLUMNS": "200"})


def ok(*args: str, input: str | None = None) -> Result:
    result = run(*args, input=input)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def ok_json(*args: str, input: str | None = None) -> Any:
    return json.loads(ok(*args, "--json", input=input).stdout)


def usage_error(*args: str, input: str | None = None) -> str:
    """Run a command that must fail as misuse: exit 2, one error line, no traceback."""
    result = run(*args, input=input)
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stderr
    return result.stderr


def add(text: str, ns: str = "users/alice", *extra: str) -> str:
    memory_id = ok("add", text, "--ns", ns, *extra).stdout.strip()
    assert len(memory_id) == 32
    return memory_id


def seed() -> dict[str, str]:
    return {
        "tea": add("Alice drinks green tea every morning", "users/alice", "--kind", "semantic"),
        "berlin": add("Alice flew to Berlin for a conference", "users/alice/trips"),
        "bob": add("Bob prefers espresso over tea", "users/bob", "--kind", "semantic"),
        "rule": add("Always answer Alice in French", "users/alice", "--kind", "procedural"),
    }


# --- add / get -------------------------------------------------------------------------------


def test_add_then_get_round_trips_every_option(store: Path) -> None:
    memory_id = add(
        "Alice's cat is called Miso",
        "users/alice/pets",
        "--kind", "semantic",
        "--meta", "n=3",
        "--meta", 'tags=["cat", "pet"]',
        "--meta", "city=Berlin",
        "--meta", "raw={not json",
        "--importance", "0.8",
        "--ttl", "1h",
        "--agent", "planner",
        "--thread", "t-42",
    )
    record = ok_json("get", memory_id)
    assert record["id"] == memory_id
    assert record["content"] == "Alice's cat is called Miso"
    assert record["namespace"] == ["users", "alice", "pets"]
    assert record["kind"] == "semantic"
    assert record["metadata"] == {"n": 3, "tags": ["cat", "pet"], "city": "Berlin", "raw": "{not json"}
    assert record["importance"] == 0.8
    assert record["provenance"]["agent"] == "planner"
    assert record["provenance"]["thread"] == "t-42"
    created = datetime.fromisoformat(record["created_at"])
    expires = datetime.fromisoformat(record["expires_at"])
    assert expires - created == timedelta(hours=1)

    shown = ok("get", memory_id).stdout
    assert "Alice's cat is called Miso" in shown
    assert "users/alice/pets" in shown and "planner" in shown


def test_add_reads_stdin_and_json_prints_the_record(store: Path) -> None:
    record = ok_json("add", "-", "--ns", "users/alice", input="written from a pipe\n")
    assert record["content"] == "written from a pipe"
    assert ok_json("get", record["id"])["content"] == "written from a pipe"


def test_add_identical_content_returns_the_stored_memory(store: Path) -> None:
    first = add("Alice likes hiking")
    result = ok("add", "Alice likes hiking", "--ns", "users/alice")
    assert result.stdout.strip() == first
    assert "already stored" in result.stderr
    assert len(ok_json("list")) == 1


def test_explicit_store_option_beats_the_environment(store: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    ok("add", "only in the other store", "--ns", "x", "--store", str(other))
    assert ok_json("list") == []
    listed = ok_json("list", "--store", f"native://{other}")
    assert [r["content"] for r in listed] == ["only in the other store"]


# --- search ------------------------------------------------------------------------------------


def test_search_table_shows_rank_score_and_why(store: Path) -> None:
    ids = seed()
    out = ok("search", "green tea").stdout
    for header in ("#", "score", "kind", "namespace", "content", "why"):
        assert header in out
    assert "keyword #1" in out
    assert ids["tea"] in out
    # the best hit comes first
    assert out.index("green tea every") < out.index("espresso")


def test_search_json_shape(store: Path) -> None:
    ids = seed()
    hits = ok_json("search", "green tea morning")
    assert isinstance(hits, list) and hits
    assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    top = hits[0]
    assert set(top) == {"rank", "score", "reasons", "record"}
    assert top["record"]["id"] == ids["tea"]
    signals = {r["signal"] for r in top["reasons"]}
    assert "keyword" in signals
    for reason in top["reasons"]:
        assert set(reason) == {"signal", "value", "contribution", "detail"}


def test_search_narrows_by_namespace_kind_filter_time_and_k(store: Path) -> None:
    ids = seed()
    ok("add", "Alice drinks mint tea at night", "--ns", "users/alice", "--meta", "source=chat")

    alice = {h["record"]["id"] for h in ok_json("search", "tea", "--ns", "users/alice")}
    assert ids["tea"] in alice and ids["bob"] not in alice

    semantic = ok_json("search", "tea", "--kind", "semantic")
    assert {h["record"]["kind"] for h in semantic} == {"semantic"}
    assert {h["record"]["id"] for h in semantic} == {ids["tea"], ids["bob"]}

    filtered = ok_json("search", "tea", "--filter", "source=chat")
    assert [h["record"]["content"] for h in filtered] == ["Alice drinks mint tea at night"]

    assert ok_json("search", "tea", "--since", "1d") != []
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert ok_json("search", "tea", "--since", tomorrow) == []
    assert ok_json("search", "tea", "--until", "2000-01-01") == []

    assert len(ok_json("search", "tea", "-k", "1")) == 1
    assert ok_json("search", "tea", "--ns", "users/nobody") == []
    assert "no memories found" in ok("search", "tea", "--ns", "users/nobody").stderr


def test_search_all_versions_shows_superseded_facts(store: Path) -> None:
    old = add("Alice lives in Lisbon", "users/alice", "--kind", "semantic")
    with open_memory(store) as memory:
        new = memory.supersede(old, "Alice lives in Berlin").id
    current = {h["record"]["id"] for h in ok_json("search", "Alice lives")}
    assert current == {new}
    everything = {h["record"]["id"] for h in ok_json("search", "Alice lives", "--all-versions")}
    assert everything == {old, new}
    assert "superseded" in ok("search", "Alice lives", "--all-versions").stdout


# --- list / get --history / delete ---------------------------------------------------------------


def test_list_pages_newest_first_and_filters(store: Path) -> None:
    ids = seed()
    listed = ok_json("list")
    assert [r["id"] for r in listed] == [ids["rule"], ids["bob"], ids["berlin"], ids["tea"]]
    assert [r["id"] for r in ok_json("list", "--limit", "2", "--offset", "1")] == [
        ids["bob"],
        ids["berlin"],
    ]
    assert {r["id"] for r in ok_json("list", "--ns", "users/alice")} == {
        ids["tea"], ids["berlin"], ids["rule"]
    }
    assert [r["id"] for r in ok_json("list", "--kind", "procedural")] == [ids["rule"]]
    assert ok_json("list", "--ns", "nobody") == []
    table = ok("list").stdout
    assert ids["tea"] in table and "users/alice/trips" in table


def test_get_history_lists_versions(store: Path) -> None:
    memory_id = add("draft one")
    with open_memory(store) as memory:
        memory.update(memory_id, content="draft two")
    versions = ok_json("get", memory_id, "--history")
    assert [(v["version"], v["content"]) for v in versions] == [(1, "draft one"), (2, "draft two")]
    table = ok("get", memory_id, "--history").stdout
    assert "draft one" in table and "draft two" in table


def test_delete_with_yes_then_the_id_is_unknown(store: Path) -> None:
    memory_id = add("to be forgotten")
    keep = add("to be kept")
    assert ok("delete", memory_id, "--yes").stdout.strip() == f"deleted {memory_id}"
    assert "no memory with id" in usage_error("get", memory_id)
    assert [r["id"] for r in ok_json("list")] == [keep]


def test_delete_asks_when_interactive(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    memory_id = add("maybe forget me")
    monkeypatch.setattr(memory_cli, "_interactive", lambda: True)
    refused = run("delete", memory_id, input="n\n")
    assert refused.exit_code == 1
    assert ok_json("get", memory_id)["id"] == memory_id
    ok("delete", memory_id, input="y\n")
    usage_error("get", memory_id)


def test_erase_a_user_or_a_namespace_needs_confirmation(store: Path) -> None:
    alice = add("alice's secret recipe")
    bob = add("bob's shopping list", "users/bob")
    team = add("the team's plan", "teams/core")
    assert "add --yes" in usage_error("erase", "--user", "alice")
    assert "--ns NAMESPACE or --user" in usage_error("erase", "--yes")
    assert "--ns NAMESPACE or --user" in usage_error("erase", "--user", "a", "--ns", "b", "--yes")
    assert usage_error("erase", "--user", "a/b", "--yes").startswith("error: ")
    assert ok_json("get", alice)["id"] == alice
    assert ok("erase", "--user", "alice", "--yes").stdout.strip() == "erased 1 memories under users/alice"
    assert "no memory with id" in usage_error("get", alice)
    assert ok_json("erase", "--ns", "teams", "--yes") == {"erased": 1, "namespace": ["teams"]}
    assert "no memory with id" in usage_error("get", team)
    assert [r["id"] for r in ok_json("list")] == [bob]


def test_erase_asks_when_interactive(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    memory_id = add("maybe erase me")
    monkeypatch.setattr(memory_cli, "_interactive", lambda: True)
    assert run("erase", "--user", "alice", input="n\n").exit_code == 1
    assert ok_json("get", memory_id)["id"] == memory_id
    ok("erase", "--user", "alice", input="y\n")
    usage_error("get", memory_id)


def test_bad_input_is_one_error_line(store: Path, tmp_path: Path) -> None:
    add("something to keep")
    binary = tmp_path / "photo.jpg"
    binary.write_bytes(bytes(range(256)) * 16)
    assert usage_error("import", str(binary)).startswith("error: line 1: not UTF-8 text")
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"id": "d", "metadata": ' + '{"a": ' * 3000 + "1" + "}" * 3001 + "\n")
    assert "nested too deeply" in usage_error("import", str(deep))
    nested = "n=" + '{"a": ' * 100 + "1" + "}" * 100
    assert "nested more than" in usage_error("add", "x", "--ns", "users/alice", "--meta", nested)
    assert "error:" in usage_error("search", "x", "--since", "tomorrow")
    assert len(ok_json("list")) == 1


def test_unknown_id_is_a_usage_error(store: Path) -> None:
    add("something")
    for command in (("get", "0" * 32), ("get", "nope", "--history"), ("delete", "nope", "--yes")):
        message = usage_error(*command)
        assert message.startswith("error: no memory with id")
        assert message.count("\n") == 1


# --- export / import ---------------------------------------------------------------------------------


def test_export_import_round_trip(store: Path, tmp_path: Path) -> None:
    old = add("Alice lives in Lisbon", "users/alice", "--kind", "semantic", "--meta", "n=1")
    with open_memory(store) as memory:
        memory.supersede(old, "Alice lives in Berlin")
    seed()
    dump = tmp_path / "dump.jsonl"
    result = ok("export", str(dump))
    assert "exported 6 memories" in result.stderr
    lines = dump.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 6

    copy = tmp_path / "copy.db"
    assert ok_json("import", str(dump), "--store", str(copy)) == {"imported": 6}

    def everything(path: Path) -> list[dict[str, Any]]:
        with open_memory(path) as memory:
            return sorted(memory.iter_export(), key=lambda r: r["id"])

    assert everything(copy) == everything(store)

    # export to stdout, narrowed to a namespace
    out = ok("export", "-", "--ns", "users/bob").stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["content"] for r in rows] == ["Bob prefers espresso over tea"]


def test_import_from_stdin(store: Path, tmp_path: Path) -> None:
    add("carried over")
    dump = ok("export").stdout
    target = tmp_path / "target.db"
    assert ok("import", "-", "--store", str(target), input=dump).stdout.strip() == "imported 1 memories"


def test_broken_jsonl_reports_the_line_and_imports_nothing(store: Path, tmp_path: Path) -> None:
    existing = add("already here")
    good = ok("export").stdout.splitlines()[0]
    row = json.loads(good)
    lines = [
        json.dumps({**row, "id": "a" * 32, "content": "new one"}),
        "",
        json.dumps({**row, "id": "b" * 32, "content": "new two"}),
        '{"id": "c", "content": ',
        json.dumps({**row, "id": "d" * 32, "content": "new four"}),
    ]
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")
    message = usage_error("import", str(broken))
    assert message.startswith("error: line 4: ")
    assert "nothing was imported" in message
    assert [r["id"] for r in ok_json("list")] == [existing]

    invalid = tmp_path / "invalid.jsonl"
    invalid.write_text(json.dumps({**row, "id": "e" * 32, "kind": "dream"}) + "\n", encoding="utf-8")
    assert usage_error("import", str(invalid)).startswith("error: line 1: ")
    assert [r["id"] for r in ok_json("list")] == [existing]


def test_import_of_a_missing_file_is_a_usage_error(store: Path, tmp_path: Path) -> None:
    assert "no such file" in usage_error("import", str(tmp_path / "missing.jsonl"))


# --- stats / purge / reembed -----------------------------------------------------------------------


def test_stats_counts_kinds_and_namespaces(store: Path) -> None:
    seed()
    data = ok_json("stats")
    text = json.dumps(data)
    assert "users/alice/trips" in text and "users/bob" in text
    assert "hashing" in text
    shown = ok("stats").stdout
    assert "users/alice/trips" in shown and "semantic" in shown


def test_purge_removes_only_expired(store: Path) -> None:
    keep = add("stays")
    with open_memory(store) as memory:
        memory.add("gone", namespace=("users", "alice"), expires_at=datetime.now(UTC) - timedelta(seconds=1))
        memory.add("gone too", namespace=("users", "bob"), expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert ok_json("purge", "--ns", "users/alice") == {"purged": 1}
    assert ok("purge").stdout.strip() == "purged 1 expired memories"
    assert ok_json("purge") == {"purged": 0}
    assert [r["id"] for r in ok_json("list")] == [keep]


def test_reembed_switches_the_store_to_the_new_embedder(store: Path) -> None:
    ids = seed()
    assert ok_json("stats")["embedder"] == "hashing:v1:512"
    result = ok_json("reembed", "--embedder", "hashing:256")
    assert result == {"reembedded": 4, "embedder": "hashing:v1:256"}
    assert ok_json("stats")["embedder"] == "hashing:v1:256"
    # the store now opens with the new embedder, and refuses the old one
    for extra in ((), ("--embedder", "hashing:256")):
        hits = ok_json("search", "green tea", *extra)
        assert hits[0]["record"]["id"] == ids["tea"]
        assert "vector" in {r["signal"] for r in hits[0]["reasons"]}
    assert "reembed" in usage_error("search", "green tea", "--embedder", "hashing")


def test_opening_with_another_embedder_is_refused(store: Path) -> None:
    add("made with the default embedder")
    message = usage_error("list", "--embedder", "hashing:128")
    assert "embedder" in message and "reembed" in message


# --- bad input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, expected",
    [
        (("add", "x", "--ns", "users//alice"), "users/alice"),
        (("add", "x", "--ns", "/"), "non-empty namespace"),
        (("search", "x", "--ns", "a//b"), "users/alice"),
        (("list", "--ns", "a/ b"), "namespace"),
        (("add", "x", "--ns", "a", "--meta", "novalue"), "key=value"),
        (("add", "x", "--ns", "a", "--meta", "=1"), "key=value"),
        (("search", "x", "--filter", "oops"), "key=value"),
        (("add", "x", "--ns", "a", "--ttl", "soon"), "90s, 30m, 1h"),
        (("add", "x", "--ns", "a", "--ttl", "0"), "--ttl"),
        (("search", "x", "--since", "last tuesday"), "ISO date"),
        (("add", "   ", "--ns", "a"), "content is empty"),
        (("add", "x", "--ns", "a", "--embedder", "nonsense"), "unknown embedder"),
    ],
)
def test_bad_input_is_one_clear_line(store: Path, args: tuple[str, ...], expected: str) -> None:
    keep = add("stored before the mistake")
    message = usage_error(*args)
    assert message.startswith("error: ")
    assert expected in message
    assert message.count("\n") == 1
    assert [r["id"] for r in ok_json("list")] == [keep]


def test_out_of_range_options_are_refused_by_the_parser(store: Path) -> None:
    assert run("add", "x", "--ns", "a", "--importance", "1.5").exit_code == 2
    assert run("add", "x", "--ns", "a", "--kind", "dream").exit_code == 2
    assert run("search", "x", "-k", "0").exit_code == 2
    assert ok_json("list") == []


def test_a_broken_store_file_is_a_runtime_error(store: Path) -> None:
    store.write_bytes(b"this is not a database" * 100)
    result = run("list")
    assert result.exit_code == 1, (result.stdout, result.stderr, result.exception)
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr


# --- the installed console script --------------------------------------------------------------------


def _console_script() -> str:
    here = Path(sys.executable).parent / "mnemos"
    found = str(here) if here.exists() else shutil.which("mnemos")
    assert found, "the mnemos console script is not installed"
    return found


def test_console_script_in_a_subprocess(tmp_path: Path) -> None:
    env = {**os.environ, "MNEMOS_HOME": str(tmp_path / "home"), "MNEMOS_STORE": str(tmp_path / "m.db")}
    env.pop("MNEMOS_EMBEDDER", None)

    def mnemos(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [_console_script(), "memory", *args],
            env=env, capture_output=True, text=True, timeout=120,
        )

    added = mnemos("add", "Carol keeps bees in the garden", "--ns", "users/carol", "--kind", "semantic")
    assert added.returncode == 0, added.stderr
    memory_id = added.stdout.strip()

    found = mnemos("search", "bees", "--json")
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert hits[0]["record"]["id"] == memory_id
    assert hits[0]["reasons"]

    bad = mnemos("list", "--ns", "users//carol")
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr

    missing = mnemos("get", "nope")
    assert missing.returncode == 2
    assert missing.stderr.strip() == "error: no memory with id 'nope' in this scope"


def test_import_and_reembed_show_progress_in_a_terminal(store: Path, tmp_path: Path) -> None:
    for i in range(30):
        add(f"memory number {i}", f"bulk/{i % 3}")
    dump = tmp_path / "bulk.jsonl"
    ok("export", str(dump))
    terminal = {"COLUMNS": "100", "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"}
    imported = CliRunner().invoke(
        app, ["memory", "import", str(dump), "--store", str(tmp_path / "copy.db")], env=terminal
    )
    assert imported.exit_code == 0, imported.stderr
    assert "importing" in imported.stderr and "30/30" in imported.stderr
    reembedded = CliRunner().invoke(app, ["memory", "reembed", "--embedder", "hashing:64"], env=terminal)
    assert reembedded.exit_code == 0, reembedded.stderr
    assert "re-embedding" in reembedded.stderr and "30/30" in reembedded.stderr
    # without a terminal the bar stays away from the output
    assert "importing" not in ok("import", str(dump), "--store", str(tmp_path / "again.db")).stderr
