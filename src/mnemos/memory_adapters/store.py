"""A LangGraph ``BaseStore`` over any mnemos memory adapter.

LangGraph keeps long-term memory in a *store* (``graph.compile(store=...)``,
``runtime.store``, ``get_store()``, ``create_agent(..., store=...)``). This
store keeps its items in a mnemos adapter, so what a LangGraph app remembers is
ordinary mnemos memory: searchable with mnemos's hybrid ranking, listed by
``mnemos memory``, exported, isolated by the adapter's scope::

    store = open_store("memory.db")          # or MnemosStore(open_memory(...))
    graph = builder.compile(checkpointer=..., store=store)

How items map to memories:

- an item ``(namespace, key)`` is one memory in ``namespace`` (relative to the
  adapter's scope), of kind ``kind`` (semantic by default);
- its metadata holds ``store_key`` (the key), ``value`` (the item's dict),
  ``store_index`` (the ``index`` given to ``put``) and ``store_ttl`` (minutes);
- its content is the text of the indexed fields (``index`` of ``put``, else
  the store's ``index["fields"]``, else every text of the value), so
  ``search(query=...)`` ranks items with the adapter's keyword, vector or
  hybrid search. An item put with ``index=False`` is never ranked; like
  ``InMemoryStore``, a search with a query fills its page with unranked items
  (``score`` None) after the ranked ones;
- where the adapter keeps the ids it is given (``PRESERVE_IDS``), the memory's
  id is derived from the scope, namespace and key, so every process finds the
  same record in one read; otherwise the record is looked up by ``store_key``.
  A ``put`` on an existing key updates the memory in place (its earlier
  versions stay in the adapter's history, where it keeps one); on an adapter
  that cannot update but can supersede (Zep), the new value supersedes the
  old one. Deleting needs the adapter's ``DELETE`` capability;
- ``ttl`` (minutes) becomes the memory's expiry where the adapter declares
  ``TTL``; reads refresh it unless ``refresh_ttl=False``.

Only memories written through a store (those with a ``store_key``) are items:
memories that agents write are not listed by the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    get_text_at_path,
    tokenize_path,
    validate_op_namespace,
)

from mnemos.exceptions import MemoryNotFoundError, UsageError
from mnemos.memory_adapters.base import BaseMemoryAdapter, Capability, MemoryKind, MemoryRecord
from mnemos.memory_adapters.registry import open_memory

__all__ = ["KEY_FIELD", "VALUE_FIELD", "MnemosStore", "open_store"]

KEY_FIELD = "store_key"
"""The metadata field holding an item's key."""
VALUE_FIELD = "value"
"""The metadata field holding an item's value."""
_INDEX_FIELD = "store_index"
_TTL_FIELD = "store_ttl"
_PAGE = 200
_MARKER: dict[str, Any] = {KEY_FIELD: {"$exists": True}}


