"""Keyword search's term counts on PostgreSQL: which of a query's lexemes fit the posting budget.

Native keyword search drops a query's commonest terms once their postings pass
``RankingConfig.max_keyword_postings`` (the rarest is kept up to twice that).
PostgreSQL cannot count a lexeme's rows from the GIN index alone: each
matching row costs a visit to its heap page, so counting a common word at a
million memories reads thousands of pages. So:

- a count stops at the budget + 1 (a term past the budget is never kept beside
  a rarer one); only when every term of the query is past it do the counts go on
  to twice the budget + 1, the most the rarest may have;
- a lexeme that PostgreSQL's own statistics (``ANALYZE``'s most common elements
  of the ``tsvector`` column) put at :data:`MARGIN` times the needed count or
  more, plus every memory outside the search's scope (counted exactly, cached
  like the counts), is not counted: it is past the cap whichever way the estimate
  errs (ANALYZE's counts of common elements err low, not high; a sample's share
  is within a few percent for words this common);
- counts are cached per namespace prefix: on stores past :data:`EXACT_BELOW`
  memories until the table has changed by a tenth (PostgreSQL's row counters,
  read in one cheap catalog query), below that until the number of memories
  under the prefix changes.

Counts are exact wherever they decide a term's fate; the kept terms are the
same as with full counts.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

from mnemos.memory_adapters._namespace import Namespace
from mnemos.memory_adapters._postgres_io import Steps, fetch
from mnemos.memory_adapters._postgres_store import PgStore, ns_cond

__all__ = [
    "EXACT_BELOW",
    "MARGIN",
    "TableStats",
    "document_frequencies",
    "lexemes",
    "quote_lexeme",
    "table_stats",
]

EXACT_BELOW = 50_000
"""Stores smaller than this re-count a prefix's terms whenever its number of memories changes."""
MARGIN = 2.0
"""A lexeme estimated at this many times the cap is taken as past it, uncounted."""
_STATS_EVERY = 5.0
"""Seconds between reads of the table's statistics."""
_MAX_CACHED = 100_000


@dataclass(frozen=True)
class TableStats:
    """What PostgreSQL knows of the ``memories`` table without scanning it."""

    when: float
    live: int
    """Live rows (the activity counters, else the planner's estimate)."""
    changes: int
    """Rows inserted, updated and deleted since the counters started."""
    sampled: float
    """Rows when ``ANALYZE`` last ran (the base of ``common``)."""
    common: dict[str, float]
    """Share of rows holding each of the commonest lexemes (``ANALYZE``'s sample)."""


@dataclass
class _Cache:
    table: TableStats | None = None
    counts: dict[Namespace | None, dict[str, tuple[int, int]]] = field(default_factory=dict)
    """(count, the cap it was counted to) per lexeme, per namespace prefix."""
    marks: dict[Namespace | None, int] = field(default_factory=dict)
    outside: dict[Namespace | None, int] = field(default_factory=dict)
    """Memories outside each prefix (up to half the store), cleared with the counts."""
    lexemes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """The lexemes of each query word (they depend on the word alone)."""


_CACHES: weakref.WeakKeyDictionary[PgStore, _Cache] = weakref.WeakKeyDictionary()


def _cache(store: PgStore) -> _Cache:
    found = _CACHES.get(store)
    if found is None:
        found = _CACHES[store] = _Cache()
    return found


