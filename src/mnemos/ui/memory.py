"""The memory browser: namespaces, records with filters, search with reasons, one record's story.

Routes (all under ``/memory``):

========================================  =============================================
``GET  /memory``                          namespace tree, filters, records or search hits
``GET  /memory/tree``                     the namespace tree alone (the page loads it after itself)
``GET  /memory/export``                   JSONL of a namespace (the CLI's export format)
``GET  /memory/{id}``                     content, provenance, history, supersession, entities
``POST /memory/{id}/edit``                change content, importance, metadata (a new version)
``POST /memory/{id}/supersede``           replace a fact; the old one stays in the chain
``GET/POST /memory/{id}/delete``          confirm, then delete (``history=1``: the facts it replaced too)
``GET/POST /memory/erase?ns=...``         confirm, then erase a namespace from disk (when the store can)
========================================  =============================================
"""

from __future__ import annotations

import inspect
import json
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from mnemos.exceptions import InvalidNamespaceError
from mnemos.memory_adapters._namespace import format_namespace, parse_namespace
from mnemos.memory_adapters.base import (
    BaseMemoryAdapter,
    Capability,
    MemoryKind,
    MemoryRecord,
    ScoredMemory,
)
from mnemos.ui._svg import entity_svg
from mnemos.ui._web import (
    BadRequest,
    context,
    memory,
    parse_float,
    parse_int,
    parse_when,
    principal,
    redirect,
    render,
)

__all__ = ["TreeCache", "routes"]

PAGE = 50
_SCAN_LIMIT = 5_000
_MODES = ("hybrid", "keyword", "vector")
SIGNAL_COLORS = {
    "keyword": "#2f6fdf", "vector": "#8a3ffc", "fusion": "#0f9d8a", "neighbour": "#d97706",
    "graph": "#db2777", "recency": "#65a30d", "importance": "#dc2626",
}


def _ns(text: str | None) -> tuple[str, ...]:
    try:
        return parse_namespace(text or "", allow_empty=True)
    except InvalidNamespaceError as exc:
        raise BadRequest(f"bad namespace {text!r}: {exc}") from None


TREE_SECONDS = 10.0
"""How long a namespace tree is reused; the UI's own changes drop it at once."""


