"""The mem0 adapter: mem0's open-source ``Memory`` over embedded Qdrant on disk.

mem0 runs in-process with no server and no network: Qdrant in embedded mode
keeps its files under the adapter's directory, mem0's history database sits
beside it, and both the embedder and the chat model are mnemos's own (mem0's
OpenAI defaults are replaced before any call). Telemetry is off and
``MEM0_DIR`` points under ``$MNEMOS_HOME`` unless you set them yourself.

Mapping
    A mnemos namespace becomes mem0's session ids where it names them
    (``users/<id>`` → ``user_id``, ``agents/<id>`` → ``agent_id``,
    ``runs/<id>`` or ``threads/<id>`` → ``run_id``; ``user_id`` defaults to
    ``"mnemos"``), and every part is also stored in the payload so that
    prefix search and scope isolation are exact. The other record fields
    (kind, importance, validity, provenance, metadata) ride in mem0's
    metadata under ``mnemos_*`` keys.

Raw and inferred memory
    :meth:`~BaseMemoryAdapter.add` stores text as it is (mem0 ``infer=False``).
    :meth:`Mem0MemoryAdapter.extract` lets mem0 extract facts from a
    conversation with the configured model (``infer=True``). mem0's
    extraction only ever adds; mnemos then asks the same model which older
    facts the new ones contradict and marks those superseded, so a changed
    fact never sits beside its replacement unmarked.

Search is mem0's: dense similarity (plus BM25 and entity boosts when mem0's
optional NLP packages are installed), with the score broken down in the
result's reasons.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import ValidationError

from mnemos.config import mnemos_home
from mnemos.exceptions import (
    ConfigurationError,
    EmbedderMismatchError,
    InvalidRecordError,
    StorageError,
    UsageError,
)
from mnemos.memory_adapters import _mem0
from mnemos.memory_adapters._namespace import Namespace
from mnemos.memory_adapters._url import embedded_path, query_params
from mnemos.memory_adapters.base import (
    BaseMemoryAdapter,
    Capability,
    MemoryKind,
    MemoryRecord,
    NewMemory,
    ScoredMemory,
    ScoreReason,
    SearchQuery,
    utcnow,
)
from mnemos.memory_adapters.embedders.base import Embedder

__all__ = ["Mem0MemoryAdapter"]

_STATE_FILE = "mnemos-mem0.json"
_SUPERSEDE_PROMPT = """You maintain a store of facts. New facts were just learned.
Decide which EXISTING facts are contradicted (made no longer true) by a NEW fact.
A fact that only adds detail is not contradicted.

NEW facts:
{new}

EXISTING facts:
{existing}

