"""One process stores memories; a second, separate process recalls them, with scores and reasons.

    python examples/remember_across_processes.py            # a fresh store in a temp directory
    python examples/remember_across_processes.py my.db      # or a store file of your choice
    python examples/remember_across_processes.py store my.db   # run one phase yourself...
    python examples/remember_across_processes.py recall my.db  # ...and the other later

Without a phase, the script starts ``store`` and then ``recall`` as two child
processes: nothing passes between them but the SQLite file. It runs offline with
the built-in hashing embedder (no model download).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mnemos.memory_adapters import MemoryKind, ScoredMemory
from mnemos.memory_adapters.registry import open_memory

SCOPE = ("users", "alice")
"""Both processes open the store for Alice only: nothing outside this scope is visible."""

FACTS = [
    "Alice is vegetarian and avoids fish too",
    "Alice works night shifts as a nurse at St. Mary's hospital",
    "Alice's daughter Emma is seven years old",
]
EPISODES = [
    (3, "Alice asked for a quick pasta recipe without meat"),
    (2, "Alice said the night shifts leave her too tired to cook"),
    (1, "Alice mentioned Emma's birthday party is on Saturday; she wants a chocolate cake"),
    (0, "Alice complained that the Berlin winters are dark and asked for lamp recommendations"),
]
RULES = ["Keep answers short: Alice reads them on her phone between shifts"]
QUESTIONS = [
    ("What could Alice cook tonight?", None),
    ("Where does Alice live?", MemoryKind.SEMANTIC),
    ("birthday party plans for her daughter", None),
    ("How should answers to Alice be written?", MemoryKind.PROCEDURAL),
]


def store(path: Path) -> None:
    """Phase one: write facts, episodes and a rule, then exit."""
    print(f"[store  pid {os.getpid()}] writing to {path}")
    now = datetime.now(UTC)
    with open_memory(path, scope=SCOPE) as memory:
        for fact in FACTS:
            memory.add(fact, namespace=("profile",), kind=MemoryKind.SEMANTIC, importance=0.8)
        lisbon = memory.add("Alice lives in Lisbon", namespace=("profile",), kind="semantic")
        # She moved: the new fact supersedes the old one, which keeps its history.
        memory.supersede(lisbon.id, "Alice lives in Berlin since March")
        for days_ago, text in EPISODES:
            memory.add(
                text,
                namespace=("chat",),
                kind=MemoryKind.EPISODIC,
                created_at=now - timedelta(days=days_ago),
                provenance={"agent": "assistant", "thread": "chat-1"},
            )
        for rule in RULES:
            memory.add(rule, namespace=("rules",), kind=MemoryKind.PROCEDURAL, importance=1.0)
        print(f"[store  pid {os.getpid()}] stored {memory.count()} memories; exiting")


def _why(hit: ScoredMemory) -> str:
    """What each signal added to the score, e.g. ``keyword #1 +0.50 · vector #2 (cosine 0.41) +0.49``."""
    parts = []
    for reason in hit.reasons:
        if reason.contribution == 0:
            continue
        rank = re.search(r"rank (\d+)", reason.detail)
        label = f"{reason.signal} #{rank.group(1)}" if rank else reason.signal
        if reason.signal == "vector":
            label += f" (cosine {reason.value:.2f})"
        parts.append(f"{label} +{reason.contribution:.2f}")
    return " · ".join(parts)


def recall(path: Path) -> None:
    """Phase two: open the same file in a new process and ask questions."""
    print(f"[recall pid {os.getpid()}] reading {path}")
    with open_memory(path, scope=SCOPE) as memory:
        for question, kind in QUESTIONS:
            print(f"\n? {question}")
            for rank, hit in enumerate(memory.search(question, kinds=kind, limit=3), start=1):
                record = hit.record
                where = "/".join(record.namespace)
                print(f"  {rank}. {hit.score:.3f}  [{record.kind.value}, {where}]  {record.content}")
                print(f"     why: {_why(hit)}")
        old = memory.search("Alice lives in", kinds="semantic", include_superseded=True, limit=5)
        for hit in old:
            if hit.record.superseded:
                print(
                    f"\nhistory: {hit.record.content!r} was superseded on "
                    f"{hit.record.valid_to:%Y-%m-%d} by {memory.get(hit.record.superseded_by).content!r}"
                )


def main(argv: list[str]) -> None:
    if argv and argv[0] in ("store", "recall"):
        if len(argv) != 2:
            sys.exit(f"usage: {sys.argv[0]} {argv[0]} STORE_PATH")
        (store if argv[0] == "store" else recall)(Path(argv[1]).resolve())
        return
    if len(argv) > 1:
        sys.exit(f"usage: {sys.argv[0]} [STORE_PATH] | store STORE_PATH | recall STORE_PATH")
    with tempfile.TemporaryDirectory(prefix="mnemos-example-") as tmp:
        path = Path(argv[0]).resolve() if argv else Path(tmp) / "memory.db"
        for phase in ("store", "recall"):
            subprocess.run([sys.executable, __file__, phase, str(path)], check=True)


if __name__ == "__main__":
    main(sys.argv[1:])