class TreeCache:
    """Namespace trees by caller. Counting a large store takes a while (0.7 s at 100k memories)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._trees: dict[str | None, tuple[float, list[dict[str, Any]]]] = {}

    def get(self, key: str | None) -> list[dict[str, Any]] | None:
        with self._lock:
            hit = self._trees.get(key)
        return hit[1] if hit is not None and time.monotonic() - hit[0] < TREE_SECONDS else None

    def put(self, key: str | None, tree: list[dict[str, Any]]) -> None:
        with self._lock:
            self._trees[key] = (time.monotonic(), tree)

    def clear(self) -> None:
        with self._lock:
            self._trees.clear()


def _tree(mem: BaseMemoryAdapter) -> list[dict[str, Any]]:
    """Namespaces as an indented list of every prefix, with counts where the store gives them."""
    counts: dict[str, int] = {}
    stats = getattr(mem, "stats", None)
    if callable(stats):
        try:
            counts = dict(stats().get("by_namespace") or {})
        except Exception:  # counts are a nicety; a store that cannot give them shows none
            counts = {}
    leaves = [parse_namespace(k) if k != "/" else () for k in counts] if counts else mem.namespaces()
    prefixes: dict[tuple[str, ...], int] = {}
    for ns in leaves:
        here = counts.get(format_namespace(ns), 0)
        for depth in range(1, len(ns) + 1):
            prefixes[ns[:depth]] = prefixes.get(ns[:depth], 0) + here
    return [
        {"ns": format_namespace(p), "name": p[-1], "depth": len(p) - 1, "count": prefixes[p] if counts else None}
        for p in sorted(prefixes)
    ]


def _cached_tree(request: Request, compute: bool) -> list[dict[str, Any]] | None:
    cache: TreeCache = context(request).trees
    key = principal(request)
    tree = cache.get(key)
    if tree is None and compute:
        tree = _tree(memory(request))
        cache.put(key, tree)
    return tree


def _changed(request: Request) -> None:
    context(request).trees.clear()


def tree_fragment(request: Request) -> Response:
    ns_text = format_namespace(_ns(request.query_params.get("ns")))
    return render(request, "memory_tree.html", tree=_cached_tree(request, compute=True), ns_text=ns_text)


def _filters(request: Request) -> dict[str, Any]:
    q = request.query_params
    kinds = [k for k in q.getlist("kind") if k]
    for k in kinds:
        if k not in {m.value for m in MemoryKind}:
            raise BadRequest(f"unknown kind {k!r}: use episodic, semantic or procedural")
    metadata: dict[str, Any] = {}
    for line in (q.get("meta") or "").splitlines():
        if not line.strip():
            continue
        key, sep, raw = line.partition("=")
        if not sep or not key.strip():
            raise BadRequest(f"bad metadata filter {line!r}: write key=value, one a line")
        try:
            metadata[key.strip()] = json.loads(raw)
        except ValueError:
            metadata[key.strip()] = raw.strip()
    mode = q.get("mode") or "hybrid"
    if mode not in _MODES:
        raise BadRequest(f"unknown search mode {mode!r}: use hybrid, keyword or vector")
    return {
        "ns": _ns(q.get("ns")),
        "kinds": kinds or None,
        "since": parse_when(q.get("since"), "since"),
        "until": parse_when(q.get("until"), "until"),
        "metadata": metadata or None,
        "min_importance": parse_float(q.get("min_importance"), "min_importance"),
        "superseded": q.get("superseded") == "1",
        "query": (q.get("q") or "").strip(),
        "mode": mode,
        "offset": parse_int(q.get("offset"), "offset", 0),
    }


def _search(mem: BaseMemoryAdapter, f: dict[str, Any]) -> list[ScoredMemory]:
    kwargs: dict[str, Any] = {
        "namespace": f["ns"], "kinds": f["kinds"], "filter": f["metadata"], "since": f["since"],
        "until": f["until"], "limit": PAGE, "include_superseded": f["superseded"],
    }
    ranking = getattr(mem, "ranking", None)
    if ranking is not None and f["mode"] != "hybrid":
        kwargs["ranking"] = replace(ranking, mode=f["mode"])
    elif f["mode"] != "hybrid":
        raise BadRequest(f"this store ({mem.name}) searches one way only; choose hybrid")
    hits = mem.search(f["query"], **kwargs)  # type: ignore[call-arg]
    if f["min_importance"] is not None:
        hits = [h for h in hits if h.record.importance >= f["min_importance"]]
    return hits


def _listing(mem: BaseMemoryAdapter, f: dict[str, Any]) -> tuple[list[MemoryRecord], int | None]:
    """A page of records, newest first, and the offset of the next page (``None``: no more)."""
    offset: int = f["offset"]
    found: list[MemoryRecord] = []
    scanned = 0
    while len(found) < PAGE and scanned < _SCAN_LIMIT:
        batch = mem.list(namespace=f["ns"], kinds=f["kinds"], filter=f["metadata"], since=f["since"],
                         until=f["until"], limit=PAGE, offset=offset, include_superseded=f["superseded"])
        for record in batch:
            offset += 1
            if f["min_importance"] is None or record.importance >= f["min_importance"]:
                found.append(record)
                if len(found) == PAGE:
                    break
        scanned += len(batch)
        if len(batch) < PAGE:
            return found, None
        if f["min_importance"] is None:
            break
    return found, offset


def _bars(hits: Sequence[ScoredMemory]) -> list[dict[str, Any]]:
    top = max((sum(max(r.contribution, 0.0) for r in h.reasons) for h in hits), default=0.0) or 1.0
    rows = []
    for h in hits:
        reasons = [
            {"signal": r.signal, "value": r.value, "contribution": r.contribution, "detail": r.detail,
             "width": max(r.contribution, 0.0) / top * 100, "color": SIGNAL_COLORS.get(r.signal, "#6b7280")}
            for r in h.reasons
        ]
        rows.append({"hit": h, "record": h.record, "reasons": reasons})
    return rows


def browse(request: Request) -> Response:
    mem = memory(request)
    f = _filters(request)
    hits: list[dict[str, Any]] = []
    records: list[MemoryRecord] = []
    next_offset = None
    if f["query"]:
        hits = _bars(_search(mem, f))
    else:
        records, next_offset = _listing(mem, f)
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "offset"]
    return render(
        request, "memory.html", tree=_cached_tree(request, compute=False), f=f, hits=hits, records=records,
        ns_text=format_namespace(f["ns"]), kinds=[k.value for k in MemoryKind], modes=_MODES,
        modes_available=getattr(mem, "ranking", None) is not None, colors=SIGNAL_COLORS,
        next_url=f"/memory?{urlencode([*params, ('offset', next_offset)])}" if next_offset else None,
        meta_text=request.query_params.get("meta") or "", store=mem.name, can_erase=_can_erase(mem),
    )


def export(request: Request) -> Response:
    mem = memory(request)
    ns = _ns(request.query_params.get("ns"))
    mem.require(Capability.EXPORT)
    rows = list(mem.iter_export(ns))

    def lines() -> Iterator[bytes]:
        for row in rows:
            yield (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")

    name = "memories-" + ("-".join(ns) or "all") + ".jsonl"
    return StreamingResponse(lines(), media_type="application/x-ndjson",
                             headers={"content-disposition": f'attachment; filename="{name}"'})


def _chain(mem: BaseMemoryAdapter, record: MemoryRecord) -> list[MemoryRecord]:
    """The supersession chain through ``record``: the facts it replaced, it, and what replaced it."""
    before: list[MemoryRecord] = []
    if record.kind is MemoryKind.SEMANTIC:
        older = mem.list(namespace=record.namespace, kinds=[record.kind], include_superseded=True,
                         limit=_SCAN_LIMIT)
        by_successor = {r.superseded_by: r for r in older if r.superseded_by}
        current = record.id
        while current in by_successor and len(before) < 50:
            prev = by_successor[current]
            before.insert(0, prev)
            current = prev.id
    after: list[MemoryRecord] = []
    nxt = record.superseded_by
    while nxt and len(after) < 50:
        try:
            successor = mem.get(nxt)
        except LookupError:
            break
        after.append(successor)
        nxt = successor.superseded_by
    return [*before, record, *after]


def _entities(mem: BaseMemoryAdapter, record: MemoryRecord) -> dict[str, Any] | None:
    if not mem.supports(Capability.GRAPH) or not hasattr(mem, "entities"):
        return None
    names = list(mem.entities(record.id))
    related = list(mem.related(record.id, hops=2, limit=12)) if hasattr(mem, "related") else []
    shared = [(hit.record, mem.entities(hit.record.id)) for hit in related]
    svg = entity_svg(record, names, shared, href=lambda i: f"/memory/{i}") if names or related else None
    return {"names": names, "related": related, "svg": svg}


def _deletes_history(mem: BaseMemoryAdapter) -> bool:
    """Whether ``delete`` can also remove the facts a record superseded (``with_history``)."""
    try:
        return "with_history" in inspect.signature(mem.delete).parameters
    except (TypeError, ValueError):
        return False


def _can_erase(mem: BaseMemoryAdapter) -> bool:
    return callable(getattr(mem, "erase", None))


def record_page(request: Request) -> Response:
    mem = memory(request)
    record = mem.get(request.path_params["id"])
    history = mem.history(record.id) if mem.supports(Capability.HISTORY) else [record]
    chain = _chain(mem, record)
    return render(
        request, "memory_record.html", record=record, history=list(reversed(history)),
        chain=chain, graph=_entities(mem, record),
        can_update=mem.supports(Capability.UPDATE), can_delete=mem.supports(Capability.DELETE),
        can_supersede=mem.supports(Capability.SUPERSEDE) and not record.superseded,
        can_delete_history=_deletes_history(mem) and chain[0].id != record.id,
        metadata_json=json.dumps(record.metadata, indent=2, ensure_ascii=False),
        message=request.query_params.get("done"),
    )


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def edit(request: Request) -> Response:
    mem = memory(request)
    form = await _form(request)
    memory_id = request.path_params["id"]
    metadata = None
    if form.get("metadata", "").strip():
        try:
            metadata = json.loads(form["metadata"])
        except ValueError as exc:
            raise BadRequest(f"metadata is not JSON: {exc}") from None
    importance = parse_float(form.get("importance"), "importance")
    content = form.get("content")
    current = mem.get(memory_id)
    mem.update(memory_id, content=content if content and content != current.content else None,
               metadata=metadata if metadata is not None and metadata != current.metadata else None,
               importance=importance if importance is not None and importance != current.importance else None)
    _changed(request)
    return redirect(f"/memory/{memory_id}?done=saved")


async def supersede(request: Request) -> Response:
    mem = memory(request)
    form = await _form(request)
    new = mem.supersede(request.path_params["id"], form.get("content", ""))
    _changed(request)
    return redirect(f"/memory/{new.id}?done=superseded")


async def delete(request: Request) -> Response:
    mem = memory(request)
    record = mem.get(request.path_params["id"])
    with_history = request.query_params.get("history") == "1"
    if with_history and not _deletes_history(mem):
        raise BadRequest(f"this store ({mem.name}) deletes one record at a time")
    if request.method == "GET":
        return render(request, "memory_confirm.html", record=record, action="delete",
                      with_history=with_history, target=f"/memory/{record.id}/delete" +
                      ("?history=1" if with_history else ""), cancel=f"/memory/{record.id}")
    form = await _form(request)
    if form.get("confirm") != "yes":
        raise BadRequest("delete needs confirmation (confirm=yes)")
    if with_history:
        mem.delete(record.id, with_history=True)  # type: ignore[call-arg]
    else:
        mem.delete(record.id)
    _changed(request)
    ns = format_namespace(record.namespace)
    return redirect(f"/memory?{urlencode({'ns': ns, 'done': 'deleted'})}")


async def erase(request: Request) -> Response:
    """Erase a whole namespace from disk (the store's ``erase``), after a confirmation."""
    mem = memory(request)
    ns = _ns(request.query_params.get("ns"))
    if not _can_erase(mem):
        raise BadRequest(f"this store ({mem.name}) cannot erase; delete records one by one")
    if not ns:
        raise BadRequest("choose a namespace to erase (the whole store is not erased from here)")
    count = mem.count(ns)
    if request.method == "GET":
        return render(request, "memory_confirm.html", record=None, action="erase", namespace=format_namespace(ns),
                      count=count, target=f"/memory/erase?{urlencode({'ns': format_namespace(ns)})}",
                      cancel=f"/memory?{urlencode({'ns': format_namespace(ns)})}", with_history=False)
    form = await _form(request)
    if form.get("confirm") != "yes":
        raise BadRequest("erase needs confirmation (confirm=yes)")
    erased = mem.erase(ns)  # type: ignore[attr-defined]
    _changed(request)
    parent = format_namespace(ns[:-1]) if len(ns) > 1 else ""
    return redirect(f"/memory?{urlencode({'ns': parent, 'done': f'erased ({erased} memories)'})}")


routes = [
    Route("/memory", browse),
    Route("/memory/tree", tree_fragment),
    Route("/memory/export", export),
    Route("/memory/erase", erase, methods=["GET", "POST"]),
    Route("/memory/{id}", record_page),
    Route("/memory/{id}/edit", edit, methods=["POST"]),
    Route("/memory/{id}/supersede", supersede, methods=["POST"]),
    Route("/memory/{id}/delete", delete, methods=["GET", "POST"]),
]
