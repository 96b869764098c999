"""The second round through the typed entity graph, read by index from the items stores keep.

Both SQL stores keep, written with each memory, its typed items
(``entity_items``: kind, namespace, item, memory, speaker) and, kept by
triggers, how many memories of a namespace hold each item (``entity_df``,
indexed rarest first). A typed question then reads, whatever the size of the
scope:

- the speakers of the scope (rows of kind ``""`` in ``entity_df``);
- the items of the candidates, with their ``df`` (by the memory index);
- the rarest items of the asked kinds and their holders, page by page, until
  ``limit`` memories outside the candidates gained (or :data:`MAX_ITEMS` items
  were read).

It computes exactly :func:`_episodic_graph.typed_gains` (the reference, which
tests compare it with). The steps are written once, with ``?`` placeholders, and
driven by each store (:func:`run_sqlite`, or PostgreSQL's ``_postgres_io``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Generator, Iterable, Sequence
from typing import Any, TypeVar

from mnemos.memory_adapters import _episodic_graph as eg
from mnemos.memory_adapters._namespace import SEPARATOR, Namespace
from mnemos.memory_adapters._native_schema import ns_key

__all__ = ["MAX_ITEMS", "PAGE", "Step", "entity_steps", "run_sqlite"]

Step = tuple[str, list[Any]]
"""One statement (``?`` placeholders) and its parameters; the rows come back."""
Steps = Generator[Step, list[Any], dict[int, tuple[str, float]]]
PAGE = 200
"""Items read at once, per kind, rarest first."""
MAX_ITEMS = 20_000
"""At most this many items are read per kind for the memories outside the candidates."""
_CHUNK = 500
_HOLDERS = 500
"""Holders read at once."""


def entity_steps(
    text: str | None,
    prefix: Namespace,
    ns_cond: Callable[[Namespace, str], tuple[str, list[Any]]],
    weight: float,
    keep: Iterable[int],
    limit: int = 100,
) -> Steps:
    """What the second round gives the memories under ``prefix``: rowid -> (item, gain)
    (steps: each yields a statement, receives its rows)."""
    planned = eg.plan(text, weight)
    if planned is None:
        return {}
    types, persons = planned
    kinds = eg.kinds_read(types)
    keep = list(keep)
    version = yield ("SELECT value FROM meta WHERE key = 'entity_items'", [])
    if not version or version[0][0] != eg.ITEMS_VERSION:  # a store opened read-only, not derived yet
        cond, params = ns_cond(prefix, "ns")
        rows, people = eg.derived_rows((yield (
            f"SELECT rowid, ns, content, provenance, metadata FROM memories WHERE {cond}", params
        )))
        return eg.typed_gains(rows, types, people, persons, weight, keep, limit)
    cond, params = ns_cond(prefix, "d.ns")
    people = frozenset(r[0] for r in (yield (
        f"SELECT DISTINCT d.item FROM entity_df d WHERE d.kind = ? AND {cond}", [eg.SPEAKER, *params]
    )))
    named = frozenset(persons) & people
    persony = eg.person_kinds(types)

    def fits(kind: str, item: str, who: str | None) -> bool:
        return (not named or who in named) and not (people and kind in persony and eg.is_person(item, people))

    wanted = frozenset(kinds)
    low = ns_key(prefix)
    high = low[:-1] + chr(ord(SEPARATOR) + 1) if prefix else "\U0010ffff"
    # the speaker is read only when it is checked: it is not in the memory index, and
    # reading it costs a second lookup per row
    speaker = "e.speaker" if named else "NULL"
    best: dict[int, tuple[tuple[int, str, str, str], str]] = {}
    for start in range(0, len(keep), _CHUNK):
        part = keep[start : start + _CHUNK]
        # the kind and the scope are checked here: a condition on them would lead the
        # planner to read every item of the scope instead of the candidates' (memory index)
        for memory, kind, ns, item, who, n in (yield (
            f"SELECT e.memory, e.kind, e.ns, e.item, {speaker}, d.n FROM entity_items e JOIN entity_df d "
            "ON d.kind = e.kind AND d.ns = e.ns AND d.item = e.item "
            f"WHERE e.memory IN ({', '.join('?' * len(part))})",
            part,
        )):
            if kind not in wanted or not low <= ns < high or not fits(kind, item, who):
                continue
            key = (int(n), item, kind, ns)
            if memory not in best or key < best[memory][0]:
                best[memory] = (key, item)
    gains = {r: (best[r][1], weight * (1.0 / math.log(1.0 + best[r][0][0]))) for r in sorted(best)}
    if limit > 0:
        others = yield from _rarest(kinds, prefix, ns_cond, fits, set(keep), limit)
        gains.update((r, (item, weight * (1.0 / math.log(1.0 + n)))) for r, (item, n) in others.items())
    return gains


def _rarest(
    kinds: Sequence[str],
    prefix: Namespace,
    ns_cond: Callable[[Namespace, str], tuple[str, list[Any]]],
    fits: Callable[[str, str, str | None], bool],
    skip: set[int],
    limit: int,
) -> Generator[Step, list[Any], dict[int, tuple[str, int]]]:
    """The first ``limit`` memories outside ``skip`` met walking the items of ``kinds``
    rarest first (ties: by item, kind, namespace): rowid -> (item, df).

    Items are read a page at a time per kind (from the ``df`` index alone); holders
    for several rare items at once, and those of a common item only as far as needed.
    """
    scope, scope_params = ns_cond(prefix, "ns")
    where: dict[str, tuple[str, list[Any]]] = {}
    pages: dict[str, deque[tuple[int, str, str]]] = {}
    cursor: dict[str, tuple[int, str, str] | None] = {}
    for kind in kinds:
        ends = []
        for order in ("", " DESC"):
            found = yield (f"SELECT ns FROM entity_df WHERE kind = ? AND {scope} ORDER BY ns{order} LIMIT 1",
                           [kind, *scope_params])
            ends.append(found[0][0] if found else None)
        # one namespace (the usual scope): the index gives its items rarest first
        where[kind] = ("ns = ?", [ends[0]]) if ends[0] == ends[1] else (scope, scope_params)
        pages[kind], cursor[kind] = deque(), (0, "", "") if ends[0] is not None else None
    held: dict[tuple[str, str, str], list[tuple[int, str | None]]] = {}
    out: dict[int, tuple[str, int]] = {}
    seen: set[int] = set(skip)
    walked = 0
    while len(out) < limit and walked < MAX_ITEMS:
        for kind in kinds:
            at = cursor[kind]
            if not pages[kind] and at is not None:
                cond, params = where[kind]
                rows = yield (
                    f"SELECT n, item, ns FROM entity_df WHERE kind = ? AND {cond} AND (n, item, ns) > (?, ?, ?) "
                    "ORDER BY n, item, ns LIMIT ?",
                    [kind, *params, *at, PAGE],
                )
                pages[kind].extend((int(n), item, ns) for n, item, ns in rows)
                cursor[kind] = pages[kind][-1] if len(rows) == PAGE else None
        ready = [(q[0][0], q[0][1], k, q[0][2]) for k, q in pages.items() if q]
        if not ready:
            break
        n, item, kind, ns = min(ready)
        pages[kind].popleft()
        walked += 1
        if (kind, ns, item) not in held:  # this item's holders, and the next rare ones' of its kind
            batch = [item]
            total = n
            for n2, item2, ns2 in pages[kind]:
                if ns2 != ns or total + n2 > _HOLDERS or len(batch) >= PAGE:
                    break
                batch.append(item2)
                total += n2
            rows = yield (
                f"SELECT item, memory, speaker FROM entity_items WHERE kind = ? AND ns = ? AND item IN "
                f"({', '.join('?' * len(batch))}) ORDER BY item, memory LIMIT ?",
                [kind, ns, *batch, _HOLDERS],
            )
            for item2 in batch:
                held.setdefault((kind, ns, item2), [])
            for item2, memory, who in rows:
                held[(kind, ns, item2)].append((int(memory), who))
        holders = held.pop((kind, ns, item))
        while holders:
            for memory, who in holders:
                if memory not in seen and fits(kind, item, who):
                    seen.add(memory)
                    out[memory] = (item, n)
                    if len(out) >= limit:
                        return out
            if len(holders) < _HOLDERS or n <= _HOLDERS:
                break
            # a common item: its next holders (they were cut at the first _HOLDERS)
            holders = [(int(m), w) for m, w in (yield (
                "SELECT memory, speaker FROM entity_items WHERE kind = ? AND ns = ? AND item = ? AND memory > ? "
                "ORDER BY memory LIMIT ?",
                [kind, ns, item, holders[-1][0], _HOLDERS],
            ))]
    return out


_Result = TypeVar("_Result")


def run_sqlite(conn: Any, steps: Generator[Step, list[Any], _Result]) -> _Result:
    """Drive ``steps`` on an sqlite3 connection."""
    try:
        step = next(steps)
        while True:
            step = steps.send(conn.execute(*step).fetchall())
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
