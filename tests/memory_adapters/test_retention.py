"""Retention policies purge what is too old or too many, on their own, and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mnemos.exceptions import ConfigurationError, UsageError
from mnemos.memory_adapters.conformance import ManualClock
from mnemos.memory_adapters.native import NativeMemoryAdapter
from mnemos.memory_adapters.registry import open_memory
from mnemos.memory_adapters.retention import RetentionPolicy, retention_from_config

START = datetime(2030, 1, 1, tzinfo=UTC)
THIRTY_DAYS = RetentionPolicy(("users",), kind="episodic", max_age=timedelta(days=30))


def _seed(store: NativeMemoryAdapter, start: datetime = START) -> dict[str, str]:
    def add(content: str, namespace: tuple[str, ...], kind: str, days_old: int) -> str:
        return store.add(content, namespace=namespace, kind=kind, created_at=start - timedelta(days=days_old)).id

    return {
        "old episode": add("alice went hiking", ("users", "alice", "chat"), "episodic", 40),
        "recent episode": add("alice baked bread", ("users", "alice", "chat"), "episodic", 10),
        "old fact": add("alice is vegetarian", ("users", "alice", "facts"), "semantic", 40),
        "other prefix": add("the team met in March", ("teams", "core"), "episodic", 40),
        "other user old": add("bob went sailing", ("users", "bob", "chat"), "episodic", 31),
    }


def _alive(store: NativeMemoryAdapter, ids: dict[str, str]) -> set[str]:
    found = {r.id for r in store.list(limit=None, include_superseded=True)}
    return {name for name, i in ids.items() if i in found}


def test_thirty_days_on_one_prefixs_episodes_purges_only_those_with_no_call(tmp_path: Path) -> None:
    clock = ManualClock(START)
    store = NativeMemoryAdapter(tmp_path / "m.db", embedder="hashing", clock=clock)
    ids = _seed(store)
    store.set_retention([THIRTY_DAYS], interval=0, apply=False)
    assert len(_alive(store, ids)) == 5
    store.add("a new note", namespace=("users", "alice", "chat"))  # an ordinary write
    assert _alive(store, ids) == {"recent episode", "old fact", "other prefix"}
    clock.advance(21 * 86400)  # the recent episode is 31 days old now
    store.add("another note", namespace=("teams", "core"))
    assert _alive(store, ids) == {"old fact", "other prefix"}
    store.close()


def test_retention_from_config_applies_on_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("MNEMOS_HOME", str(home))
    path = tmp_path / "m.db"
    with NativeMemoryAdapter(path, embedder="hashing") as store:
        ids = _seed(store, datetime.now(UTC))
    (home / "config.toml").write_text(
        '[[retention]]\nnamespace = "users"\nkind = "episodic"\nmax_age_days = 30\n'
        '[[retention]]\nnamespace = "teams"\nmax_count = 1\n'
    )
    with open_memory(str(path)) as store:  # opening applies the policies: no other call
        assert _alive(store, ids) == {"recent episode", "old fact", "other prefix"}
    assert retention_from_config()[1] == RetentionPolicy(("teams",), max_count=1)


def test_max_count_keeps_the_newest_per_namespace_and_purge_applies_it(tmp_path: Path) -> None:
    store = NativeMemoryAdapter(tmp_path / "m.db", embedder="hashing", clock=lambda: START)
    for user in ("alice", "bob"):
        for day in range(5):
            store.add(f"{user} day {day}", namespace=("users", user, "log"),
                      created_at=START - timedelta(days=day))
    store.add("kept elsewhere", namespace=("teams", "x"))
    store.set_retention([RetentionPolicy(("users",), max_count=2)], apply=False)
    assert store.purge() == 6
    assert sorted(r.content for r in store.list(namespace=("users",))) == [
        "alice day 0", "alice day 1", "bob day 0", "bob day 1"]
    assert store.count(("teams",)) == 1
    view = store.scoped("users", "alice")
    view.add("alice day -1", namespace=("log",), created_at=START + timedelta(days=1))
    assert view.purge() == 1 and view.count() == 2
    assert store.count(("users", "bob")) == 2
    store.close()


def test_bad_policies_are_refused() -> None:
    for bad in (
        lambda: RetentionPolicy(("users",)),
        lambda: RetentionPolicy(("users",), kind="gossip", max_count=1),
        lambda: RetentionPolicy(("users",), max_age=timedelta(days=-1)),
        lambda: RetentionPolicy(("users",), max_count=-1),
        lambda: RetentionPolicy("users", max_count=1),  # type: ignore[arg-type]
    ):
        with pytest.raises(UsageError):
            bad()
    with pytest.raises(ConfigurationError):
        retention_from_config({"retention": [{"namespace": "users", "max_age_days": "30"}]})
    with pytest.raises(ConfigurationError):
        retention_from_config({"retention": [{"namespace": "users", "max_days": 30}]})