Answer with JSON only: {{"superseded": [{{"old": "<existing id>", "new": "<new id>"}}]}}
and an empty list when nothing is contradicted."""


class _Shared:
    """One mem0 ``Memory`` per directory: embedded Qdrant allows a single client."""

    lock = threading.Lock()
    open: ClassVar[dict[tuple[str, str], tuple[Any, threading.RLock, int]]] = {}
    """(directory, collection) -> (mem0 Memory, the lock serializing its calls, users)."""


class Mem0MemoryAdapter(BaseMemoryAdapter):
    """Memory kept by mem0 (open-source ``Memory``, embedded Qdrant, no server).

    Args:
        path: directory for Qdrant's files and mem0's history database
            (created); ``":memory:"`` keeps everything in memory. Default:
            ``$MNEMOS_HOME/mem0/store``.
        scope: namespace prefix this adapter is confined to.
        embedder: anything :func:`~mnemos.memory_adapters.embedders.get_embedder`
            accepts; ``None`` reopens the embedder the directory recorded (or
            the configured default). A different one raises
            :class:`EmbedderMismatchError`.
        llm: a LangChain chat model for :meth:`extract` (fact extraction and
            supersession); not needed for raw storage.
        collection: the Qdrant collection name.
        threshold: mem0's minimum similarity for a search hit (0..1).
        default_user: mem0 ``user_id`` for namespaces that name no user.
    """

    name: ClassVar[str] = "mem0"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.VECTOR_SEARCH,
            Capability.METADATA_FILTER,
            Capability.TIME_FILTER,
            Capability.UPDATE,
            Capability.HISTORY,
            Capability.DELETE,
            Capability.TTL,
            Capability.DEDUP,
            Capability.SUPERSEDE,
            Capability.EXPORT,
        }
    )

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        scope: Sequence[str] = (),
        embedder: object = None,
        llm: Any = None,
        collection: str = "mnemos",
        threshold: float = 0.1,
        default_user: str = "mnemos",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(scope=scope, clock=clock)
        if not 0.0 <= threshold <= 1.0:
            raise UsageError(f"threshold is between 0 and 1, got {threshold!r}")
        self._in_memory = str(path) == ":memory:"
        self.path = None if self._in_memory else Path(path or mnemos_home() / "mem0" / "store")
        self.embedder = self._open_embedder(embedder)
        self.llm = llm
        self.threshold = float(threshold)
        self.default_user = default_user
        self._key = (str(self.path.resolve()) if self.path else f":memory:{id(self)}", collection)
        _mem0.import_mem0()
        self._memory, self._lock = self._acquire(collection)
        self._memory.embedding_model = _mem0.make_embedding_bridge(self.embedder)
        self._memory.llm = _mem0.make_llm_bridge(llm)

    # -- construction -----------------------------------------------------------------

    @classmethod
    def from_url(
        cls, url: str, *, scope: Sequence[str] = (), embedder: object = None
    ) -> Mem0MemoryAdapter:
        """Open ``mem0:///path/to/dir`` (``mem0://`` alone uses the default directory).

        Query parameters: ``collection``, ``threshold``, ``user``.
        """
        path = embedded_path(url, "mem0")
        params = query_params(url)
        unknown = set(params) - {"collection", "threshold", "user"}
        if unknown:
            raise ConfigurationError(f"unknown mem0 URL parameter(s): {sorted(unknown)}")
        try:
            threshold = float(params.get("threshold", 0.1))
        except ValueError:
            raise ConfigurationError(f"threshold is a number in {url!r}") from None
        return cls(
            path,
            scope=scope,
            embedder=embedder,
            collection=params.get("collection", "mnemos"),
            threshold=threshold,
            default_user=params.get("user", "mnemos"),
        )

    def _open_embedder(self, spec: object) -> Embedder:
        """The embedder to use; a directory remembers its own and refuses another."""
        from mnemos.memory_adapters.embedders import get_embedder

        if self.path is None:
            return get_embedder(spec)
        state = self.path / _STATE_FILE
        stored = json.loads(state.read_text(encoding="utf-8")).get("embedder") if state.exists() else None
        chosen = get_embedder(stored if spec is None and stored else spec)
        if stored is not None and stored != chosen.name:
            raise EmbedderMismatchError(stored, chosen.name)
        if stored is None:
            self.path.mkdir(parents=True, exist_ok=True)
            state.write_text(json.dumps({"embedder": chosen.name, "dims": chosen.dims}), encoding="utf-8")
        return chosen

    def _acquire(self, collection: str) -> tuple[Any, threading.RLock]:
        with _Shared.lock:
            if self._key in _Shared.open:
                memory, lock, count = _Shared.open[self._key]
                _Shared.open[self._key] = (memory, lock, count + 1)
                return memory, lock
            from mem0 import Memory

            unused = "not-used-mnemos-replaces-this-client"
            store: dict[str, Any] = {
                "collection_name": collection,
                "embedding_model_dims": self.embedder.dims,
            }
            if self.path is None:
                store["path"] = ":memory:"
                history = ":memory:"
            else:
                store.update(path=str(self.path / "qdrant"), on_disk=True)
                history = str(self.path / "history.db")
            try:
                memory = Memory.from_config(
                    {
                        "vector_store": {"provider": "qdrant", "config": store},
                        "llm": {"provider": "openai", "config": {"api_key": unused, "model": "unused"}},
                        "embedder": {
                            "provider": "openai",
                            "config": {"api_key": unused, "embedding_dims": self.embedder.dims},
                        },
                        "history_db_path": history,
                    }
                )
            except RuntimeError as exc:  # Qdrant: folder used by another process
                raise StorageError(f"cannot open the mem0 store at {self.path}: {exc}") from None
            lock = threading.RLock()  # embedded Qdrant is not safe for concurrent calls
            _Shared.open[self._key] = (memory, lock, 1)
            return memory, lock

    def _close(self) -> None:
        with _Shared.lock:
            entry = _Shared.open.get(self._key)
            if entry is None:
                return
            memory, lock, count = entry
            if count > 1:
                _Shared.open[self._key] = (memory, lock, count - 1)
                return
            del _Shared.open[self._key]
        memory.close()
        memory.vector_store.client.close()  # releases embedded Qdrant's folder lock

    @property
    def mem0(self) -> Any:
        """The underlying ``mem0.Memory`` (shared by every adapter on this directory)."""
        return self._memory

    # -- the contract ---------------------------------------------------------------------

    def _exclusive(self) -> AbstractContextManager[object]:
        # every adapter on this directory shares the lock: update and supersede are atomic
        return self._lock

    def _add(self, records: Sequence[MemoryRecord], *, dedup: bool) -> list[MemoryRecord]:
        with self._lock:
            stored: list[MemoryRecord] = []
            created: list[str] = []
            bridge = self._memory.embedding_model
            try:
                bridge.prime([r.content for r in records])  # one batch instead of one call per record
                for record in records:
                    existing = self._find_duplicate(record) if dedup else None
                    if existing is not None:
                        stored.append(existing)
                        continue
                    new = self._insert(record)
                    created.append(new.id)
                    stored.append(new)
            except Exception as exc:
                for memory_id in created:  # all or none
                    self._memory.delete(memory_id)
                if isinstance(exc, UsageError):
                    raise
                raise StorageError(f"mem0 could not store the memories: {exc}") from exc
            finally:
                bridge.clear()
            return stored

    def _insert(self, record: MemoryRecord) -> MemoryRecord:
        ids = _mem0.session_ids(record.namespace, self.default_user)
        result = self._memory.add(
            [{"role": "user", "content": record.content}],
            infer=False,
            metadata=_mem0.record_payload(record),
            **ids,
        )
        items = result.get("results") or []
        if len(items) != 1:
            raise StorageError(f"mem0 stored {len(items)} memories for one record")
        return replace(record, id=str(items[0]["id"]))

    def _find_duplicate(self, record: MemoryRecord) -> MemoryRecord | None:
        flt = {
            "user_id": "*",
            _mem0.NS_KEY: "/".join(record.namespace),
            "hash": _mem0.content_hash(record.content),
            "mnemos_current": True,
        }
        now = self.now()
        for item in self._list_items(flt, limit=100):
            found = _mem0.record_from_item(item)
            if found is not None and found.content == record.content and not found.is_expired(now):
                return found
        return None

    def _get(self, ids: Sequence[str]) -> list[MemoryRecord | None]:
        with self._lock:
            return [self._get_one(memory_id) for memory_id in ids]

    def _get_item(self, memory_id: str) -> dict[str, Any] | None:
        try:
            item = self._memory.get(memory_id)
        except (ValueError, TypeError):  # not a UUID: Qdrant refuses the id
            return None
        return item if isinstance(item, dict) else None

    def _get_one(self, memory_id: str) -> MemoryRecord | None:
        item = self._get_item(memory_id)
        return _mem0.record_from_item(item) if item is not None else None

    def _update(self, record: MemoryRecord) -> MemoryRecord:
        with self._lock:
            item = self._get_item(record.id)
            current = _mem0.record_from_item(item) if item is not None else None
            if item is None or current is None:
                raise StorageError(f"memory {record.id!r} vanished from mem0 during an update")
            payload = _mem0.record_payload(record)
            payload["mnemos_history"] = _mem0.history_payload([*_mem0.history_records(item), current])
            self._memory.update(
                record.id,
                text=record.content if record.content != current.content else None,
                metadata=payload,
            )
            return record

    def _delete(self, ids: Sequence[str]) -> int:
        with self._lock:
            count = 0
            for memory_id in ids:
                if self._get_item(memory_id) is not None:
                    self._memory.delete(memory_id)
                    count += 1
            return count

    def _history(self, memory_id: str) -> list[MemoryRecord]:
        with self._lock:
            item = self._get_item(memory_id)
            return _mem0.history_records(item) if item is not None else []

    def _purge(self, now: datetime, namespace_prefix: Namespace) -> int:
        with self._lock:
            expired = [
                r.id
                for r in self._records(_mem0.namespace_filter(namespace_prefix))
                if r.is_expired(now)
            ]
            return self._delete(expired)

    def _search(self, query: SearchQuery) -> list[ScoredMemory]:
        with self._lock:
            flt = _mem0.namespace_filter(query.namespace_prefix)
            if query.kinds is not None:
                flt["mnemos_kind"] = sorted(k.value for k in query.kinds)
            if not query.include_superseded:
                flt["mnemos_current"] = True
            if query.text is None:
                listing = [r for r in self._records(flt) if query.accepts(r)]
                listing.sort(key=lambda r: (r.created_at, r.id), reverse=True)
                end = None if query.limit is None else query.offset + query.limit
                return [ScoredMemory(record=r, score=0.0) for r in listing[query.offset : end]]
            wanted = query.offset + (query.limit if query.limit is not None else 1_000_000)
            fetch = max(wanted, 10)
            while True:
                items = self._memory.search(
                    query.text, top_k=fetch, filters=dict(flt), threshold=self.threshold, explain=True
                )["results"]
                hits = [h for h in (self._hit(item) for item in items) if h and query.accepts(h.record)]
                if len(hits) >= wanted or len(items) < fetch:
                    break
                fetch *= 4  # post-filtering dropped some: look further down the ranking
            return hits[query.offset : wanted]

    def _hit(self, item: Mapping[str, Any]) -> ScoredMemory | None:
        record = _mem0.record_from_item(item)
        if record is None:
            return None
        details = item.get("score_details") or {}
        reasons = [
            ScoreReason(
                signal="vector",
                value=float(details.get("semantic_score", item.get("score") or 0.0)),
                contribution=float(details.get("semantic_score", 0.0))
                / float(details.get("max_possible_score", 1.0) or 1.0),
                detail="mem0 cosine similarity",
            )
        ]
        for key, signal in (("bm25_score", "keyword"), ("entity_boost", "entity")):
            if details.get(key):
                reasons.append(
                    ScoreReason(signal=signal, value=float(details[key]), detail=f"mem0 {key}")
                )
        return ScoredMemory(record=record, score=float(item.get("score") or 0.0), reasons=tuple(reasons))

    def _records(self, flt: Mapping[str, Any]) -> list[MemoryRecord]:
        records = (_mem0.record_from_item(item) for item in self._list_items(flt, limit=None))
        return [r for r in records if r is not None]

    def _list_items(self, flt: Mapping[str, Any], *, limit: int | None) -> list[dict[str, Any]]:
        top_k = limit or max(self._memory.vector_store.client.count(self._memory.collection_name).count, 1)
        result = self._memory.get_all(filters=dict(flt), top_k=top_k)
        return list(result.get("results") or [])

    # -- mem0's inference -----------------------------------------------------------------

    def extract(
        self,
        messages: str | Sequence[Mapping[str, str]],
        *,
        namespace: Sequence[str],
        metadata: Mapping[str, Any] | None = None,
        importance: float = 0.5,
    ) -> list[MemoryRecord]:
        """Let mem0 extract facts from ``messages`` with the configured model
        (``infer=True``) and store them as semantic memories in ``namespace``.

        Facts the new ones contradict are then marked superseded (``valid_to``
        set, ``superseded_by`` naming the new fact). Returns the new facts.
        """
        with self._lock:
            if self.llm is None:
                raise UsageError(
                    "extract() needs a chat model: open the mem0 adapter with llm=<chat model>"
                )
            try:
                record = NewMemory(
                    content="(extracted facts)",
                    namespace=tuple(namespace),
                    kind=MemoryKind.SEMANTIC,
                    metadata=dict(metadata or {}),
                    importance=importance,
                ).to_record(now=self.now(), scope=self._scope)
            except ValidationError as exc:
                raise InvalidRecordError(str(exc)) from None
            payload = _mem0.record_payload(record)
            msgs = [{"role": "user", "content": messages}] if isinstance(messages, str) else [
                dict(m) for m in messages
            ]
            result = self._memory.add(
                msgs, infer=True, metadata=payload, **_mem0.session_ids(record.namespace, self.default_user)
            )
            items = result.get("results") if isinstance(result, dict) else result
            new = [r for r in (self._get_one(str(i["id"])) for i in items or []) if r is not None]
            self._resolve_supersession(new)
            return [self._rel(r) for r in (self._get_one(r.id) or r for r in new)]

    def _resolve_supersession(self, new: Sequence[MemoryRecord]) -> None:
        if not new:
            return
        new_ids = {r.id for r in new}
        candidates: dict[str, MemoryRecord] = {}
        for record in new:
            query = SearchQuery(
                text=record.content,
                namespace_prefix=record.namespace,
                kinds=frozenset({MemoryKind.SEMANTIC}),
                limit=5,
                now=self.now(),
            )
            for hit in self._search(query):
                if hit.record.id not in new_ids and hit.record.namespace == record.namespace:
                    candidates[hit.record.id] = hit.record
        if not candidates:
            return
        new_keys = {f"n{i}": r for i, r in enumerate(new)}
        old_keys = {f"e{i}": r for i, r in enumerate(candidates.values())}
        prompt = _SUPERSEDE_PROMPT.format(
            new="\n".join(f"- {k}: {r.content}" for k, r in new_keys.items()),
            existing="\n".join(f"- {k}: {r.content}" for k, r in old_keys.items()),
        )
        answer = _mem0.invoke_text(self.llm, [{"role": "user", "content": prompt}])
        for old_key, new_key in _parse_superseded(answer):
            old, successor = old_keys.get(old_key), new_keys.get(new_key)
            if old is None or successor is None or old.superseded:
                continue
            now = self.now()
            superseded = replace(
                old, valid_to=now, superseded_by=successor.id, updated_at=now, version=old.version + 1
            )
            self._update(superseded)
            old_keys[old_key] = superseded


def _parse_superseded(answer: str) -> list[tuple[str, str]]:
    """Pairs ``(old, new)`` from the model's JSON answer; anything malformed is ignored."""
    text = answer.strip()
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        return []
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        return []
    pairs = data.get("superseded") if isinstance(data, dict) else None
    if not isinstance(pairs, list):
        return []
    return [
        (str(p["old"]), str(p["new"]))
        for p in pairs
        if isinstance(p, dict) and "old" in p and "new" in p
    ]
