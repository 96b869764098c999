"""A knowledge graph of entities, relations and observations, kept as memories.

The MCP knowledge-graph tools (``create_entities``, ``create_relations``,
``add_observations``, ``delete_entities``, ``delete_observations``,
``delete_relations``, ``read_graph``, ``search_nodes``, ``open_nodes``) take
the names, arguments and result shapes of the reference MCP memory server
(``@modelcontextprotocol/server-memory``). In mnemos the graph lives in the
caller's memory, under the namespace ``kg``:

- an **entity** is a semantic memory in ``kg/entities`` whose text is
  ``"<name> (<entityType>)"`` and whose metadata holds ``name`` and
  ``entityType``;
- an **observation** is a semantic memory in ``kg/observations`` whose text
  is the observation and whose metadata names its ``entity``, so observations
  are found by ``memory_search`` like any other memory;
- a **relation** is a semantic memory in ``kg/relations`` (``"<from>
  <relationType> <to>"``, with ``from``, ``to`` and ``relationType`` in its
  metadata) and, on stores with an entity graph (native SQLite, PostgreSQL),
  also an edge of that graph tied to the memory: deleting the memory removes
  the edge, and :meth:`related` / graph hops in search see it.

The graph is read back in creation order (memory ids sort by creation), so
a session of calls gives the same graph as the reference server. Everything
goes through the adapter it is given: the MCP server gives each principal's
scoped view, so one principal never sees another's graph.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from mnemos.exceptions import UsageError
from mnemos.memory_adapters.base import BaseMemoryAdapter, Capability, MemoryRecord

__all__ = [
    "KG_NAMESPACE",
    "AddedObservationsOut",
    "EntitiesOut",
    "EntityIn",
    "GraphOut",
    "KnowledgeGraph",
    "ObservationDeletionIn",
    "ObservationsIn",
    "ObservationsOut",
    "RelationIn",
    "RelationsOut",
    "StatusOut",
]

KG_NAMESPACE = ("kg",)
"""Where the knowledge graph lives in a principal's memory."""
_ENTITIES = (*KG_NAMESPACE, "entities")
_OBSERVATIONS = (*KG_NAMESPACE, "observations")
_RELATIONS = (*KG_NAMESPACE, "relations")
_MAX_TEXT = 10_000

_Name = Annotated[str, Field(min_length=1, max_length=500, description="The name of the entity")]
_Text = Annotated[str, Field(min_length=1, max_length=_MAX_TEXT)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EntityIn(_Model):
    """An entity: a name, a type and what is observed about it."""

    name: _Name
    entityType: Annotated[str, Field(min_length=1, max_length=500, description="The type of the entity")]
    observations: Annotated[
        list[_Text], Field(description="An array of observation contents associated with the entity")
    ]


class RelationIn(_Model):
    """A directed relation between two entities, in active voice."""

    from_: Annotated[_Name, Field(alias="from", description="The name of the entity where the relation starts")]
    to: Annotated[_Name, Field(description="The name of the entity where the relation ends")]
    relationType: Annotated[str, Field(min_length=1, max_length=500, description="The type of the relation")]

    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True)

    def key(self) -> tuple[str, str, str]:
        return (self.from_, self.to, self.relationType)


class ObservationsIn(_Model):
    """Observations to add to one entity."""

    entityName: Annotated[str, Field(min_length=1, description="The name of the entity to add the observations to")]
    contents: Annotated[list[_Text], Field(description="An array of observation contents to add")]


class ObservationDeletionIn(_Model):
    """Observations to delete from one entity."""

    entityName: Annotated[str, Field(min_length=1, description="The name of the entity containing the observations")]
    observations: Annotated[list[str], Field(description="An array of observations to delete")]


class AddedObservationsOut(_Model):
    """What ``add_observations`` added to one entity."""

    entityName: str
    addedObservations: list[str]


class EntitiesOut(_Model):
    """Entities created (those whose names were new)."""

    entities: list[EntityIn]


class RelationsOut(_Model):
    """Relations created (those that were new)."""

    relations: list[RelationIn]


class ObservationsOut(_Model):
    """Observations added, per entity."""

    results: list[AddedObservationsOut]


class StatusOut(_Model):
    """The result of a delete."""

    success: bool
    message: str


