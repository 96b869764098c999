"""Copy one memory store into another: records with their ids, history and relations.

:func:`migrate_store` pages through the source (newest first), and for each
page writes the earlier versions of its records, then the records themselves
(keeping ids, timestamps and versions) in one transaction of the destination.
A record already in the destination with the same version and update time
is skipped, so an interrupted migration run again continues where it stopped.
Relations go last (they name memories); writing one twice changes nothing.
Entity links of semantic memories are rebuilt by the destination from the text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from mnemos.exceptions import MemoryNotFoundError
from mnemos.memory_adapters.base import BaseMemoryAdapter, Capability, MemoryRecord

__all__ = ["MigrationResult", "migrate_store"]


@dataclass(kw_only=True)
class MigrationResult:
    """What a migration did."""

    total: int = 0
    """Records in the source under the namespace (superseded ones included)."""
    copied: int = 0
    skipped: int = 0
    """Already in the destination, unchanged (an earlier run copied them)."""
    history: int = 0
    """Earlier versions written."""
    relations: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "copied": self.copied, "skipped": self.skipped,
                "history": self.history, "relations": self.relations, "notes": list(self.notes)}


def _same(a: MemoryRecord, b: MemoryRecord | None) -> bool:
    return b is not None and (a.version, a.updated_at, a.content) == (b.version, b.updated_at, b.content)


def migrate_store(
    src: BaseMemoryAdapter,
    dst: BaseMemoryAdapter,
    *,
    namespace: Sequence[str] = (),
    batch_size: int = 500,
    on_progress: Callable[[int, int], None] | None = None,
) -> MigrationResult:
    """Copy every live record of ``src`` under ``namespace`` into ``dst`` (same relative
    namespaces), with earlier versions and relations where both stores keep them."""
    src.require(Capability.EXPORT)
    dst.require(Capability.PRESERVE_IDS)
    result = MigrationResult(total=src.count(namespace))
    history = src.supports(Capability.HISTORY) and hasattr(dst, "import_history")
    if src.supports(Capability.HISTORY) and not history:
        result.notes.append(f"{dst.name!r} cannot store history: earlier versions were not copied")
    step = max(1, batch_size)
    offset = 0
    while True:
        page = src.list(namespace=namespace, limit=step, offset=offset, include_superseded=True)
        if not page:
            break
        offset += len(page)
        present = dst.get_many([r.id for r in page])
        todo = [r for r, there in zip(page, present, strict=True) if not _same(r, there)]
        result.skipped += len(page) - len(todo)
        if todo:
            if history:
                versions = [v for r in todo if r.version > 1 for v in src.history(r.id)[:-1]]
                result.history += dst.import_history(versions)  # type: ignore[attr-defined]
            dst._import_records(
                [replace(r, namespace=dst.scope + r.namespace) for r in todo],
                on_progress=None, batch_size=len(todo),
            )
            result.copied += len(todo)
        if on_progress is not None:
            on_progress(min(offset, result.total), result.total)
    if src.supports(Capability.GRAPH) and hasattr(src, "export_relations"):
        if dst.supports(Capability.GRAPH) and hasattr(dst, "add_relation"):
            for relation in src.export_relations(namespace):
                memory_id = relation.memory_id
                try:
                    dst.add_relation(relation.subject, relation.predicate, relation.object,
                                     namespace=relation.namespace, memory_id=memory_id)
                except MemoryNotFoundError:  # its memory expired meanwhile: keep the triple
                    dst.add_relation(relation.subject, relation.predicate, relation.object,
                                     namespace=relation.namespace)
                result.relations += 1
        else:
            result.notes.append(f"{dst.name!r} has no graph: relations were not copied")
    analyze = getattr(dst, "analyze", None)
    if callable(analyze) and result.copied:
        analyze()  # planner statistics for the bulk of new rows
    if on_progress is not None and result.total == 0:
        on_progress(0, 0)
    return result
