"""Consolidation, reinforcement and novelty: memory that tidies itself without losing facts.

Ideas from CAMELoT (He et al., 2024, "CAMELoT: Towards Large Language Models with
Training-Free Consolidated Associative Memory"): near-duplicates are
*consolidated* into one slot, *novel* information is noticed when it arrives,
and what is recent and used weighs more.

- :func:`consolidate` merges near-duplicate episodic and semantic memories of
  one namespace and kind into the best of them (the *survivor*: the one whose
  words cover the others', then the most important, then the first said). The
  others stay stored, unchanged, marked superseded by the survivor
  (``superseded_by``, ``valid_to``, ``metadata.merged_into``): search no longer
  returns them, :meth:`~BaseMemoryAdapter.get` and ``include_superseded=True``
  still do. The survivor's ``metadata.merged_from`` lists them; :func:`unmerge`
  restores them. Two memories are near-duplicates when the Jaccard similarity
  of their word sets is at least ``threshold`` *and* one's content words are
  all in the other's, so "meet at 10" and "meet at 11" never merge: no fact is
  dropped by a merge.
- :func:`reinforce` raises the importance of memories an answer used (and
  counts the uses); :func:`consolidate` lets the importance of memories unused
  for ``decay_after_days`` decay toward ``floor``.
- :func:`novelty` tells, at write time, how new a text is to a namespace
  (1 - the best similarity to what is stored); agents store it in
  ``metadata.novelty`` and flag ``metadata.novel`` when it is at least 0.5.

Left alone: procedural memories, MemGPT's conversation log and core blocks,
and ingested document chunks (re-ingestion owns those).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from mnemos.exceptions import UsageError
from mnemos.memory_adapters._text import STOPWORDS
from mnemos.memory_adapters.base import BaseMemoryAdapter, Capability, MemoryKind, MemoryRecord
from mnemos.memory_adapters.embedders._lexical import words as split_words

__all__ = [
    "ConsolidationReport",
    "Merge",
    "best_similarity",
    "consolidate",
    "novelty",
    "reinforce",
    "similarity",
    "unmerge",
]

NOVEL = 0.5
"""A text at least this novel is flagged ``metadata.novel``."""


def _words(text: str) -> set[str]:
    return set(split_words(text))  # \w+ of the case-folded text, as the hashing embedder splits it


@functools.lru_cache(maxsize=512)
def _stored_words(text: str) -> frozenset[str]:
    """:func:`_words` of a stored text, kept: a novelty check compares each new text with
    the best matches of its namespace, mostly the same few memories turn after turn."""
    return frozenset(_words(text))


def _content(words: set[str]) -> set[str]:
    return {w for w in words if w not in STOPWORDS} or words


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the two texts' word sets (0..1)."""
    return _jaccard(_words(a), _words(b))


def best_similarity(text: str, others: Iterable[str]) -> float:
    """The highest :func:`similarity` of ``text`` to one of ``others`` (0 if none); the
    words of ``text`` are found once."""
    mine = _words(text)
    return max((_jaccard(mine, _stored_words(other)) for other in others), default=0.0)


def _jaccard(wa: Set[str], wb: Set[str]) -> float:
    if not wa and not wb:
        return 1.0
    shared = len(wa & wb)
    return shared / (len(wa) + len(wb) - shared)  # the size of the union, without making it


def _covers(big: str, small: str) -> bool:
    return _content(_words(small)) <= _content(_words(big))


@dataclass(kw_only=True)
class Merge:
    """One consolidation: ``merged`` ids now superseded by ``survivor``."""

    survivor: str
    merged: list[str]
    content: str
    namespace: tuple[str, ...]
    kind: str

    def to_dict(self) -> dict[str, Any]:
        return {"survivor": self.survivor, "merged": self.merged, "content": self.content,
                "namespace": list(self.namespace), "kind": self.kind}


@dataclass(kw_only=True)
class ConsolidationReport:
    """What :func:`consolidate` did (or would do, with ``dry_run``)."""

    examined: int = 0
    merges: list[Merge] = field(default_factory=list)
    decayed: int = 0
    dry_run: bool = False

    @property
    def merged(self) -> int:
        return sum(len(m.merged) for m in self.merges)

    def to_dict(self) -> dict[str, Any]:
        return {"examined": self.examined, "merged": self.merged, "decayed": self.decayed,
                "dry_run": self.dry_run, "merges": [m.to_dict() for m in self.merges]}


def _eligible(record: MemoryRecord) -> bool:
    meta = record.metadata
    if record.kind is MemoryKind.PROCEDURAL or record.superseded:
        return False
    if meta.get("memgpt") in ("message", "core", "chat_state"):
        return False
    return not (meta.get("checksum") and meta.get("source"))  # an ingested document chunk


def _order(record: MemoryRecord) -> tuple[int, float, str, str]:
    """Survivors first: the most content words, then the most important, then the first said."""
    return (-len(_content(_words(record.content))), -record.importance,
            record.created_at.isoformat(), record.id)