class GraphOut(_Model):
    """A knowledge graph or a part of it."""

    entities: list[EntityIn]
    relations: list[RelationIn]


@dataclass
class _Entity:
    record: MemoryRecord
    name: str
    entity_type: str
    observations: list[MemoryRecord] = field(default_factory=list)

    def out(self) -> EntityIn:
        return EntityIn(name=self.name, entityType=self.entity_type,
                        observations=[o.content for o in self.observations])


@dataclass
class _Loaded:
    entities: dict[str, _Entity]
    relations: list[tuple[RelationIn, MemoryRecord]]
    orphans: list[MemoryRecord]
    """Observations whose entity is gone (not shown; removed with the next write to that name)."""

    def graph(self, names: Iterable[str] | None = None) -> GraphOut:
        chosen = list(self.entities.values()) if names is None else [
            e for e in self.entities.values() if e.name in set(names)
        ]
        keep = {e.name for e in chosen}
        rels = [r for r, _ in self.relations if names is None or r.from_ in keep or r.to in keep]
        return GraphOut(entities=[e.out() for e in chosen], relations=rels)


_LOCK = threading.Lock()  # read-modify-write of one process; each write is one store transaction


class KnowledgeGraph:
    """The knowledge graph in ``adapter`` (a principal's view of the store)."""

    def __init__(self, adapter: BaseMemoryAdapter, *, agent: str | None = None) -> None:
        self.adapter = adapter
        self.agent = agent

    # -- reading ---------------------------------------------------------------------------

    def _load(self) -> _Loaded:
        records = sorted(self.adapter.list(namespace=KG_NAMESPACE, limit=None), key=lambda r: r.id)
        entities: dict[str, _Entity] = {}
        relations: list[tuple[RelationIn, MemoryRecord]] = []
        observations: list[MemoryRecord] = []
        for rec in records:
            meta = rec.metadata
            what = meta.get("kg")
            if what == "entity" and rec.namespace == _ENTITIES and isinstance(meta.get("name"), str):
                entities.setdefault(meta["name"], _Entity(rec, meta["name"], str(meta.get("entityType", ""))))
            elif what == "observation" and rec.namespace == _OBSERVATIONS:
                observations.append(rec)
            elif what == "relation" and rec.namespace == _RELATIONS:
                try:
                    rel = RelationIn.model_validate(
                        {"from": meta.get("from"), "to": meta.get("to"), "relationType": meta.get("relationType")}
                    )
                except ValueError:
                    continue
                relations.append((rel, rec))
        orphans = []
        for rec in observations:
            owner = entities.get(str(rec.metadata.get("entity")))
            # an observation older than its entity belonged to an earlier entity of that name
            if owner is None or rec.id < owner.record.id:
                orphans.append(rec)
            else:
                owner.observations.append(rec)
        return _Loaded(entities, relations, orphans)

    def read_graph(self) -> GraphOut:
        """The whole graph."""
        return self._load().graph()

    def search_nodes(self, query: str) -> GraphOut:
        """Entities whose name, type or an observation contains ``query`` (any case), and the
        relations touching them."""
        loaded = self._load()
        q = query.lower()
        names = [
            e.name for e in loaded.entities.values()
            if q in e.name.lower() or q in e.entity_type.lower()
            or any(q in o.content.lower() for o in e.observations)
        ]
        return loaded.graph(names)

    def open_nodes(self, names: Sequence[str]) -> GraphOut:
        """The named entities and the relations touching them."""
        return self._load().graph(names)

    # -- writing ---------------------------------------------------------------------------

    def _item(self, content: str, namespace: tuple[str, ...], metadata: dict[str, Any]) -> dict[str, Any]:
        return {"content": content, "namespace": namespace, "kind": "semantic", "metadata": metadata,
                "provenance": {"source": "mcp:kg", "agent": self.agent}}

    def create_entities(self, entities: Sequence[EntityIn]) -> EntitiesOut:
        """Create the entities whose names are new; return them."""
        with _LOCK:
            loaded = self._load()
            created: list[EntityIn] = []
            items: list[dict[str, Any]] = []
            for entity in entities:
                if entity.name in loaded.entities or any(c.name == entity.name for c in created):
                    continue
                observations = list(dict.fromkeys(entity.observations))
                created.append(EntityIn(name=entity.name, entityType=entity.entityType, observations=observations))
                items.append(self._item(f"{entity.name} ({entity.entityType})", _ENTITIES,
                                        {"kg": "entity", "name": entity.name, "entityType": entity.entityType}))
                items += [self._item(o, _OBSERVATIONS, {"kg": "observation", "entity": entity.name})
                          for o in observations]
            self._forget(loaded.orphans, {c.name for c in created})
            self.adapter.add_many(items, dedup=False)
        return EntitiesOut(entities=created)

    def create_relations(self, relations: Sequence[RelationIn]) -> RelationsOut:
        """Create the relations that are new; return them."""
        with _LOCK:
            loaded = self._load()
            seen = {r.key() for r, _ in loaded.relations}
            created: list[RelationIn] = []
            for rel in relations:
                if rel.key() not in seen:
                    seen.add(rel.key())
                    created.append(rel)
            stored = self.adapter.add_many(
                [self._item(f"{r.from_} {r.relationType} {r.to}", _RELATIONS,
                            {"kg": "relation", "from": r.from_, "to": r.to, "relationType": r.relationType})
                 for r in created],
                dedup=False,
            )
            add_edge = getattr(self.adapter, "add_relation", None)
            if self.adapter.supports(Capability.GRAPH) and add_edge is not None:
                for rel, rec in zip(created, stored, strict=True):
                    add_edge(rel.from_, rel.relationType, rel.to, namespace=_RELATIONS, memory_id=rec.id)
        return RelationsOut(relations=created)

    def add_observations(self, observations: Sequence[ObservationsIn]) -> ObservationsOut:
        """Add the new observations to existing entities; an unknown entity adds nothing at all."""
        with _LOCK:
            loaded = self._load()
            missing = [o.entityName for o in observations if o.entityName not in loaded.entities]
            if missing:
                raise UsageError(f"Entity with name {missing[0]} not found")
            results: list[AddedObservationsOut] = []
            items: list[dict[str, Any]] = []
            have = {name: {o.content for o in e.observations} for name, e in loaded.entities.items()}
            for obs in observations:
                added = [c for c in dict.fromkeys(obs.contents) if c not in have[obs.entityName]]
                have[obs.entityName].update(added)
                results.append(AddedObservationsOut(entityName=obs.entityName, addedObservations=added))
                items += [self._item(c, _OBSERVATIONS, {"kg": "observation", "entity": obs.entityName})
                          for c in added]
            self.adapter.add_many(items, dedup=False)
        return ObservationsOut(results=results)

    def delete_entities(self, names: Sequence[str]) -> StatusOut:
        """Delete the named entities, their observations and every relation touching them."""
        with _LOCK:
            loaded = self._load()
            doomed = set(names)
            records = [r for e in loaded.entities.values() if e.name in doomed for r in (e.record, *e.observations)]
            records += [rec for rel, rec in loaded.relations if rel.from_ in doomed or rel.to in doomed]
            self._forget(records + loaded.orphans, None)
        return StatusOut(success=True, message="Entities deleted successfully")

    def delete_observations(self, deletions: Sequence[ObservationDeletionIn]) -> StatusOut:
        """Delete the given observations from their entities (unknown entities are skipped)."""
        with _LOCK:
            loaded = self._load()
            records = []
            for d in deletions:
                entity = loaded.entities.get(d.entityName)
                if entity is not None:
                    gone = set(d.observations)
                    records += [o for o in entity.observations if o.content in gone]
            self._forget(records, None)
        return StatusOut(success=True, message="Observations deleted successfully")

    def delete_relations(self, relations: Sequence[RelationIn]) -> StatusOut:
        """Delete the given relations (the graph edges go with their memories)."""
        with _LOCK:
            loaded = self._load()
            doomed = {r.key() for r in relations}
            self._forget([rec for rel, rec in loaded.relations if rel.key() in doomed], None)
        return StatusOut(success=True, message="Relations deleted successfully")

    def _forget(self, records: Sequence[MemoryRecord], names: set[str] | None) -> None:
        """Delete ``records`` (orphan observations only of ``names`` when given)."""
        for rec in records:
            if names is not None and rec.metadata.get("entity") not in names:
                continue
            self.adapter.delete(rec.id)
