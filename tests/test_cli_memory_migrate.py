"""``mnemos memory migrate SRC DST``: native to PostgreSQL and back, on real stores.

The PostgreSQL side is the pgvector server of the ``pgvector_url`` fixture.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mnemos.cli import app
from mnemos.memory_adapters.base import BaseMemoryAdapter
from mnemos.memory_adapters.conformance import snapshot
from mnemos.memory_adapters.native import NativeMemoryAdapter
from mnemos.memory_adapters.postgres import PostgresMemoryAdapter
from pgvector_server import Schemas

pytestmark = pytest.mark.pgvector


def migrate(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["memory", "migrate", *args, "--json"])
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return json.loads(result.stdout)


def fill(store: BaseMemoryAdapter) -> dict[str, str]:
    """Records of every kind, two namespaces, a superseded fact, an updated memory, a relation."""
    ids: dict[str, str] = {}
    ids["turn"] = store.add("Alice said the launch moved to Friday", namespace=("team", "chat"),
                            metadata={"session": 1}, provenance={"thread": "t1", "agent": "alice"}).id
    fact = store.add("Alice lives in Porto", namespace=("team", "facts"), kind="semantic")
    ids["new_fact"] = store.supersede(fact.id, "Alice lives in Lisbon").id
    ids["old_fact"] = fact.id
    rule = store.add("Answer in French", namespace=("team", "rules"), kind="procedural", importance=0.9)
    store.update(rule.id, content="Answer in French, briefly")
    store.update(rule.id, metadata={"by": "bob"})
    ids["rule"] = rule.id
    for i in range(30):
        store.add(f"note {i} about the harbor project", namespace=("other",), metadata={"i": i})
    store.add_relation("Alice", "works_with", "Bob", namespace=("team", "facts"),  # type: ignore[attr-defined]
                       memory_id=ids["new_fact"])
    return ids


def same_store(a: BaseMemoryAdapter, b: BaseMemoryAdapter, ids: dict[str, str]) -> None:
    assert snapshot(a) == snapshot(b)
    for memory_id in ids.values():
        assert [r.to_dict() for r in a.history(memory_id)] == [r.to_dict() for r in b.history(memory_id)]
    assert a.export_relations() == b.export_relations()  # type: ignore[attr-defined]
    assert a.entities(ids["new_fact"]) == b.entities(ids["new_fact"])  # type: ignore[attr-defined]


def test_native_to_postgres_and_back(tmp_path: Path, pg_schemas: Schemas) -> None:
    native_url = f"native://{tmp_path / 'memory.db'}"
    pg_url = pg_schemas.new_url()
    back_url = f"native://{tmp_path / 'back.db'}"
    with NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing") as src:
        ids = fill(src)
    report = migrate(native_url, pg_url, "--batch", "7")
    assert report["total"] == 34 and report["copied"] == 34 and report["skipped"] == 0
    assert report["history"] == 3 and report["relations"] == 1
    with NativeMemoryAdapter(tmp_path / "memory.db") as src, PostgresMemoryAdapter(pg_url) as dst:
        assert dst.embedder.name == src.embedder.name
        same_store(src, dst, ids)
        assert dst.search("where does Alice live", namespace=("team",))[0].record.id == ids["new_fact"]
    back = migrate(pg_url, back_url)
    assert back["copied"] == 34 and back["history"] == 3 and back["relations"] == 1
    with NativeMemoryAdapter(tmp_path / "memory.db") as src, NativeMemoryAdapter(tmp_path / "back.db") as again:
        same_store(src, again, ids)


def test_an_interrupted_migration_resumes(tmp_path: Path, pg_schemas: Schemas) -> None:
    pg_url = pg_schemas.new_url()
    with NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing") as src:
        ids = fill(src)
        with PostgresMemoryAdapter(pg_url, embedder="hashing") as dst:
            # a first run that stopped after two batches of ten
            page = src.list(limit=20, include_superseded=True)
            dst._import_records(page, on_progress=None, batch_size=20)
    report = migrate(f"native://{tmp_path / 'memory.db'}", pg_url, "--batch", "10")
    assert report["skipped"] == 20 and report["copied"] == 14
    again = migrate(f"native://{tmp_path / 'memory.db'}", pg_url)
    assert again["copied"] == 0 and again["skipped"] == 34
    with NativeMemoryAdapter(tmp_path / "memory.db") as src, PostgresMemoryAdapter(pg_url) as dst:
        same_store(src, dst, ids)


def test_a_namespace_only(tmp_path: Path, pg_schemas: Schemas) -> None:
    pg_url = pg_schemas.new_url()
    with NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing") as src:
        fill(src)
    report = migrate(f"native://{tmp_path / 'memory.db'}", pg_url, "--ns", "other")
    assert report["copied"] == 30
    with PostgresMemoryAdapter(pg_url) as dst:
        assert dst.namespaces() == [("other",)]


def test_an_embedder_mismatch_is_refused(tmp_path: Path, pg_schemas: Schemas) -> None:
    pg_url = pg_schemas.new_url()
    PostgresMemoryAdapter(pg_url, embedder="hashing:64").close()
    with NativeMemoryAdapter(tmp_path / "memory.db", embedder="hashing") as src:
        src.add("something", namespace=("a",))
    result = CliRunner().invoke(app, ["memory", "migrate", f"native://{tmp_path / 'memory.db'}", pg_url])
    assert result.exit_code != 0
    assert "embedder" in (result.stderr or result.stdout).lower()
    with PostgresMemoryAdapter(pg_url, embedder="hashing:64") as dst:
        assert dst.count() == 0
