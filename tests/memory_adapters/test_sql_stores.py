"""The SQL store base shared by the native and PostgreSQL adapters (``_sql_adapter``).

The same operations run through one body of code with the backend's dialect: ids
in ``IN (...)`` lists of 500 on SQLite, one array on PostgreSQL. These tests run
both backends (PostgreSQL: the real server of the ``pgvector_url`` fixture)
across the chunk boundaries, and pin what ``stats()`` reports for each.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from mnemos.exceptions import StorageError
from mnemos.memory_adapters._sql_adapter import SqlMemoryAdapter
from mnemos.memory_adapters.conformance import ManualClock


def test_many_ids_cross_the_chunk_boundaries(sql_store: SqlMemoryAdapter) -> None:
    n = 1_201  # three IN lists of at most 500 on SQLite
    ids = [f"m{i:05d}" for i in range(n)]
    sql_store.add_many([{"id": i, "content": f"note {i} about Lisbon", "namespace": ("a",)} for i in ids])
    assert [r.id for r in sql_store.get_many(ids)] == ids
    for i in ids[:700]:
        sql_store.add_relation("Alice", "noted", f"thing {i}", namespace=("a",), memory_id=i)
    sql_store.update(ids[0], content="note 0 moved to Porto")
    assert [v.version for v in sql_store.history(ids[0])] == [1, 2]
    assert sql_store._delete(ids[:1_100]) == 1_100  # the core step behind delete(), given many ids
    assert sql_store.count() == n - 1_100
    assert sql_store.export_relations() == []  # each relation went with its memory
    assert sql_store.stats()["by_namespace"] == {"a": n - 1_100}


def test_purge_and_erase_clear_history_and_relations(sql_store: SqlMemoryAdapter, sql_clock: ManualClock) -> None:
    start = sql_clock()
    short = sql_store.add("a note that expires", namespace=("a",), expires_at=start + timedelta(days=1))
    kept = sql_store.add("a note that stays", namespace=("a",))
    sql_store.import_history([short, kept])
    sql_store.add_relation("Bob", "wrote", "the note", namespace=("a",), memory_id=short.id)
    sql_clock.set(start + timedelta(days=2))
    assert sql_store.stats()["expired_pending_purge"] == 1
    assert sql_store.purge() == 1
    assert sql_store.export_relations() == []
    assert {v.id for v in sql_store.history(kept.id)} == {kept.id}
    sql_store.add_relation("Bob", "kept", "the other note", namespace=("b",))
    assert sql_store.erase(("a",)) == 1
    assert sql_store.count() == 0
    assert [r.namespace for r in sql_store.export_relations()] == [("b",)]
    assert sql_store.stats()["entities"] == 2  # Bob and the other note, in ("b",)


def test_stats_keys_stay_as_each_backend_reported_them(sql_store: SqlMemoryAdapter) -> None:
    sql_store.add("one note", namespace=("a",))
    counts = ["total", "by_kind", "by_namespace", "superseded", "expired_pending_purge", "entities",
              "relations", "embedder", "embedder_dims"]
    if sql_store.name == "native":
        expected = ["adapter", "path", "file_size", "vector_file_size", *counts, "schema_version"]
    else:
        expected = ["adapter", "schema", "disk_size", *counts, "text_search", "schema_version"]
    stats = sql_store.stats()
    assert list(stats) == expected
    assert stats["adapter"] == sql_store.name and stats["total"] == 1 and stats["embedder_dims"] == 64


def test_the_insert_step_never_replaces_a_memory_of_another_scope(sql_store: SqlMemoryAdapter) -> None:
    """The store's own insert step keeps scopes apart, not only the id check before it.

    ``add`` refuses a foreign id before it reaches the insert step; this drives the step
    itself, as a race between that check and the write would, with an id that belongs to
    another scope: the write must fail and the other scope's memory stay as it was.
    """
    (bob,) = sql_store.add_many([{"id": "shared-id", "content": "Bob's private note", "namespace": ("users", "bob")}])
    alice = sql_store.scoped("users", "alice")
    intruder = replace(bob, namespace=("users", "alice"), content="overwritten by alice")
    vectors = alice._embed([intruder.content])
    with pytest.raises(StorageError, match=r"(?i)unique"), alice._writing() as conn:
        alice._insert(conn, [intruder], vectors, dedup=False)
    kept = sql_store.get("shared-id")
    assert (kept.namespace, kept.content) == (("users", "bob"), "Bob's private note")
