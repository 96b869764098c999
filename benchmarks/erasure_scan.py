"""Which erased strings are still in the raw bytes of a native store after delete, purge, erase.

Nine secret words are written for user alice in every place the native store keeps
text (content, metadata, provenance, an entity name, a relation, a replaced version in
history, a superseded fact, an expired memory), among other users' memories. Then
alice's memories are removed three ways, each on a fresh store:

* ``delete``: every memory of hers the API lists is deleted, then expired ones purged;
* ``purge``: her memories were written with a short TTL and ``purge()`` removes them;
* ``delete+scrub``: the same deletes, then ``scrub()``;
* ``erase``: ``erase_user("alice")``.

For each, the script counts the secrets whose bytes remain in ``memory.db`` and
``memory.db-wal`` (the full-text index lives inside ``memory.db``), before and after
closing the store.

    python benchmarks/erasure_scan.py
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from mnemos.memory_adapters.native import NativeMemoryAdapter

ALICE = ("users", "alice")


def secrets(seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(12)) for _ in range(9)]


def populate(store: NativeMemoryAdapter, words: list[str], *, ttl: float | None = None) -> None:
    """Other users' memories around alice's nine secrets."""
    for i in range(300):
        store.add(f"bob note {i} about the harbour walk and the Northwind account",
                  namespace=("users", f"user{i % 7}", "notes"))
    kw = {"ttl_seconds": ttl} if ttl else {}
    store.add(f"alice told us {words[0]} at lunch", namespace=(*ALICE, "notes"), **kw)
    store.add("alice's badge", namespace=(*ALICE, "notes"), metadata={"badge": words[1]}, **kw)
    fact = store.add(f"Alice works with {words[2].title()} daily", namespace=(*ALICE, "facts"),
                     kind="semantic", **kw)
    changed = store.add(f"alice's locker code is {words[3]}", namespace=(*ALICE, "notes"), **kw)
    store.update(changed.id, content="alice's locker code was changed")
    old = store.add(f"alice lives on {words[4]} street", namespace=(*ALICE, "facts"), kind="semantic", **kw)
    new = store.supersede(old.id, "alice moved to a new street")
    if ttl:
        _expire(store, new.id, ttl)
    store.add_relation(words[5].title(), "knows", words[6].title(), namespace=(*ALICE, "facts"),
                       memory_id=fact.id)
    store.add("alice's chat", namespace=(*ALICE, "notes"), provenance={"thread": words[7]}, **kw)
    store.add(f"alice's old pin {words[8]}", namespace=(*ALICE, "notes"), ttl_seconds=ttl or 0.01)


def _expire(store: NativeMemoryAdapter, record_id: str, ttl: float) -> None:
    store.update(record_id, expires_at=store.now() + timedelta(seconds=ttl))


def found(path: Path, words: list[str]) -> dict[str, int]:
    """How many secrets each file still holds (a secret's last 8 letters, any case), and
    how many of them one file or the other holds (``either``: the log may have started
    again over some of them after they were copied into the database file)."""
    out = {}
    held: set[str] = set()
    for file in (path, Path(f"{path}-wal")):
        data = file.read_bytes().lower() if file.exists() else b""
        mine = {w for w in words if w[-8:].encode() in data}
        out[file.name] = len(mine)
        held |= mine
    out["either"] = len(held)
    return out


MODES = ("delete", "delete+scrub", "purge", "erase")


def run(mode: str, root: Path) -> dict[str, dict[str, int]]:
    path = root / mode.replace("+", "-") / "memory.db"
    words = secrets()
    store = NativeMemoryAdapter(path, embedder="hashing")
    populate(store, words, ttl=0.5 if mode == "purge" else None)
    time.sleep(0.6 if mode == "purge" else 0.05)
    if mode.startswith("delete"):
        for record in store.list(namespace=ALICE, limit=None, include_superseded=True):
            store.delete(record.id)
        store.purge(ALICE)
        if mode == "delete+scrub":
            store.scrub()
    elif mode == "purge":
        store.purge()
    else:
        store.erase_user("alice")
    result = {"open": found(path, words)}
    store.close()
    result["closed"] = found(path, words)
    return result


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        for mode in MODES:
            result = run(mode, Path(tmp))
            cells = "  ".join(f"{when}: " + ", ".join(f"{k} {v}/9" for k, v in r.items()) for when, r in result.items())
            print(f"{mode:12s} {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
