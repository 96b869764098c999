"""The native store's write-ahead log under agent turns that follow each other closely.

Runs ``--turns`` turns the way a mnemos agent node does (recall, the novelty check,
then one commit holding the turn's episode and the reinforcement of two recalled
memories), on ``--agents`` namespaces in turn, with nothing else between them unless
``--gap-ms`` adds a pause (a model call); ``--writes-only`` leaves out the recall and
the novelty check, so the writes follow each other as closely as they can. After every turn it reads how many frames
the log holds and how many of them are already copied into the database file (from
the wal-index header in the ``-shm`` file) and the size of the ``-wal`` file.

Printed: the longest log (frames) in each tenth of the run and over all of it, the
largest ``-wal`` file, how many times the log restarted from its beginning, the turn
write's latency (p50, p99, max) and how many writes took over ``--slow-ms`` (a write
that checkpointed a 10,000-page log itself took 10-22 ms on a disk whose fsync takes
0.1 ms, about 135 ms on a slower one), and the load average. The store is copied first when ``--store`` is
given (with its vector file); without it a temporary store is filled with
``--memories`` memories per agent.

    python benchmarks/wal_log.py --store memory.db             # 2,000 turns on a copy
    python benchmarks/wal_log.py --memories 2000 --turns 3000  # a new temporary store
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from orchestration import TOPICS, USER, WORDS, preload

from mnemos.agents import _memops
from mnemos.agents.policy import MemoryPolicy
from mnemos.memory_adapters import MemoryKind, Provenance
from mnemos.memory_adapters._native_checkpoint import INLINE_PAGES, log_state
from mnemos.memory_adapters.native import NativeMemoryAdapter

WAL_HEADER = 32
FRAME_HEADER = 24


def log_frames(path: Path) -> tuple[int, int]:
    """(frames in the log, frames copied into the database file), from the wal-index header."""
    with open(f"{path}-shm", "rb") as shm:
        state = log_state(shm)
    if state is None:
        raise RuntimeError(f"no wal-index header in {path}-shm")
    return state


def run(store: Path, args: argparse.Namespace) -> dict[str, Any]:
    policy = MemoryPolicy()
    rng = random.Random(args.seed)
    memory = NativeMemoryAdapter(store)
    page = memory._store.conn.execute("PRAGMA page_size").fetchone()[0]
    wal = Path(f"{store}-wal")
    writes: list[float] = []
    frames: list[int] = []
    file_pages: list[int] = []
    restarts: list[int] = []
    first_recalled: dict[str, list[str]] = {}
    began = time.perf_counter()
    try:
        for turn in range(args.turns):
            agent = f"step_{turn % args.agents}"
            ns = ("users", USER, "agents", agent)
            question = f"What did we decide about the {rng.choice(TOPICS)} {rng.choice(WORDS)}?"
            content = f"user: {question}\n{agent}: noted, turn {turn}"
            metadata: dict[str, Any] = {"agent": agent, "thread": f"t{turn}", "user": USER}
            if args.writes_only:  # the memories the agent's first turn recalled
                if agent not in first_recalled:
                    first_recalled[agent] = [m.id for m in _memops.recall(memory, ns, question, policy)[:2]]
                used = first_recalled[agent]
            else:
                used = [m.id for m in _memops.recall(memory, ns, question, policy)[:2]]
                metadata.update(_memops.novelty_flags(memory, ns, content, MemoryKind.EPISODIC))
            episode = {"content": content, "metadata": metadata, "importance": policy.episode_importance,
                       "provenance": Provenance(agent=agent, thread=f"t{turn}", source="turn")}
            start = time.perf_counter()
            _memops.commit_turn(memory, ns, used=used, episode=episode)
            writes.append(time.perf_counter() - start)
            in_log, _ = log_frames(store)
            if frames and in_log < frames[-1]:
                restarts.append(turn)
            frames.append(in_log)
            file_pages.append(max(0, wal.stat().st_size - WAL_HEADER) // (page + FRAME_HEADER) if wal.exists() else 0)
            if args.gap_ms:
                time.sleep(args.gap_ms / 1000)
        elapsed = time.perf_counter() - began
    finally:
        memory.close()
    ms = np.asarray(writes) * 1000
    restarting = ms[restarts] if restarts else np.zeros(1)
    tenth = max(1, len(frames) // 10)
    inline = [i for i, (before, after) in enumerate(zip([0, *frames], frames, strict=False))
              if after >= INLINE_PAGES > before]  # the write that took the log there checkpointed it
    return {
        "turns": args.turns,
        "turn_ms": round(elapsed * 1000 / args.turns, 2),
        "write_p50_ms": round(float(np.percentile(ms, 50)), 2),
        "write_p99_ms": round(float(np.percentile(ms, 99)), 2),
        "write_max_ms": round(float(ms.max()), 1),
        "writes_over_slow_ms": int((ms > args.slow_ms).sum()),
        "slow_writes": [int(i) for i in np.flatnonzero(ms > args.slow_ms)],
        "restarting_write_p50_ms": round(float(np.percentile(restarting, 50)), 2),
        "max_log_frames": max(frames),
        "max_log_frames_by_tenth": [max(frames[i:i + tenth]) for i in range(0, len(frames), tenth)],
        "max_wal_file_pages": max(file_pages),
        "restarts": len(restarts),
        "reached_inline_pages": len(inline),
        "inline_write_ms": [round(float(ms[i]), 1) for i in inline],
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, default=None,
                        help="store to copy and write to (with its vector file); default: a new temporary one")
    parser.add_argument("--agents", type=int, default=10, help="namespaces written in turn")
    parser.add_argument("--memories", type=int, default=2000, help="memories per agent of a new temporary store")
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--gap-ms", type=float, default=0.0, help="pause after each turn (a model call)")
    parser.add_argument("--writes-only", action="store_true",
                        help="no recall or novelty check between the writes (each agent reinforces what its "
                             "first turn recalled): the writes follow each other as closely as they can")
    parser.add_argument("--slow-ms", type=float, default=20.0, help="a write longer than this is counted")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mnemos-wal-") as tmp:
        store = Path(tmp) / "memory.db"
        if args.store is not None:
            copies = [(args.store, store)]
            vectors = Path(f"{args.store}-vectors")
            if vectors.exists():
                copies.append((vectors, Path(f"{store}-vectors")))
            for source, copy in copies:
                shutil.copyfile(source, copy)
                with open(copy, "rb+") as written:  # else the first checkpoints' syncs write the whole copy
                    os.fsync(written.fileno())
        else:
            preload(store, args.agents, args.memories, args.seed)
        result = run(store, args)
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['turns']} turns on {args.agents} agents, {result['turn_ms']} ms a turn, "
          f"load average {result['load_average'][0]}")
    print(f"  log: longest {result['max_log_frames']} frames (by tenth of the run: "
          f"{result['max_log_frames_by_tenth']}), -wal file up to {result['max_wal_file_pages']} pages, "
          f"{result['restarts']} restarts; {result['reached_inline_pages']} times it reached "
          f"{INLINE_PAGES} frames (the writing connection checkpointed, in {result['inline_write_ms']} ms)")
    print(f"  turn write: p50 {result['write_p50_ms']} ms, p99 {result['write_p99_ms']} ms, "
          f"max {result['write_max_ms']} ms; {result['writes_over_slow_ms']} over {args.slow_ms:g} ms "
          f"(turns {result['slow_writes']}); p50 of the writes that started the log again "
          f"{result['restarting_write_p50_ms']} ms")


if __name__ == "__main__":
    main()
