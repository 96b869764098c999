"""Native search's keyword list: FTS5 matching, scored by BM25 over what a search can see.

The query's words become FTS5 terms (tokenized once per text); the commonest are
dropped past a posting budget; then each query's best hits are scored with the
statistics of the records it may see (``keyword_statistics="scope"``, the default),
or by FTS5's own bm25 over the whole file (``"store"``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from mnemos.memory_adapters._native_store import Store, filter_rows, marks
from mnemos.memory_adapters._ranking import RankingConfig, kept_terms
from mnemos.memory_adapters._text import fts_match, query_words
from mnemos.memory_adapters.base import SearchQuery

__all__ = ["QUERY_CACHE", "SCRATCH_ROWS", "keyword_lists", "keyword_lists_store", "keyword_match"]

Mask = npt.NDArray[np.bool_]
QUERY_CACHE = 256
"""Query texts whose embedding and FTS5 terms a store keeps (the whole cache is dropped when full)."""
_WORD_CACHE = 50_000
"""Query words whose FTS5 terms are kept (FTS5's tokenizer gives every store the same)."""
_WORD_TERMS: dict[str, tuple[str, ...]] = {}
_EMPTY_SCRATCH = "INSERT INTO t (t) VALUES ('delete-all')"
"""Empties the store's scratch FTS5 table (contentless, so nothing is tokenized again)."""


def keyword_match(store: Store, text: str, config: RankingConfig) -> tuple[str, list[str]] | None:
    """The MATCH expression for ``text``: its words OR-ed, with the most common dropped
    once their postings exceed ``config.max_keyword_postings`` (they would add little
    to bm25 and cost much)."""
    _, word_of = _query_terms(store, text)
    if not word_of:
        return None
    terms = list(word_of)
    docs = _document_frequencies(store, terms)
    kept = dict.fromkeys(word_of[t] for t in kept_terms(docs, terms, config.max_keyword_postings))
    match = fts_match(list(kept))
    if match is None:
        return None
    return match, [t for t in terms if word_of[t] in kept]


def _query_terms(store: Store, text: str) -> tuple[list[str], dict[str, str]]:
    """The words of ``text`` and FTS5's term for each (the first word giving it), cached
    per text, and the terms of each word across texts: the tokenizer depends on nothing
    stored, and sees each word on its own."""
    found = store.query_terms.get(text)
    if found is not None:
        return found
    words = query_words(text)
    known = {w: _WORD_TERMS.get(w) for w in words}
    new = [w for w, terms in known.items() if terms is None]
    if new:  # each word is tokenized on its own, so its terms are the same in any text
        tok = store.tokenizer  # used under the store's lock
        tok.execute(_EMPTY_SCRATCH)
        tok.executemany("INSERT INTO t (rowid, x) VALUES (?, ?)", enumerate(new, start=1))
        split: dict[str, list[str]] = {w: [] for w in new}
        for doc, term in tok.execute("SELECT doc, term FROM v ORDER BY doc, offset"):
            split[new[doc - 1]].append(term)
        if len(_WORD_TERMS) + len(split) > _WORD_CACHE:
            _WORD_TERMS.clear()
        for word, terms in split.items():
            known[word] = _WORD_TERMS[word] = tuple(terms)
    word_of: dict[str, str] = {}
    for word in words:
        for term in known[word] or ():
            word_of.setdefault(term, word)
    if len(store.query_terms) >= QUERY_CACHE:
        store.query_terms.clear()
    store.query_terms[text] = (words, word_of)
    return words, word_of


def _document_frequencies(store: Store, terms: list[str]) -> dict[str, int]:
    """How many memories hold each term; cached, as counting common terms is slow and
    only their rough size matters (the cache is dropped when the store grows by 10%)."""
    size = store.cache.n
    if abs(size - store.df_size) > store.df_size // 10 + 100:
        store.df_cache.clear()
        store.df_size = size
    missing = [t for t in terms if t not in store.df_cache]
    if missing:
        found = dict(store.conn.execute(
            f"SELECT term, doc FROM memories_vocab WHERE term IN ({marks(len(missing))})", missing
        ))
        if len(store.df_cache) > 100_000:
            store.df_cache.clear()
        store.df_cache.update({t: int(found.get(t, 0)) for t in missing})
    return {t: store.df_cache[t] for t in terms}


def keyword_lists(
    store: Store,
    queries: Sequence[SearchQuery],
    match: tuple[str, list[str]],
    want: int,
    masks: Sequence[Mask],
    *,
    k1: float = 1.2,
    b: float = 0.75,
    sizes: Sequence[int] | None = None,
) -> list[list[tuple[int, float]]]:
    """For each query, its best ``want`` keyword hits, scored by BM25 with statistics of
    the records that query can see (not of the whole file), so that nothing another
    scope stores changes the scores, ranks or reasons here.

    Every matching record is fetched (the match keeps words within the posting
    budget, so they are few), kept if it passes the query's filters, and scored:
    ``idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))`` with ``N`` the records the query's
    namespace, kind and time conditions admit and ``df`` those of them holding ``t``;
    term frequencies come from the index; lengths are counted in space-separated
    words, normalised by the mean length of the matching records (``k1`` and ``b`` from
    ``RankingConfig.bm25_k1`` and ``bm25_b_for(embedder)``). ``sizes``: how many slots each
    mask passes, if already counted.
    """
    expression, terms = match
    if sizes is None:
        sizes = [int(np.count_nonzero(mask)) for mask in masks]
    conn = store.conn
    cache = store.cache
    # A scope seeing most of the store reads each term's postings whole (when they give
    # the matching records exactly); a smaller one first reads which records match.
    broad = any(2 * size > cache.n - cache.dead for size in sizes)
    postings = None
    if broad and _one_term_each(expression):
        postings = _term_postings(conn, "temp.memories_instance", terms)
        rows = _distinct(postings[1])
    else:
        found = conn.execute(
            "SELECT group_concat(rowid, ' ') FROM memories_fts WHERE memories_fts MATCH ?", (expression,)
        ).fetchone()[0]
        rows = _distinct(_ints(found))
    if not len(rows):
        return [[] for _ in queries]
    # Lengths of the records a query can see come from the vector cache (the others
    # are never scored).
    slots = cache.slot_of.lookup(rows)
    cached = slots >= 0
    at = np.maximum(slots, 0)
    lengths = np.where(cached, cache.lengths[at], 0).astype(np.float64)
    # Which matches each query may see, first: only their postings are needed.
    oks: list[npt.NDArray[np.bool_]] = []
    for query, mask in zip(queries, masks, strict=True):
        ok = cached & mask[at]
        if query.filter and ok.any():
            kept = [k for k, _ in filter_rows(conn, rows[ok].tolist(), [0.0] * int(np.count_nonzero(ok)), query)]
            ok &= np.isin(rows, np.asarray(kept, dtype=np.int64))
        oks.append(ok)
    seen = np.logical_or.reduce(oks)
    if not seen.any():
        return [[] for _ in queries]
    if postings is None:
        postings = _postings(store, terms, rows[seen].tolist(), len(rows))
    term_ids, docs, counts = postings
    where_doc = np.minimum(np.searchsorted(rows, docs), len(rows) - 1)
    matched = rows[where_doc] == docs
    docs_pos, term_ids, counts = where_doc[matched], term_ids[matched], counts[matched]
    out: list[list[tuple[int, float]]] = []
    for ok, size in zip(oks, sizes, strict=True):
        chosen = np.flatnonzero(ok)
        if not len(chosen):
            out.append([])
            continue
        scores = _bm25(ok, chosen, lengths, docs_pos, term_ids, counts, len(terms), size, k1, b)[chosen]
        order = np.lexsort((rows[chosen], -scores))[:want]
        out.append(list(zip(rows[chosen[order]].tolist(), scores[order].tolist(), strict=True)))
    return out


Postings = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]
"""Each (term, record) pair holding it, ordered by term then record: the term's index,
the record's rowid, and how often the record holds the term."""
_TERM_SHIFT = 40
"""A posting is read as ``rowid + (term index << _TERM_SHIFT)`` (rowids stay below 2**40)."""


