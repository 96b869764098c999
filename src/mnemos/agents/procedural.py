"""Procedural memory: an agent's instructions plus learned rules, versioned, with rollback.

Every version is one ``procedural`` record in the agent's procedural
namespace; its metadata holds the version number, the instructions, the
rules and a note. Nothing is overwritten: :meth:`ProceduralMemory.rollback`
records a *new* version equal to an old one, so the full history stays
readable and a rollback can itself be rolled back.

The instructions come from the agent's code; when they change,
:meth:`ProceduralMemory.ensure` records a new version that keeps the learned
rules. Rules change through :meth:`ProceduralMemory.add_rules` (what
:meth:`~mnemos.agents.agent.Agent.reflect` calls) and :meth:`~ProceduralMemory.commit`.

Two processes committing at the same moment may both write the same version
number; the later record wins in :meth:`~ProceduralMemory.current`.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mnemos.exceptions import UsageError
from mnemos.memory_adapters import BaseMemoryAdapter, MemoryKind, MemoryRecord, Namespace

__all__ = ["ProceduralMemory", "ProceduralVersion"]

_MARK = "procedural_version"


@dataclass(kw_only=True, frozen=True)
class ProceduralVersion:
    """One version of an agent's procedural memory."""

    version: int
    instructions: str
    rules: tuple[str, ...]
    id: str
    created_at: datetime
    note: str = ""

    def text(self) -> str:
        """Instructions and rules as one text (what the record's content holds)."""
        return _render(self.instructions, self.rules)


def _render(instructions: str, rules: Sequence[str]) -> str:
    parts = [instructions.strip()] if instructions.strip() else []
    if rules:
        parts.append("Learned rules:\n" + "\n".join(f"- {r}" for r in rules))
    return "\n\n".join(parts) or "(no instructions)"


Kept = dict[Namespace, tuple[BaseMemoryAdapter, Hashable, "ProceduralVersion | None"]]
"""Current versions read before, by namespace, with the adapter and its stamp of procedural
memories when read (see :class:`ProceduralMemory`)."""
_KEPT_AT_MOST = 256


class ProceduralMemory:
    """The versioned procedural memory stored in ``memory`` under ``namespace``.

    With ``kept`` (a dict the caller holds on to, such as an agent across its turns),
    :meth:`current` is read once and kept while the adapter's
    :meth:`~mnemos.memory_adapters.BaseMemoryAdapter.change_stamp` reports no procedural
    memory of ``namespace`` added, changed, removed or expired since, by this or another
    process (on an adapter that can tell; others read every time).
    """

    def __init__(self, memory: BaseMemoryAdapter, namespace: Sequence[str], kept: Kept | None = None) -> None:
        self.memory = memory
        self.namespace: Namespace = tuple(namespace)
        self._kept = kept

    def versions(self) -> list[ProceduralVersion]:
        """Every version, oldest first."""
        records = self.memory.list(namespace=self.namespace, kinds=MemoryKind.PROCEDURAL, limit=None)
        found = [_version(r) for r in records if r.metadata.get("mnemos") == _MARK]
        return sorted(found, key=lambda v: (v.version, v.id))

    def current(self) -> ProceduralVersion | None:
        """The latest version, or None before the first one."""
        kept = self._kept
        # the stamp first: what is read after it is at least as new
        stamp = None if kept is None else self.memory.change_stamp(MemoryKind.PROCEDURAL, self.namespace)
        if kept is not None and stamp is not None:
            known = kept.get(self.namespace)
            if known is not None and known[0] is self.memory and known[1] == stamp:
                return known[2]
        versions = self.versions()
        current = versions[-1] if versions else None
        if kept is not None and stamp is not None:
            if len(kept) >= _KEPT_AT_MOST:
                kept.clear()
            kept[self.namespace] = (self.memory, stamp, current)
        return current

    def get(self, version: int) -> ProceduralVersion:
        """The given version; :class:`~mnemos.exceptions.UsageError` if there is none."""
        for v in self.versions():
            if v.version == version:
                return v
        raise UsageError(f"procedural memory {'/'.join(self.namespace)!r} has no version {version!r}")

    def commit(
        self,
        *,
        instructions: str | None = None,
        rules: Sequence[str] | None = None,
        note: str = "",
        **metadata: Any,
    ) -> ProceduralVersion:
        """Record a new version; unchanged parts are taken from the current one."""
        current = self.current()
        number = current.version + 1 if current else 1
        text = instructions if instructions is not None else (current.instructions if current else "")
        kept = tuple(rules) if rules is not None else (current.rules if current else ())
        if any(not isinstance(r, str) or not r.strip() for r in kept):
            raise UsageError("procedural rules are non-empty strings")
        record = self.memory.add(
            _render(text, kept),
            namespace=self.namespace,
            kind=MemoryKind.PROCEDURAL,
            metadata={"mnemos": _MARK, "version": number, "instructions": text,
                      "rules": list(kept), "note": note, **metadata},
            importance=1.0,
            dedup=False,
        )
        return _version(record)

    def ensure(self, instructions: str) -> ProceduralVersion | None:
        """The current version, after recording one if ``instructions`` changed (None if empty)."""
        current = self.current()
        if current is None and not instructions.strip():
            return None
        if current is None or current.instructions != instructions:
            note = "initial instructions" if current is None else "instructions changed"
            return self.commit(instructions=instructions, note=note)
        return current

    def add_rules(self, rules: Sequence[str], *, note: str = "") -> ProceduralVersion | None:
        """Add rules not already known; a new version only if something is new."""
        current = self.current()
        known = list(current.rules) if current else []
        seen = {r.casefold() for r in known}
        new = []
        for rule in rules:
            rule = rule.strip()
            if rule and rule.casefold() not in seen:
                seen.add(rule.casefold())
                new.append(rule)
        if not new:
            return current
        return self.commit(rules=[*known, *new], note=note or f"learned {len(new)} rule(s)")

    def rollback(self, version: int) -> ProceduralVersion:
        """Make ``version`` current again, as a new version (history is kept)."""
        target = self.get(version)
        return self.commit(
            instructions=target.instructions,
            rules=target.rules,
            note=f"rollback to version {version}",
            rolled_back_to=version,
        )


def _version(record: MemoryRecord) -> ProceduralVersion:
    meta = record.metadata
    return ProceduralVersion(
        version=int(meta.get("version", 1)),
        instructions=str(meta.get("instructions", "")),
        rules=tuple(str(r) for r in meta.get("rules") or ()),
        id=record.id,
        created_at=record.created_at,
        note=str(meta.get("note", "")),
    )