def quote_lexeme(lexeme: str) -> str:
    """A lexeme as a ``tsquery`` operand, quoted (never query syntax)."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def lexemes(store: PgStore, words: Sequence[str]) -> Steps[list[str]]:
    """The distinct lexemes of ``words`` in the store's text-search configuration, in the
    order the words give them (each word's are cached: no statement once all are known)."""
    cache = _cache(store)
    missing = [w for w in words if w not in cache.lexemes]
    if missing:
        rows = yield from fetch(
            """SELECT w.word, array(SELECT u.lexeme FROM unnest(to_tsvector(%s::regconfig, w.word)) AS u
                   ORDER BY u.positions[1], u.lexeme) FROM unnest(%s::text[]) AS w(word)""",
            (store.text_search, missing),
        )
        if len(cache.lexemes) > _MAX_CACHED:
            cache.lexemes.clear()
        cache.lexemes.update((w, tuple(found)) for w, found in rows)
    out: dict[str, None] = {}
    for word in words:
        out.update(dict.fromkeys(cache.lexemes.get(word, ())))
    return list(out)


def table_stats(store: PgStore) -> Steps[TableStats]:
    """The table's row counters and lexeme statistics, read at most every few seconds."""
    cache = _cache(store)
    now = time.monotonic()
    if cache.table is not None and now - cache.table.when < _STATS_EVERY:
        return cache.table
    rows = yield from fetch(
        """SELECT coalesce(s.n_live_tup, 0), coalesce(s.n_tup_ins + s.n_tup_upd + s.n_tup_del, 0),
                  greatest(c.reltuples, 0), p.most_common_elems::text::text[], p.most_common_elem_freqs
           FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
           LEFT JOIN pg_stats p ON p.schemaname = current_schema() AND p.tablename = 'memories'
                AND p.attname = 'tsv'
           WHERE c.oid = 'memories'::regclass"""
    )
    live, changes, sampled, elems, freqs = rows[0]
    common = dict(zip(elems or (), (float(f) for f in freqs or ()), strict=False))
    cache.table = TableStats(
        now, max(int(live), int(sampled)), int(changes), float(sampled), common
    )
    return cache.table


def document_frequencies(
    store: PgStore, lexemes: Sequence[str], cap: int, prefix: Namespace | None, mark: int
) -> Steps[dict[str, int]]:
    """How many memories under ``prefix`` (``None``: in the store) hold each lexeme, counted
    up to ``cap`` (a result of ``cap`` means "at least"). ``mark`` is what invalidates the
    cache (the table's change counter, or the count under the prefix on small stores)."""
    cache = _cache(store)
    table = yield from table_stats(store)
    counts = cache.counts.setdefault(prefix, {})
    last = cache.marks.get(prefix)
    small = table.live < EXACT_BELOW
    if last is None or (mark != last if small else abs(mark - last) > table.live // 10):
        counts.clear()
        cache.marks[prefix] = mark
        cache.outside.pop(prefix, None)
    out: dict[str, int] = {}
    missing: list[str] = []
    for term in lexemes:
        found = counts.get(term)
        if found is not None and (found[0] < found[1] or found[1] >= cap):
            out[term] = min(found[0], cap)
        else:
            missing.append(term)
    estimate = {t: table.common.get(t, 0.0) * table.sampled / MARGIN for t in missing}
    if any(e >= cap for e in estimate.values()):
        others = yield from _outside(store, cache, prefix, table)
        for term, value in estimate.items():
            if value - others >= cap:  # past the cap whatever the estimate's error: not counted
                out[term] = cap
                missing.remove(term)
    if missing:
        cond, params = ns_cond(prefix) if prefix is not None else ("true", [])
        rows = yield from fetch(
            f"""SELECT t.lexeme, (SELECT count(*) FROM (SELECT 1 FROM memories
                   WHERE tsv @@ t.q::tsquery AND {cond} LIMIT %s) hits)
               FROM unnest(%s::text[], %s::text[]) AS t(lexeme, q)""",
            (*params, cap, missing, [quote_lexeme(t) for t in missing]),
        )
        if sum(len(c) for c in cache.counts.values()) > _MAX_CACHED:
            cache.counts.clear()
            cache.marks.clear()
            counts = cache.counts[prefix] = {}
            cache.marks[prefix] = mark
        for term, n in rows:
            counts[term] = (int(n), cap)
            out[term] = int(n)
    return out


def _outside(
    store: PgStore, cache: _Cache, prefix: Namespace | None, table: TableStats
) -> Steps[int]:
    """Memories outside ``prefix`` (a B-tree range either side of it), counted up to half
    the store: past that no estimate can spare a count."""
    if prefix is None or not prefix:
        return 0
    found = cache.outside.get(prefix)
    if found is None:
        cond, params = ns_cond(prefix)
        limit = int(max(table.live, table.sampled) / MARGIN) + 1
        rows = yield from fetch(
            f"SELECT count(*) FROM (SELECT 1 FROM memories WHERE NOT {cond} LIMIT %s) o",
            (*params, limit),
        )
        found = cache.outside[prefix] = int(rows[0][0])
    return found