def _ints(text: str | None) -> npt.NDArray[np.int64]:
    """The integers of a space-separated list (parsed by numpy: no Python object per number)."""
    return np.fromstring(text, dtype=np.int64, sep=" ") if text else np.zeros(0, dtype=np.int64)


def _distinct(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The distinct ``values``, ascending (``np.unique`` without counts hashes them first,
    ten times slower on a few thousand postings)."""
    values = np.sort(values)
    return values[np.concatenate(([True], values[1:] != values[:-1]))] if len(values) else values


def _one_term_each(expression: str) -> bool:
    """Whether every quoted word of a MATCH expression is a single FTS5 term, so the
    records it matches are exactly those holding one of the terms. An ASCII letter
    or digit run is one token to unicode61; a word it splits (``"e_mail"``) is a
    phrase, which may match fewer records."""
    return all(len(w) > 2 and w[1:-1].isascii() and w[1:-1].isalnum() for w in expression.split(" OR "))


def _term_postings(conn: sqlite3.Connection, instances: str, terms: list[str]) -> Postings:
    """The postings of ``terms`` in an fts5vocab ``instances`` table, read in one statement
    as one string of integers (no Python object per posting): each instance of a term
    is its record's rowid plus the term's index shifted past every rowid, so sorting
    them groups the instances of each pair (term, record), in term then rowid order."""
    pairs = ", ".join(f"({i}, ?)" for i in range(len(terms)))
    found = None if not terms else conn.execute(
        f"WITH q(i, term) AS (VALUES {pairs}) "
        f"SELECT group_concat(v.doc + (q.i << {_TERM_SHIFT}), ' ') FROM q JOIN {instances} v ON v.term = q.term",
        terms,
    ).fetchone()[0]
    keys = np.sort(_ints(found))
    if not len(keys):
        return keys, keys, np.zeros(0, dtype=np.float64)
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    counts = np.diff(np.append(starts, len(keys))).astype(np.float64)
    pairs_found = keys[starts]
    return pairs_found >> _TERM_SHIFT, pairs_found & ((1 << _TERM_SHIFT) - 1), counts


SCRATCH_ROWS = 512
"""Up to this many visible matches, their term counts come from tokenizing them anew."""


def _postings(store: Store, terms: list[str], visible: list[int], matching: int) -> Postings:
    """The postings of ``terms`` in the ``visible`` matching records (and maybe others).

    FTS5's instance table walks every posting of the terms in the whole file, which
    costs milliseconds once other scopes hold thousands. When the query's scope sees
    only a few of the ``matching`` records, their stored text is tokenized again in the
    scratch table instead: the same tokenizer gives the same terms and counts.
    """
    if len(visible) > SCRATCH_ROWS or len(visible) * 2 > matching:
        return _term_postings(store.conn, "temp.memories_instance", terms)
    texts = store.conn.execute(
        f"SELECT rowid, content FROM memories WHERE rowid IN ({marks(len(visible))})", visible
    ).fetchall()
    tok = store.tokenizer  # used under the store's lock
    tok.execute(_EMPTY_SCRATCH)
    tok.executemany("INSERT INTO t (rowid, x) VALUES (?, ?)", texts)
    return _term_postings(tok, "v", terms)


def _bm25(
    ok: npt.NDArray[np.bool_],
    chosen: npt.NDArray[np.int64],
    lengths: npt.NDArray[np.float64],
    docs_pos: npt.NDArray[np.int64],
    term_ids: npt.NDArray[np.int64],
    counts: npt.NDArray[np.float64],
    n_terms: int,
    visible: int,
    k1: float = 1.2,
    b: float = 0.75,
) -> npt.NDArray[np.float64]:
    """BM25 of every matching record (only those where ``ok`` count, ``chosen`` their
    positions, and only their statistics are used); see :func:`keyword_lists`."""
    inside = ok[docs_pos]
    pos, tids, tf = docs_pos[inside], term_ids[inside], counts[inside]
    df = np.bincount(tids, minlength=n_terms).astype(np.float64)
    n = max(visible, len(chosen))
    idf = np.log1p((n - df + 0.5) / (df + 0.5))
    mean = float(lengths[chosen].sum()) / len(chosen) or 1.0  # their mean, as np.mean sums and divides
    norm = k1 * (1 - b + b * lengths[pos] / mean)
    weights = idf[tids] * tf * (k1 + 1) / (tf + norm)
    return np.asarray(np.bincount(pos, weights=weights, minlength=len(ok)), dtype=np.float64)


def keyword_lists_store(
    store: Store, queries: Sequence[SearchQuery], match: str, want: int, masks: Sequence[Mask]
) -> list[list[tuple[int, float]]]:
    """With ``keyword_statistics="store"``: for each query, the best ``want`` hits by FTS5's
    bm25 over the whole file, passing its filters (checked on the
    vector cache's columns, then the metadata filter), fetching more until enough pass.

    Every query scores all the postings of the match again, so the first one
    asks for more rows when the filters let few through (a namespace holding
    a tenth of the store), within bounds."""
    cache = store.cache
    passing = min(int(np.count_nonzero(mask)) for mask in masks)
    size = 2 * want
    if passing:
        size = min(max(size, size * (cache.n - cache.dead) // passing), 16 * want)
    while True:
        rows = store.conn.execute(
            "SELECT rowid, -bm25(memories_fts) FROM memories_fts WHERE memories_fts MATCH ? "
            "ORDER BY rank LIMIT ?",
            (match, size),
        ).fetchall()
        lists = []
        for query, mask in zip(queries, masks, strict=True):
            ok = store.cache.passes([r[0] for r in rows], mask)
            kept = [(r[0], r[1]) for r, good in zip(rows, ok, strict=True) if good]
            if query.filter:
                kept = filter_rows(store.conn, [k[0] for k in kept], [k[1] for k in kept], query)
            lists.append(kept)
        if len(rows) < size or all(len(kept) >= want for kept in lists):
            return [kept[:want] for kept in lists]
        size *= 4