class MnemosStore(BaseStore):
    """LangGraph's ``BaseStore`` over ``adapter`` (see the module docs for the mapping).

    Args:
        adapter: any mnemos memory adapter; the store sees what its scope allows.
        index: as for LangGraph's stores; only ``fields`` is used (the text
            to rank on). Embedding is the adapter's own, so ``embed`` and
            ``dims`` are ignored with a warning.
        ttl: LangGraph's ``TTLConfig`` (``default_ttl`` in minutes,
            ``refresh_on_read``); needs an adapter with the ``TTL`` capability.
        kind: the kind of memory items are stored as.
    """

    def __init__(
        self,
        adapter: BaseMemoryAdapter,
        *,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
        kind: MemoryKind | str = MemoryKind.SEMANTIC,
    ) -> None:
        if not isinstance(adapter, BaseMemoryAdapter):
            raise UsageError(f"MnemosStore needs a mnemos memory adapter, not {type(adapter).__name__}")
        self.adapter = adapter
        self.kind = MemoryKind(kind)
        self.supports_ttl = adapter.supports(Capability.TTL)
        if ttl and not self.supports_ttl:
            adapter.require(Capability.TTL)
        self.ttl_config = ttl
        self.index_config = dict(index) if index else None
        if index and ("embed" in index or "dims" in index):
            warnings.warn(
                f"MnemosStore ranks with the {adapter.name!r} adapter's own embedder; "
                "the index's 'embed' and 'dims' are ignored",
                stacklevel=2,
            )
        fields = list((index or {}).get("fields") or ["$"])
        self._fields: list[tuple[str, Any]] = [(f, f if f == "$" else tokenize_path(f)) for f in fields]

    # -- BaseStore ------------------------------------------------------------------------

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run the operations in order; reads see the writes made before them."""
        results: list[Result] = []
        for op in ops:
            validate_op_namespace(op)
            if isinstance(op, GetOp):
                results.append(self._get_item(op))
            elif isinstance(op, SearchOp):
                results.append(self._search(op))
            elif isinstance(op, ListNamespacesOp):
                results.append(self._list_namespaces(op))
            elif isinstance(op, PutOp):
                self._put(op)
                results.append(None)
            else:
                raise UsageError(f"unknown store operation {type(op).__name__}")
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """:meth:`batch` on a worker thread."""
        return await asyncio.to_thread(self.batch, list(ops))

    def sweep_ttl(self) -> int:
        """Remove expired memories under the adapter's scope for good; return how many."""
        return self.adapter.purge()

    async def asweep_ttl(self) -> int:
        return await asyncio.to_thread(self.sweep_ttl)

    def close(self) -> None:
        """Close the adapter."""
        self.adapter.close()

    def __repr__(self) -> str:
        return f"MnemosStore({self.adapter!r})"

    # -- get / put ------------------------------------------------------------------------

    def _get_item(self, op: GetOp) -> Item | None:
        record = self._find(op.namespace, op.key)
        if record is None:
            return None
        if op.refresh_ttl:
            record = self._refresh(record)
        return _item(record)

    def _put(self, op: PutOp) -> None:
        existing = self._find(op.namespace, op.key)
        if op.value is None:
            if existing is not None:
                with contextlib.suppress(MemoryNotFoundError):  # deleted meanwhile
                    self.adapter.delete(existing.id)
            return
        if not isinstance(op.value, Mapping):
            raise UsageError(f"a store value is a dict, not {type(op.value).__name__}")
        value = dict(op.value)
        index: list[str] | bool | None = None
        if op.index is False:
            index = False
        elif op.index is not None:
            index = list(op.index)
        metadata = {KEY_FIELD: op.key, VALUE_FIELD: value, _INDEX_FIELD: index, _TTL_FIELD: op.ttl}
        content = self._content(value, index)
        if op.ttl is not None:
            self.adapter.require(Capability.TTL)
        expires = self.adapter.now() + timedelta(minutes=op.ttl) if op.ttl is not None else None
        if existing is not None and self.adapter.supports(Capability.UPDATE):
            try:
                self.adapter.update(existing.id, content=content, metadata=metadata,
                                    expires_at=expires if self.supports_ttl else None)
                return
            except MemoryNotFoundError:  # deleted meanwhile: add it again below
                pass
        elif existing is not None and self.adapter.supports(Capability.SUPERSEDE) and expires is None:
            # no update in place (Zep): the new value supersedes the old, which stays as history
            self.adapter.supersede(existing.id, content, metadata=metadata)
            return
        elif existing is not None:
            self.adapter.delete(existing.id)
        item: dict[str, Any] = {
            "content": content,
            "namespace": op.namespace,
            "kind": self.kind,
            "metadata": metadata,
            "expires_at": expires,
            "provenance": {"source": "langgraph-store"},
        }
        if self.adapter.supports(Capability.PRESERVE_IDS):
            item["id"] = self._record_id(op.namespace, op.key)
        self.adapter.add_many([item], dedup=False)

    def _find(self, namespace: tuple[str, ...], key: str) -> MemoryRecord | None:
        if not namespace:
            return None
        if self.adapter.supports(Capability.PRESERVE_IDS):
            found = self.adapter.get_many([self._record_id(namespace, key)])[0]
            if found is not None and _is_item(found, namespace, key):
                return found
            return None
        hits = self.adapter.list(namespace=namespace, filter={KEY_FIELD: key}, limit=None)
        return next((r for r in hits if _is_item(r, namespace, key)), None)

    def _record_id(self, namespace: Sequence[str], key: str) -> str:
        path = json.dumps([list(self.adapter.scope), list(namespace), key], ensure_ascii=False)
        return hashlib.sha256(path.encode("utf-8", "surrogatepass")).hexdigest()[:32]

    def _content(self, value: Mapping[str, Any], index: list[str] | bool | None) -> str:
        if index is False or index is True:
            texts: list[str] = []
        elif index is None:
            texts = [t for _, path in self._fields for t in _texts(value, path)]
        else:
            texts = [t for f in index for t in _texts(value, f if f == "$" else tokenize_path(f))]
        text = "\n".join(t for t in texts if t.strip())
        return text or json.dumps(value, ensure_ascii=False, sort_keys=True) or "{}"

    def _refresh(self, record: MemoryRecord) -> MemoryRecord:
        ttl = record.metadata.get(_TTL_FIELD)
        if not self.supports_ttl or not isinstance(ttl, (int, float)) or isinstance(ttl, bool):
            return record
        try:
            return self.adapter.update(record.id, expires_at=self.adapter.now() + timedelta(minutes=ttl))
        except MemoryNotFoundError:
            return record

    # -- search ---------------------------------------------------------------------------

    def _search(self, op: SearchOp) -> list[SearchItem]:
        if op.limit < 0 or op.offset < 0:
            raise UsageError("a store search needs a non-negative limit and offset")
        want = op.offset + op.limit
        if want == 0:
            return []
        flt = dict(op.filter or {})
        found: list[tuple[MemoryRecord, float | None]] = []
        if op.query and op.query.strip():
            found = self._ranked(op.namespace_prefix, op.query, flt, want)
        if len(found) < want:
            seen = {r.id for r, _ in found}
            for record in self._iter_items(op.namespace_prefix, flt):
                if record.id not in seen:
                    found.append((record, None))
                    if len(found) >= want:
                        break
        page = found[op.offset : want]
        out = []
        for record, score in page:
            if op.refresh_ttl:
                record = self._refresh(record)
            out.append(_search_item(record, score))
        return out

    def _ranked(
        self, prefix: tuple[str, ...], query: str, flt: Mapping[str, Any], want: int
    ) -> list[tuple[MemoryRecord, float | None]]:
        pushed = {**_MARKER, **_pushdown(flt), _INDEX_FIELD: {"$ne": False}}
        limit = want + 10
        while True:
            hits = self.adapter.search(query, namespace=prefix, filter=pushed, limit=limit)
            kept: list[tuple[MemoryRecord, float | None]] = [
                (h.record, float(h.score)) for h in hits if _value_matches(_value(h.record), flt)
            ]
            if len(kept) >= want or len(hits) < limit:
                return kept[:want]
            limit *= 4

    def _iter_items(self, prefix: tuple[str, ...], flt: Mapping[str, Any]) -> Iterator[MemoryRecord]:
        pushed = {**_MARKER, **_pushdown(flt)}
        offset = 0
        while True:
            page = self.adapter.list(namespace=prefix, filter=pushed, limit=_PAGE, offset=offset)
            for record in page:
                if _value_matches(_value(record), flt):
                    yield record
            if len(page) < _PAGE:
                return
            offset += len(page)

    # -- namespaces -----------------------------------------------------------------------

    def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        prefix: tuple[str, ...] = ()
        for condition in op.match_conditions or ():
            if condition.match_type == "prefix":
                fixed = []
                for part in condition.path:
                    if part == "*":
                        break
                    fixed.append(part)
                prefix = tuple(fixed)
        namespaces = {r.namespace for r in self._iter_items(prefix, {})}
        matching = [ns for ns in namespaces if all(_ns_matches(c, ns) for c in op.match_conditions or ())]
        if op.max_depth is not None:
            matching = list({ns[: op.max_depth] for ns in matching})
        return sorted(matching)[op.offset : op.offset + op.limit]


