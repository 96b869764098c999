"""Graph threads checkpointed in PostgreSQL beside a PostgreSQL memory store, in one database,
with several processes running and resuming threads at once.

Each process runs a two-step graph: step ``a`` writes a memory and the graph stops for
approval (the checkpoint is in PostgreSQL); a new process resumes the thread, and step
``b`` finds what every thread wrote, through the shared memory store.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg
import pytest

from mnemos.memory_adapters.postgres import PostgresMemoryAdapter
from pgvector_server import Schemas

pytestmark = pytest.mark.pgvector

SCRIPT = textwrap.dedent(
    """
    import operator, sys
    from typing import Annotated, TypedDict
    from langgraph.types import Command
    from mnemos.graphs import GraphBuilder, open_checkpointer
    from mnemos.memory_adapters import open_memory

    memory_url, checkpoint_url, worker, mode = sys.argv[1:5]
    memory = open_memory(memory_url, scope=("team",), embedder="hashing")

    class S(TypedDict):
        log: Annotated[list[str], operator.add]

    def a(s):
        memory.add(f"worker {worker} chose the harbor route", namespace=("plans",), metadata={"worker": worker})
        return {"log": ["a"]}

    def b(s):
        hits = memory.search("harbor route", namespace=("plans",), limit=50)
        return {"log": [f"b saw {len(hits)}"]}

    builder = GraphBuilder(S, name="plan").node(a).node(b)
    builder.approval(after="a", on_approve="b")
    cfg = {"configurable": {"thread_id": f"thread-{worker}"}}
    with open_checkpointer(checkpoint_url) as saver:
        graph = builder.compile(checkpointer=saver)
        if mode == "start":
            out = graph.invoke({"log": []}, cfg)
            print("interrupted" if "__interrupt__" in out else "finished")
        else:
            out = graph.invoke(Command(resume="yes"), cfg)
            print(",".join(out["log"]))
    memory.close()
    """
)
WORKERS = 4


def _all(script: Path, *args: list[str]) -> list[str]:
    procs = [subprocess.Popen([sys.executable, str(script), *a], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for a in args]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        outs.append(out.strip())
    return outs


def test_threads_and_memory_share_one_database(tmp_path: Path, pg_schemas: Schemas) -> None:
    memory_url = pg_schemas.new_url()
    checkpoints = pg_schemas.new()
    with psycopg.connect(pg_schemas.url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{checkpoints}"')
    sep = "&" if "?" in pg_schemas.url else "?"
    checkpoint_url = f"{pg_schemas.url}{sep}options=-csearch_path%3D{checkpoints}"
    script = tmp_path / "plan.py"
    script.write_text(SCRIPT)
    started = _all(script, *[[memory_url, checkpoint_url, str(w), "start"] for w in range(WORKERS)])
    assert started == ["interrupted"] * WORKERS
    resumed = _all(script, *[[memory_url, checkpoint_url, str(w), "resume"] for w in range(WORKERS)])
    assert resumed == [f"a,b saw {WORKERS}"] * WORKERS
    with PostgresMemoryAdapter(memory_url, scope=("team",)) as memory:
        assert sorted(r.metadata["worker"] for r in memory.list(namespace=("plans",))) == [
            str(w) for w in range(WORKERS)]
    with psycopg.connect(pg_schemas.url, autocommit=True) as conn:
        threads = conn.execute(
            f'SELECT DISTINCT thread_id FROM "{checkpoints}".checkpoints ORDER BY thread_id'
        ).fetchall()
    assert [t[0] for t in threads] == [f"thread-{w}" for w in range(WORKERS)]
