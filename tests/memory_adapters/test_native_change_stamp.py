"""The native store's change stamp is per scope: it moves on every change of a kind inside
the adapter's scope (its own writes, another handle's, another process's; edits, deletes,
expiry) and on none outside it, so one tenant cannot watch another's procedural writes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mnemos.memory_adapters.native import NativeMemoryAdapter

ALICE, BOB = ("users", "alice"), ("users", "bob")
RULES = ("agents", "helper", "procedural")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def root(tmp_path: Path, clock: Clock) -> Iterator[NativeMemoryAdapter]:
    memory = NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing", clock=clock)
    yield memory
    memory.close()


def _write_in_other_process(path: Path, scope: tuple[str, ...], code: str) -> None:
    script = (
        "import sys\n"
        "from mnemos.memory_adapters.native import NativeMemoryAdapter\n"
        f"memory = NativeMemoryAdapter(sys.argv[1], scope={scope!r})\n"
        f"{code}\n"
        "memory.close()\n"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, timeout=120)


def test_another_tenants_procedural_writes_do_not_move_the_stamp(root: NativeMemoryAdapter) -> None:
    alice, bob = root.scoped(*ALICE), root.scoped(*BOB)
    alice.add("Answer in French.", namespace=RULES, kind="procedural")
    stamp = alice.change_stamp("procedural")
    assert stamp is not None
    theirs = bob.add("Answer in German.", namespace=RULES, kind="procedural")
    bob.update(theirs.id, metadata={"note": "edited"})
    bob.supersede(theirs.id, "Answer in Dutch.")
    bob.delete(theirs.id)
    assert alice.change_stamp("procedural") == stamp
    # another handle on the file, and another process, writing for Bob
    other = NativeMemoryAdapter(root.path, scope=BOB)
    try:
        other.add("Answer in Danish.", namespace=RULES, kind="procedural")
    finally:
        other.close()
    _write_in_other_process(root.path, BOB, "memory.add('Answer in Welsh.', namespace=('r',), kind='procedural')")
    assert alice.change_stamp("procedural") == stamp
    # Alice's other kinds do not move her procedural stamp either
    alice.add("I had tea.", namespace=("episodes",))
    assert alice.change_stamp("procedural") == stamp


def test_a_scoped_adapter_of_its_own_ignores_other_tenants(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    alice = NativeMemoryAdapter(path, scope=ALICE, embedder="hashing")
    bob = NativeMemoryAdapter(path, scope=BOB, embedder="hashing")
    try:
        stamp = alice.change_stamp("procedural")
        bob.add("Answer in German.", namespace=RULES, kind="procedural")
        assert alice.change_stamp("procedural") == stamp
        alice.add("Answer in French.", namespace=RULES, kind="procedural")
        assert alice.change_stamp("procedural") != stamp
    finally:
        alice.close()
        bob.close()


def test_every_change_inside_the_scope_moves_the_stamp(root: NativeMemoryAdapter, clock: Clock) -> None:
    alice = root.scoped(*ALICE)
    seen = [alice.change_stamp("procedural")]

    def moved() -> bool:
        seen.append(alice.change_stamp("procedural"))
        return seen[-1] != seen[-2]

    rule = alice.add("Answer in French.", namespace=RULES, kind="procedural")
    assert moved()
    assert not moved()  # nothing happened
    alice.update(rule.id, metadata={"rules": ["Answer in German."]})  # same text, other metadata
    assert moved()
    newer = alice.supersede(rule.id, "Answer in Dutch.")
    assert moved()
    alice.delete(newer.id)
    assert moved()
    other = NativeMemoryAdapter(root.path)  # another handle on the whole file
    try:
        other.add("Be brief.", namespace=(*ALICE, *RULES), kind="procedural")
    finally:
        other.close()
    assert moved()
    _write_in_other_process(root.path, ALICE, f"memory.add('Be kind.', namespace={RULES!r}, kind='procedural')")
    assert moved()
    alice.add("Be quick.", namespace=RULES, kind="procedural", ttl_seconds=60)
    assert moved()
    clock.now += timedelta(seconds=30)
    assert not moved()
    clock.now += timedelta(seconds=60)  # it expired: what a reader sees changed
    assert moved()
    assert not moved()
    assert None not in seen


def test_a_namespace_inside_the_scope_has_a_stamp_of_its_own(root: NativeMemoryAdapter) -> None:
    alice = root.scoped(*ALICE)
    stamp = alice.change_stamp("procedural", RULES)
    whole = alice.change_stamp("procedural")
    alice.add("Answer in French.", namespace=("agents", "other", "procedural"), kind="procedural")
    assert alice.change_stamp("procedural", RULES) == stamp
    assert alice.change_stamp("procedural") != whole
    alice.add("Answer in German.", namespace=RULES, kind="procedural")
    assert alice.change_stamp("procedural", RULES) != stamp