def open_store(
    target: str | Path | BaseMemoryAdapter | None = None,
    *,
    scope: Sequence[str] = (),
    embedder: Any = None,
    index: IndexConfig | None = None,
    ttl: TTLConfig | None = None,
    kind: MemoryKind | str = MemoryKind.SEMANTIC,
) -> MnemosStore:
    """A :class:`MnemosStore` over :func:`~mnemos.memory_adapters.registry.open_memory`'s
    adapter for ``target`` (a URL, a path, an adapter, or ``None`` for the configured store)."""
    return MnemosStore(open_memory(target, scope=scope, embedder=embedder), index=index, ttl=ttl, kind=kind)


# --- helpers ---------------------------------------------------------------------------


def _is_item(record: MemoryRecord, namespace: Sequence[str], key: str) -> bool:
    return record.namespace == tuple(namespace) and record.metadata.get(KEY_FIELD) == key


def _value(record: MemoryRecord) -> dict[str, Any]:
    value = record.metadata.get(VALUE_FIELD)
    return dict(value) if isinstance(value, Mapping) else {}


def _item(record: MemoryRecord) -> Item:
    return Item(value=_value(record), key=str(record.metadata[KEY_FIELD]), namespace=record.namespace,
                created_at=record.created_at, updated_at=record.updated_at)


