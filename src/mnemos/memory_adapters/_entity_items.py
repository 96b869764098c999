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
from collections.abc import Callable, Generator, Iterable, Sequence
from typing import Any

from mnemos.memory_adapters import _episodic_graph as eg
from mnemos.memory_adapters._namespace import Namespace

__all__ = ["MAX_ITEMS", "PAGE", "Step", "entity_steps", "run_sqlite"]

Step = tuple[str, list[Any]]
"""One statement (``?`` placeholders) and its parameters; the rows come back."""
Steps = Generator[Step, list[Any], dict[int, tuple[str, float]]]
PAGE = 200
"""Items read at once, per kind, rarest first."""
MAX_ITEMS = 20_000
"""At most this many items are read per kind for the memories outside the candidates."""
_CHUNK = 500


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
        return (not named or who in named) and not (kind in persony and eg.is_person(item, people))

    marks = ", ".join("?" * len(kinds))
    best: dict[int, tuple[tuple[int, str, str, str], str]] = {}
    for start in range(0, len(keep), _CHUNK):
        part = keep[start : start + _CHUNK]
        ecord, eparams = ns_cond(prefix, "e.ns")
        for memory, kind, ns, item, who, n in (yield (
            "SELECT e.memory, e.kind, e.ns, e.item, e.speaker, d.n FROM entity_items e JOIN entity_df d "
            "ON d.kind = e.kind AND d.ns = e.ns AND d.item = e.item "
            f"WHERE e.memory IN ({', '.join('?' * len(part))}) AND e.kind IN ({marks}) AND {ecord}",
            [*part, *kinds, *eparams],
        )):
            key = (int(n), item, kind, ns)
            if fits(kind, item, who) and (memory not in best or key < best[memory][0]):
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
    rarest first (ties: by item, kind, namespace): rowid -> (item, df)."""
    scope, scope_params = ns_cond(prefix, "ns")
    heads: dict[str, list[tuple[int, str, str, list[tuple[int, str | None]]]]] = {}
    cursor: dict[str, tuple[int, str, str] | None] = {}
    read: dict[str, int] = {}
    where: dict[str, tuple[str, list[Any]]] = {}
    for kind in kinds:
        cursor[kind], heads[kind], read[kind] = (0, "", ""), [], 0
        ends = []
        for order in ("", " DESC"):
            found = yield (f"SELECT ns FROM entity_df WHERE kind = ? AND {scope} ORDER BY ns{order} LIMIT 1",
                           [kind, *scope_params])
            ends.append(found[0][0] if found else None)
        if ends[0] is None:
            cursor[kind] = None
        # one namespace (the usual scope): the index gives its items rarest first
        where[kind] = ("ns = ?", [ends[0]]) if ends[0] == ends[1] else (scope, scope_params)
    out: dict[int, tuple[str, int]] = {}
    seen: set[int] = set(skip)
    while len(out) < limit:
        for kind in kinds:
            at = cursor[kind]
            if heads[kind] or at is None:
                continue
            if read[kind] >= MAX_ITEMS:
                cursor[kind] = None
                continue
            cond, params = where[kind]
            rows = yield (
                "SELECT d.n, d.item, d.ns, e.memory, e.speaker FROM (SELECT ns, item, n FROM entity_df "
                f"WHERE kind = ? AND {cond} AND (n, item, ns) > (?, ?, ?) ORDER BY n, item, ns LIMIT ?) d "
                "JOIN entity_items e ON e.kind = ? AND e.ns = d.ns AND e.item = d.item ORDER BY d.n, d.item, d.ns, e.memory",
                [kind, *params, *at, PAGE, kind],
            )
            page = heads[kind]
            for n, item, ns, memory, who in rows:
                if not page or page[-1][:3] != (n, item, ns):
                    page.append((int(n), item, ns, []))
                page[-1][3].append((int(memory), who))
            read[kind] += len(page)
            cursor[kind] = page[-1][:3] if len(page) == PAGE else None
        ready = [(heads[k][0][0], heads[k][0][1], k, heads[k][0][2]) for k in kinds if heads[k]]
        if not ready:
            break
        n, item, kind, ns = min(ready)
        _, _, _, holders = heads[kind].pop(0)
        for memory, who in holders:
            if memory not in seen and fits(kind, item, who):
                seen.add(memory)
                out[memory] = (item, n)
                if len(out) >= limit:
                    break
    return out


def run_sqlite(conn: Any, steps: Steps) -> dict[int, tuple[str, float]]:
    """Drive ``steps`` on an sqlite3 connection."""
    try:
        step = next(steps)
        while True:
            step = steps.send(conn.execute(*step).fetchall())
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