def consolidate(
    memory: BaseMemoryAdapter,
    namespace: Sequence[str] = (),
    *,
    kinds: Iterable[MemoryKind | str] = (MemoryKind.EPISODIC, MemoryKind.SEMANTIC),
    threshold: float = 0.8,
    candidates: int = 8,
    decay_after_days: float | None = 30.0,
    decay: float = 0.9,
    floor: float = 0.1,
    dry_run: bool = False,
) -> ConsolidationReport:
    """Merge near-duplicates under ``namespace`` and decay unused memories (see the module docs)."""
    if not 0 < threshold <= 1:
        raise UsageError(f"threshold is in (0, 1], got {threshold}")
    if not 0 < decay <= 1 or not 0 <= floor <= 1:
        raise UsageError("decay is in (0, 1] and floor in [0, 1]")
    wanted = [MemoryKind(k) for k in kinds]
    if not dry_run:
        memory.require(Capability.UPDATE)
        memory.require(Capability.SUPERSEDE)
    report = ConsolidationReport(dry_run=dry_run)
    records = [r for r in memory.list(namespace=namespace, kinds=wanted, limit=None) if _eligible(r)]
    report.examined = len(records)
    by_id = {r.id: r for r in records}
    taken: set[str] = set()
    for record in sorted(records, key=_order):
        if record.id in taken:
            continue
        hits = memory.search(record.content, namespace=record.namespace, kinds=record.kind,
                             limit=candidates)
        group = [
            h.record for h in hits
            if h.record.id != record.id and h.record.id in by_id and h.record.id not in taken
            and h.record.namespace == record.namespace
            and similarity(record.content, h.record.content) >= threshold
            and _covers(record.content, h.record.content)
        ]
        if not group:
            continue
        taken.update([record.id, *(g.id for g in group)])
        report.merges.append(Merge(survivor=record.id, merged=[g.id for g in group],
                                   content=record.content, namespace=record.namespace,
                                   kind=record.kind.value))
        if not dry_run:
            _merge(memory, by_id[record.id], group)
    if decay_after_days is not None:
        report.decayed = _decay(memory, [r for r in records if r.id not in taken or
                                         r.id in {m.survivor for m in report.merges}],
                                decay_after_days, decay, floor, dry_run)
    return report


def _merge(memory: BaseMemoryAdapter, survivor: MemoryRecord, group: Sequence[MemoryRecord]) -> None:
    now = memory.now()
    ids = [g.id for g in group]
    with memory._exclusive():
        for original in group:
            current = memory._get_abs(original.id)
            memory._update(replace(
                current, valid_to=now, superseded_by=survivor.id, updated_at=now,
                version=current.version + 1,
                metadata={**current.metadata, "merged_into": survivor.id},
            ))
    merged_from = [*survivor.metadata.get("merged_from", []), *ids]
    memory.update(survivor.id, importance=max([survivor.importance, *(g.importance for g in group)]),
                  metadata={**survivor.metadata, "merged_from": merged_from,
                            "merged_at": now.isoformat()})


def unmerge(memory: BaseMemoryAdapter, survivor_id: str) -> list[str]:
    """Undo the merges into ``survivor_id``: its originals are live again. Returns their ids."""
    survivor = memory.get(survivor_id)
    ids = list(survivor.metadata.get("merged_from") or [])
    if not ids:
        raise UsageError(f"memory {survivor_id!r} has no merged originals")
    now = memory.now()
    with memory._exclusive():
        for original_id in ids:
            current = memory._get_abs(original_id)
            meta = {k: v for k, v in current.metadata.items() if k != "merged_into"}
            memory._update(replace(current, valid_to=None, superseded_by=None, updated_at=now,
                                   version=current.version + 1, metadata=meta))
    meta = {k: v for k, v in survivor.metadata.items() if k not in ("merged_from", "merged_at")}
    memory.update(survivor_id, metadata=meta)
    return ids


def _decay(memory: BaseMemoryAdapter, records: Sequence[MemoryRecord], after_days: float,
           factor: float, floor: float, dry_run: bool) -> int:
    cutoff = memory.now() - timedelta(days=after_days)
    decayed = 0
    for record in records:
        last = record.metadata.get("last_used")
        last_use = record.created_at.isoformat() if last is None else str(last)
        if last_use > cutoff.isoformat() or record.importance <= floor:
            continue
        decayed += 1
        if not dry_run:
            memory.update(record.id, importance=round(max(floor, record.importance * factor), 4))
    return decayed


def reinforce(memory: BaseMemoryAdapter, ids: Iterable[str], *, boost: float = 0.05) -> int:
    """Memories an answer used gain ``boost`` importance (up to 1) and a use; returns how many."""
    if not memory.supports(Capability.UPDATE):
        return 0
    # The native store does it in one transaction with one read (a turn's bookkeeping
    # commits once, unless the adapter redacts what it writes); other backends' locks are
    # not all reentrant, so they update one by one.
    from mnemos.memory_adapters.native import NativeMemoryAdapter

    if isinstance(memory, NativeMemoryAdapter) and memory._redactor is None:
        return memory._reinforce(list(ids), boost)
    now = memory.now().isoformat()
    done = 0
    batch = memory._exclusive() if isinstance(memory, NativeMemoryAdapter) else contextlib.nullcontext()
    with batch:
        for memory_id in dict.fromkeys(ids):
            try:
                record = memory.get(memory_id)
            except UsageError:
                continue  # deleted meanwhile, or out of this scope
            memory.update(memory_id, importance=min(1.0, round(record.importance + boost, 4)),
                          metadata={**record.metadata,
                                    "used_count": int(record.metadata.get("used_count", 0)) + 1,
                                    "last_used": now})
            done += 1
    return done


def novelty(memory: BaseMemoryAdapter, namespace: Sequence[str], content: str,
            kinds: Iterable[MemoryKind | str] | None = None) -> float:
    """How new ``content`` is to ``namespace``: 1 - its best word similarity to a stored memory."""
    hits = memory.search(content, namespace=namespace, kinds=kinds, limit=5)
    return round(1.0 - best_similarity(content, (h.record.content for h in hits)), 3)
