"""The Letta backend of the MemGPT adapter: core blocks and archival passages on a Letta server.

What goes where, and why:

* **core memory blocks** (procedural records with ``metadata["memgpt"] == "core"``)
  are Letta blocks (``client.blocks.create/retrieve/update/delete``). A block is
  attached to the Letta agent when the agent has no block of that label yet
  (Letta's labels are unique per agent). Reads take the block's value from
  Letta, so edits made by the Letta agent itself are seen.
* **archival memory** (semantic records) is the agent's archival passages
  (``client.agents.passages.create/search/delete``); a text search over
  semantic memory only is Letta's server-side vector search. Letta cannot
  edit a passage: a content edit replaces it (a new Letta id, the same mnemos id).
* **recall memory** (episodic records) stays in a local native store. Letta
  1.12's API cannot store a message without running the agent:
  ``agents.messages.create`` / ``create_async`` / ``stream`` and
  ``conversations.messages.create`` all send the message to the server's
  model; ``/v1/messages`` only retrieves, lists and searches; messages cannot
  be edited or deleted; ``initial_message_sequence`` exists only when an agent
  is created and ``agents.import_file`` makes a new agent.

A local *ledger* (a native SQLite store) keeps every record's mnemos fields
(namespace, metadata, importance, versions, validity, expiry), because Letta
passages carry no metadata and cannot be fetched by id; a small table beside
it maps mnemos ids to Letta ids. Namespace, metadata, time and expiry
conditions on Letta search results are applied on this side.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from mnemos.config import mnemos_home
from mnemos.exceptions import ConfigurationError, MnemosRuntimeError
from mnemos.memory_adapters._namespace import Namespace, is_prefix
from mnemos.memory_adapters.base import (
    BaseMemoryAdapter,
    Capability,
    MemoryKind,
    MemoryRecord,
    ScoredMemory,
    ScoreReason,
    SearchQuery,
    utcnow,
)

__all__ = ["LettaBackend", "LettaError"]

_EMPTY_BLOCK = "(empty block)"  # what memgpt.py stores for an empty block (content cannot be blank)
_DEFAULT_LIMIT = 2000


class LettaError(MnemosRuntimeError):
    """The Letta server refused or failed a request."""


def _is_block(record: MemoryRecord) -> bool:
    return record.kind is MemoryKind.PROCEDURAL and record.metadata.get("memgpt") == "core"


def _is_passage(record: MemoryRecord) -> bool:
    return record.kind is MemoryKind.SEMANTIC


def _block_value(record: MemoryRecord) -> str:
    return "" if record.metadata.get("empty") else record.content


class _Refs:
    """mnemos id -> (``block`` | ``passage``, Letta id) and the record's namespace,
    in a SQLite file beside the ledger."""

    def __init__(self, path: Path | str) -> None:
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS letta_refs (mnemos_id TEXT PRIMARY KEY, "
            "type TEXT NOT NULL, letta_id TEXT NOT NULL UNIQUE, namespace TEXT NOT NULL)"
        )

    def get(self, mnemos_id: str) -> tuple[str, str] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT type, letta_id FROM letta_refs WHERE mnemos_id = ?", (mnemos_id,)
            ).fetchone()
        return (row[0], row[1]) if row else None

    def mnemos_ids(self, letta_ids: Sequence[str]) -> dict[str, str]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT letta_id, mnemos_id FROM letta_refs WHERE letta_id IN ({','.join('?' * len(letta_ids))})",
                list(letta_ids),
            ).fetchall()
        return dict(rows)

    def under(self, prefix: Namespace) -> list[tuple[str, str, str]]:
        """``(mnemos id, type, Letta id)`` of the records under a namespace prefix."""
        with self._lock:
            rows = self._conn.execute("SELECT mnemos_id, type, letta_id, namespace FROM letta_refs").fetchall()
        return [(m, t, lid) for m, t, lid, ns in rows if is_prefix(prefix, tuple(json.loads(ns)))]

    def put(self, record: MemoryRecord, kind: str, letta_id: str) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO letta_refs VALUES (?, ?, ?, ?)",
                (record.id, kind, letta_id, json.dumps(list(record.namespace))),
            )

    def drop(self, mnemos_id: str) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM letta_refs WHERE mnemos_id = ?", (mnemos_id,))

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class LettaBackend(BaseMemoryAdapter):
    """Storage for :class:`~mnemos.memory_adapters.memgpt.MemGPTMemoryAdapter` on a Letta server.

    Args:
        client: a ``letta_client.Letta`` client.
        agent: the Letta agent's id (``agent-...``) or name; a name that no
            agent has is created (with ``agent_options``) unless ``create_agent`` is false.
        ledger: the local SQLite file for recall memory and record fields;
            default ``$MNEMOS_HOME/letta/<agent id>.db``.
        embedder: the ledger's embedder (recall search and mixed-kind search).
    """

    name: ClassVar[str] = "memgpt+letta"

    def __init__(
        self,
        client: Any,
        agent: str,
        *,
        ledger: str | Path | None = None,
        embedder: object = None,
        clock: Callable[[], datetime] = utcnow,
        create_agent: bool = True,
        agent_options: Mapping[str, Any] | None = None,
        owns_client: bool = False,
    ) -> None:
        super().__init__(clock=clock)
        from mnemos.memory_adapters.native import NativeMemoryAdapter

        self.client = client
        self._owns_client = owns_client
        self.agent_id = self._resolve_agent(agent, create=create_agent, options=agent_options or {})
        path = Path(ledger) if ledger is not None else mnemos_home() / "letta" / f"{self.agent_id}.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.ledger = NativeMemoryAdapter(path, embedder=embedder, clock=clock)
        self._refs = _Refs(path.with_name(path.name + ".letta-refs"))
        self.capabilities = self.ledger.capabilities - {Capability.GRAPH}  # type: ignore[misc]

    # -- Letta calls --------------------------------------------------------------------

    @contextmanager
    def _letta(self, what: str) -> Iterator[None]:
        import letta_client

        try:
            yield
        except letta_client.APIStatusError as exc:
            raise LettaError(f"Letta refused to {what}: HTTP {exc.status_code} {exc.message}") from exc
        except letta_client.APIConnectionError as exc:
            raise LettaError(f"cannot reach the Letta server to {what}: {exc}") from exc

    def _resolve_agent(self, agent: str, *, create: bool, options: Mapping[str, Any]) -> str:
        import letta_client

        if not agent:
            raise ConfigurationError("the Letta backend needs an agent id or name")
        if agent.startswith("agent-"):
            try:
                with self._letta(f"read agent {agent}"):
                    return str(self.client.agents.retrieve(agent).id)
            except LettaError as exc:
                if isinstance(exc.__cause__, letta_client.NotFoundError):
                    raise ConfigurationError(f"the Letta server has no agent {agent!r}") from None
                raise
        with self._letta("list agents"):
            found = next(iter(self.client.agents.list(name=agent, limit=1)), None)
        if found is not None:
            return str(found.id)
        if not create:
            raise ConfigurationError(f"the Letta server has no agent named {agent!r}")
        with self._letta("create an agent"):
            return str(self.client.agents.create(name=agent, memory_blocks=[], **options).id)

    def _create_remote(self, record: MemoryRecord) -> tuple[str, str] | None:
        if _is_block(record):
            value = _block_value(record)
            limit = max(int(record.metadata.get("limit", _DEFAULT_LIMIT)), len(value))
            with self._letta("create a block"):
                block = self.client.blocks.create(
                    label=str(record.metadata["label"]), value=value, limit=limit,
                    metadata={"mnemos_id": record.id, "namespace": "/".join(record.namespace)},
                )
            try:
                with self._letta("attach a block"):
                    attached = {b.label for b in self.client.agents.blocks.list(self.agent_id)}
                    if block.label not in attached:
                        self.client.agents.blocks.attach(block.id, agent_id=self.agent_id)
            except BaseException:
                self._delete_remote("block", str(block.id))
                raise
            return "block", str(block.id)
        if _is_passage(record):
            with self._letta("insert an archival passage"):
                created = self.client.agents.passages.create(
                    self.agent_id, text=record.content, created_at=record.created_at,
                    tags=["mnemos", "ns:" + "/".join(record.namespace)],
                )
            return "passage", str(created[0].id)
        return None

    def _delete_remote(self, kind: str, letta_id: str) -> None:
        import letta_client

        try:
            with self._letta(f"delete {kind} {letta_id}"):
                if kind == "block":
                    self.client.blocks.delete(letta_id)
                else:
                    self.client.agents.passages.delete(letta_id, agent_id=self.agent_id)
        except LettaError as exc:
            if not isinstance(exc.__cause__, letta_client.NotFoundError):
                raise

    def _store(self, records: Sequence[MemoryRecord], write: Callable[[], list[MemoryRecord] | None]) -> list[MemoryRecord] | None:
        """Create the Letta objects, then ``write`` the ledger; undo the Letta side if that fails."""
        created: dict[str, tuple[str, str]] = {}
        try:
            for record in records:
                ref = self._create_remote(record)
                if ref is not None:
                    created[record.id] = ref
            stored = write()
        except BaseException:
            for kind, letta_id in created.values():
                self._delete_remote(kind, letta_id)
            raise
        kept = {r.id for r in stored} if stored is not None else set(created)
        by_id = {r.id: r for r in records}
        for mnemos_id, (kind, letta_id) in created.items():
            if mnemos_id not in kept:  # a dedup hit: the ledger kept the earlier record
                self._delete_remote(kind, letta_id)
                continue
            old = self._refs.get(mnemos_id)
            self._refs.put(by_id[mnemos_id], kind, letta_id)
            if old is not None:  # an import replaced a record
                self._delete_remote(*old)
        return stored

    # -- the contract ---------------------------------------------------------------------

    def _add(self, records: Sequence[MemoryRecord], *, dedup: bool) -> list[MemoryRecord]:
        stored = self._store(records, lambda: self.ledger._add(records, dedup=dedup))
        assert stored is not None
        return stored

    def _import_records(self, records: Sequence[MemoryRecord], **kwargs: Any) -> None:
        self._store(records, lambda: self.ledger._import_records(records, **kwargs))

    def _get(self, ids: Sequence[str]) -> list[MemoryRecord | None]:
        return [self._from_letta(r) if r is not None else None for r in self.ledger._get(ids)]

    def _update(self, record: MemoryRecord) -> MemoryRecord:
        ref = self._refs.get(record.id)
        if ref is not None and ref[0] == "block":
            value = _block_value(record)
            limit = max(int(record.metadata.get("limit", _DEFAULT_LIMIT)), len(value))
            with self._letta("update a block"):
                self.client.blocks.update(ref[1], value=value, limit=limit)
        elif ref is not None:
            (current,) = self.ledger._get([record.id])
            if current is None or current.content != record.content:
                return self._replace_passage(record, ref[1])
        return self.ledger._update(record)

    def _replace_passage(self, record: MemoryRecord, old_id: str) -> MemoryRecord:
        created = self._create_remote(record)
        assert created is not None
        try:
            stored = self.ledger._update(record)
        except BaseException:
            self._delete_remote(*created)
            raise
        self._refs.put(record, *created)
        self._delete_remote("passage", old_id)
        return stored

    def _delete(self, ids: Sequence[str]) -> int:
        for mnemos_id in ids:
            ref = self._refs.get(mnemos_id)
            if ref is not None:
                self._delete_remote(*ref)
                self._refs.drop(mnemos_id)
        return self.ledger._delete(ids)

    def _search(self, query: SearchQuery) -> list[ScoredMemory]:
        if query.text is not None and query.kinds == frozenset({MemoryKind.SEMANTIC}):
            return self._archival_search(query)
        return [replace(hit, record=self._from_letta(hit.record)) for hit in self.ledger._search(query)]

    def _archival_search(self, query: SearchQuery) -> list[ScoredMemory]:
        """Letta's server-side vector search, with the other conditions applied here."""
        wanted = query.offset + (query.limit or 10)
        top_k = wanted * 3 + 10
        while True:
            with self._letta("search archival memory"):
                results = self.client.agents.passages.search(self.agent_id, query=query.text, top_k=top_k).results
            by_letta = self._refs.mnemos_ids([r.id for r in results])
            ids = [by_letta[r.id] for r in results if r.id in by_letta]
            records = [r for r in self.ledger._get(ids) if r is not None and query.accepts(r)]
            if len(records) >= wanted or len(results) < top_k or top_k >= 10_000:
                break
            top_k *= 4
        hits = []
        for rank, record in enumerate(records[query.offset : wanted], start=query.offset + 1):
            score = 1.0 / rank
            reason = ScoreReason(signal="vector", value=float(rank), contribution=score,
                                 detail=f"Letta archival search, rank {rank}")
            hits.append(ScoredMemory(record=record, score=score, reasons=(reason,)))
        return hits

    def _from_letta(self, record: MemoryRecord) -> MemoryRecord:
        """A core block record with the value Letta holds now (the Letta agent may have edited it)."""
        if not _is_block(record):
            return record
        ref = self._refs.get(record.id)
        if ref is None:
            return record
        import letta_client

        try:
            with self._letta("read a block"):
                value = self.client.blocks.retrieve(ref[1]).value
        except LettaError as exc:
            if isinstance(exc.__cause__, letta_client.NotFoundError):
                return record
            raise
        if value == _block_value(record):
            return record
        content = value.strip() or _EMPTY_BLOCK
        return replace(record, content=content, metadata={**record.metadata, "empty": not value.strip()})

    def _history(self, memory_id: str) -> list[MemoryRecord]:
        return self.ledger._history(memory_id)

    def _owners(self, ids: Sequence[str]) -> dict[str, Namespace]:
        return self.ledger._owners(ids)

    def _purge(self, now: datetime, namespace_prefix: Namespace) -> int:
        purged = self.ledger._purge(now, namespace_prefix)
        refs = self._refs.under(namespace_prefix)
        # refs are written after the ledger, so one without a ledger record was purged
        for (mnemos_id, kind, letta_id), record in zip(refs, self.ledger._get([r[0] for r in refs]), strict=True):
            if record is None:
                self._delete_remote(kind, letta_id)
                self._refs.drop(mnemos_id)
        return purged

    def _namespaces(self, prefix: Namespace) -> list[Namespace]:
        return self.ledger._namespaces(prefix)

    def _count(self, prefix: Namespace) -> int:
        return self.ledger._count(prefix)

    def _exclusive(self) -> AbstractContextManager[object]:
        return self.ledger._exclusive()

    def _close(self) -> None:
        self.ledger.close()
        self._refs.close()
        if self._owns_client:
            self.client.close()

