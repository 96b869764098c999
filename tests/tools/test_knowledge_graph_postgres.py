"""The knowledge graph and cursor paging on PostgreSQL: the scripted session that matches the
reference memory server on SQLite gives the same results on PostgreSQL, two principals'
graphs stay apart in one database, and a paged listing reaches every memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_mcp_knowledge_graph import SESSION

from mnemos.exceptions import UsageError
from mnemos.memory_adapters.base import BaseMemoryAdapter
from mnemos.memory_adapters.native import NativeMemoryAdapter
from mnemos.memory_adapters.postgres import PostgresMemoryAdapter
from mnemos.tools._mcp_paging import list_page
from mnemos.tools.knowledge_graph import (
    EntityIn,
    KnowledgeGraph,
    ObservationDeletionIn,
    ObservationsIn,
    RelationIn,
)
from pgvector_server import Schemas

pytestmark = pytest.mark.pgvector


def _play(graph: KnowledgeGraph) -> list[tuple[bool, Any]]:
    calls = {
        "create_entities": lambda a: graph.create_entities([EntityIn(**e) for e in a["entities"]]),
        "create_relations": lambda a: graph.create_relations([RelationIn.model_validate(r) for r in a["relations"]]),
        "add_observations": lambda a: graph.add_observations([ObservationsIn(**o) for o in a["observations"]]),
        "delete_entities": lambda a: graph.delete_entities(a["entityNames"]),
        "delete_observations": lambda a: graph.delete_observations(
            [ObservationDeletionIn(**d) for d in a["deletions"]]),
        "delete_relations": lambda a: graph.delete_relations([RelationIn.model_validate(r) for r in a["relations"]]),
        "read_graph": lambda a: graph.read_graph(),
        "search_nodes": lambda a: graph.search_nodes(a["query"]),
        "open_nodes": lambda a: graph.open_nodes(a["names"]),
    }
    out: list[tuple[bool, Any]] = []
    for tool, args in SESSION:
        try:
            out.append((False, calls[tool](args).model_dump(mode="json", by_alias=True)))
        except UsageError:
            out.append((True, None))
    return out


def test_the_scripted_session_gives_the_same_graph_on_postgres_and_sqlite(pg_schemas: Schemas, tmp_path: Path) -> None:
    postgres = PostgresMemoryAdapter(pg_schemas.new_url(), embedder="hashing:256")
    native = NativeMemoryAdapter(tmp_path / "m.db")
    try:
        alice, bob = postgres.scoped("principals", "alice"), postgres.scoped("principals", "bob")
        played = _play(KnowledgeGraph(alice))
        assert played == _play(KnowledgeGraph(native.scoped("principals", "alice")))
        assert KnowledgeGraph(bob).read_graph().entities == []
        assert [(r.subject, r.predicate, r.object) for r in alice.relations("Carol")] == [
            ("Carol", "knows", "Alice"), ("Carol", "mentors", "Dave")]
        assert bob.relations("Carol") == []
    finally:
        postgres.close()
        native.close()


def test_a_paged_listing_reaches_every_memory_on_postgres(pg_schemas: Schemas) -> None:
    adapter: BaseMemoryAdapter = PostgresMemoryAdapter(pg_schemas.new_url(), embedder="hashing:64")
    try:
        view = adapter.scoped("principals", "alice")
        stored = {r.id for r in view.add_many([{"content": f"note {i}", "namespace": ("notes",)} for i in range(250)])}
        seen: list[str] = []
        cursor = None
        while True:
            page = list_page(view, namespace=["notes"], kinds=None, filter=None, limit=40, cursor=cursor,
                             include_superseded=False)
            seen += [m.id for m in page.memories]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert len(seen) == 250 and set(seen) == stored
    finally:
        adapter.close()