def _search_item(record: MemoryRecord, score: float | None) -> SearchItem:
    return SearchItem(record.namespace, str(record.metadata[KEY_FIELD]), _value(record),
                      record.created_at, record.updated_at, score=score)


def _texts(value: Mapping[str, Any], path: Any) -> list[str]:
    if path == "$":
        return list(_leaf_texts(value))
    return [t if isinstance(t, str) else json.dumps(t, ensure_ascii=False) for t in get_text_at_path(value, path)]


def _leaf_texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _leaf_texts(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _leaf_texts(v)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def _pushdown(flt: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a LangGraph filter the adapter can apply as is: scalar equalities."""
    out: dict[str, Any] = {}
    for key, cond in flt.items():
        if "." in key or key.startswith("$"):
            continue
        if isinstance(cond, (str, int, float)) and not isinstance(cond, bool):
            out[f"{VALUE_FIELD}.{key}"] = cond
    return out


def _value_matches(value: Mapping[str, Any], flt: Mapping[str, Any]) -> bool:
    """LangGraph's filter semantics: equality, nested dicts match key by key, operators."""
    return all(_matches(value.get(key), cond) for key, cond in flt.items())


def _matches(actual: Any, cond: Any) -> bool:
    if isinstance(cond, Mapping):
        if any(str(k).startswith("$") for k in cond):
            return all(_operator(actual, op, arg) for op, arg in cond.items())
        return isinstance(actual, Mapping) and all(_matches(actual.get(k), v) for k, v in cond.items())
    if isinstance(cond, (list, tuple)):
        return (isinstance(actual, (list, tuple)) and len(actual) == len(cond)
                and all(_matches(a, c) for a, c in zip(actual, cond, strict=True)))
    return bool(actual == cond)


def _operator(actual: Any, op: str, arg: Any) -> bool:
    if op == "$eq":
        return bool(actual == arg)
    if op == "$ne":
        return bool(actual != arg)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        try:
            a, b = float(actual), float(arg)
        except (TypeError, ValueError):
            return False
        return {"$gt": a > b, "$gte": a >= b, "$lt": a < b, "$lte": a <= b}[op]
    raise UsageError(f"unsupported store filter operator {op!r}; use $eq, $ne, $gt, $gte, $lt or $lte")


def _ns_matches(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    if condition.match_type == "prefix":
        pairs = zip(namespace, path, strict=False)
    elif condition.match_type == "suffix":
        pairs = zip(reversed(namespace), reversed(path), strict=False)
    else:
        raise UsageError(f"unsupported namespace match type {condition.match_type!r}")
    return all(p == "*" or n == p for n, p in pairs)
