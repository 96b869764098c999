"""The native memory adapter: one SQLite file, keyword + vector + hybrid search, a graph.

Everything lives in one SQLite file in WAL mode (see ``_native_schema`` for
the tables). Keyword search is FTS5 (``bm25``); vector search is brute-force
cosine over an in-process numpy matrix, so no SQLite extension is needed;
hybrid search fuses both rank lists and adds recency, importance, episode
neighbours and (on request) entity-graph links, each reported as a
:class:`~mnemos.memory_adapters.base.ScoreReason`.

Episode neighbours: episodic memories of one namespace that share their
provenance ``thread`` and their ``metadata["session"]`` (or ``"episode"``) form an
episode, ordered by ``created_at``; the events next to a strong hit share its
score (with neither set, the namespace's episodic memories form one episode).
Entities are extracted from semantic memories (capitalized phrases, quoted
names); :meth:`NativeMemoryAdapter.add_relation` adds explicit relations, and
``search(..., graph_hops=n)`` pulls in memories linked to the best hits.

Several threads may share one adapter (a lock serialises its connection) and
several processes may write the same file at once (``BEGIN IMMEDIATE`` with a
busy timeout and retries). Every mutation is one transaction; a write that
returned survives the process being killed.

>>> memory = NativeMemoryAdapter("memory.db", scope=("users", "alice"))  # doctest: +SKIP
>>> memory.add("Alice moved to Lisbon in May", namespace=("facts",), kind="semantic")  # doctest: +SKIP
>>> memory.search("where does Alice live?")  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote, urlparse

import networkx as nx
import numpy as np

from mnemos.config import default_store_path
from mnemos.exceptions import (
    ConfigurationError,
    EmbedderMismatchError,
    MemoryNotFoundError,
    StorageError,
    UsageError,
)
from mnemos.memory_adapters import _graph
from mnemos.memory_adapters._filters import matches_filter
from mnemos.memory_adapters._graph import Relation
from mnemos.memory_adapters._namespace import Namespace
from mnemos.memory_adapters._native_schema import (
    SCHEMA_VERSION,
    connect,
    from_micros,
    ns_key,
    ns_range,
    ns_tuple,
    to_micros,
    transaction,
)
from mnemos.memory_adapters._ranking import Candidate, RankingConfig, fuse, spread
from mnemos.memory_adapters._text import content_hash, fts_match, query_words
from mnemos.memory_adapters._vectors import VectorCache
from mnemos.memory_adapters.base import (
    BaseMemoryAdapter,
    Capability,
    MemoryKind,
    MemoryRecord,
    Provenance,
    ScoredMemory,
    ScoreReason,
    SearchQuery,
    utcnow,
)
from mnemos.memory_adapters.embedders.base import Embedder

__all__ = ["NativeMemoryAdapter", "RankingConfig", "Relation"]

_RECORD_COLUMNS = (
    "m.rowid, m.id, m.ns, m.kind, m.content, m.metadata, m.created_at, m.updated_at, "
    "m.importance, m.expires_at, m.provenance, m.valid_from, m.valid_to, m.superseded_by, "
    "m.version, m.episode"
)
_INSERT = """INSERT INTO memories (id, ns, kind, content, content_hash, metadata, created_at,
    updated_at, importance, expires_at, provenance, episode, valid_from, valid_to, superseded_by,
    version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
_CHUNK = 500
MEMORY = ":memory:"
"""The path of a private in-memory store (gone when the adapter closes)."""
_workers: tuple[int, ThreadPoolExecutor] | None = None
_workers_lock = threading.Lock()


def _worker_pool() -> ThreadPoolExecutor:
    """This process's worker threads (a forked child must not reuse its parent's)."""
    global _workers
    with _workers_lock:
        if _workers is None or _workers[0] != os.getpid():
            _workers = (os.getpid(), ThreadPoolExecutor(max_workers=4, thread_name_prefix="mnemos-vectors"))
        return _workers[1]
_PRUNE_CHANGES_ABOVE = 20_000


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _episode(record: MemoryRecord) -> str | None:
    """The key grouping an episodic record with its neighbouring events."""
    if record.kind is not MemoryKind.EPISODIC:
        return None
    md = record.metadata
    session = md.get("episode", md.get("session"))
    return json.dumps([record.provenance.thread, session], separators=(",", ":"), default=str)


def _row_to_record(row: Sequence[Any]) -> MemoryRecord:
    return MemoryRecord(
        id=row[1],
        namespace=ns_tuple(row[2]),
        kind=MemoryKind(row[3]),
        content=row[4],
        metadata=json.loads(row[5]),
        created_at=from_micros(row[6]),  # type: ignore[arg-type]
        updated_at=from_micros(row[7]),  # type: ignore[arg-type]
        importance=row[8],
        expires_at=from_micros(row[9]),
        provenance=Provenance.from_dict(json.loads(row[10])),
        valid_from=from_micros(row[11]),
        valid_to=from_micros(row[12]),
        superseded_by=row[13],
        version=row[14],
    )


def _resolve_embedder(spec: object) -> Embedder:
    from mnemos.memory_adapters.embedders import get_embedder

    return get_embedder(spec)


class _Store:
    """State shared by an adapter and its scoped views: the connection, lock and caches."""

    def __init__(self, path: Path, root: Namespace, embedder: Embedder, conn: sqlite3.Connection) -> None:
        self.path = path
        self.root = root
        self.embedder = embedder
        self.conn = conn
        self.lock = threading.RLock()
        self.own_writes = 0
        self.cache = VectorCache(root, embedder.dims)
        self.graphs: dict[tuple[Namespace, int, int], nx.Graph] = {}
        self.closed = False
        self.write_depth = 0
        self.df_cache: dict[str, int] = {}
        self.df_size = 0
        # A scratch FTS5 table with the store's tokenizer, to see query words as FTS5 does.
        self.tokenizer = sqlite3.connect(":memory:", check_same_thread=False)
        self.tokenizer.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='porter unicode61')")
        self.tokenizer.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")


class NativeMemoryAdapter(BaseMemoryAdapter):
    """Memory in one local SQLite file; the default adapter.

    ``path`` is the store file (``None``: ``$MNEMOS_HOME/memory.db``; ``":memory:"``
    for a throw-away store private to this adapter).
    ``embedder`` is anything :func:`~mnemos.memory_adapters.embedders.get_embedder`
    accepts; ``None`` reopens the embedder the store recorded (or the configured
    default for a new store). A different embedder than the recorded one raises
    :class:`~mnemos.exceptions.EmbedderMismatchError`; :meth:`reembed` switches.
    ``ranking`` tunes hybrid search. ``durable=True`` makes commits survive power
    loss too (``synchronous=FULL``); by default they survive a crashed process.
    """

    name: ClassVar[str] = "native"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.KEYWORD_SEARCH,
            Capability.VECTOR_SEARCH,
            Capability.HYBRID_SEARCH,
            Capability.METADATA_FILTER,
            Capability.TIME_FILTER,
            Capability.UPDATE,
            Capability.HISTORY,
            Capability.DELETE,
            Capability.TTL,
            Capability.DEDUP,
            Capability.SUPERSEDE,
            Capability.GRAPH,
            Capability.EXPORT,
            Capability.PRESERVE_IDS,
        }
    )

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        scope: Sequence[str] = (),
        embedder: object = None,
        clock: Callable[[], datetime] = utcnow,
        ranking: RankingConfig | None = None,
        durable: bool = False,
    ) -> None:
        super().__init__(scope=scope, clock=clock)
        if path is None:
            path = default_store_path()
        if not isinstance(path, (str, Path)) or not str(path):
            raise ConfigurationError(f"a native store path is a file path, not {path!r}")
        file = Path(path).expanduser()
        if str(path) != MEMORY:
            if file.is_dir():
                raise ConfigurationError(f"{file} is a directory; give the path of the store file")
            try:
                file.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot create {file.parent}: {exc}") from exc
        conn = connect(file, durable=durable)
        try:
            chosen = self._open_embedder(conn, embedder)
        except BaseException:
            conn.close()
            raise
        self._store = _Store(file, self._scope, chosen, conn)
        self.ranking = ranking or RankingConfig()

    @staticmethod
    def _open_embedder(conn: sqlite3.Connection, spec: object) -> Embedder:
        stored = dict(conn.execute("SELECT key, value FROM meta WHERE key LIKE 'embedder%'").fetchall())
        name = stored.get("embedder")
        chosen = _resolve_embedder(name if spec is None and name else spec)
        if name is None:
            with transaction(conn):
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('embedder', ?)", (chosen.name,))
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('embedder_dims', ?)", (str(chosen.dims),))
            name = conn.execute("SELECT value FROM meta WHERE key = 'embedder'").fetchone()[0]
        if name != chosen.name:
            raise EmbedderMismatchError(name, chosen.name)
        return chosen

    @classmethod
    def from_url(cls, url: str, *, scope: Sequence[str] = (), embedder: object = None) -> NativeMemoryAdapter:
        """Open ``native:///abs/path.db`` (or ``native://`` for the default store)."""
        parsed = urlparse(url)
        if parsed.scheme != "native":
            raise ConfigurationError(f"not a native store URL: {url!r}")
        if parsed.netloc and parsed.netloc != "localhost":
            raise ConfigurationError(
                f"native store URLs have no host: write native:///absolute/path.db, not {url!r}"
            )
        path = unquote(parsed.path)
        return cls(path or None, scope=scope, embedder=embedder)

    # -- properties ---------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The store file."""
        return self._store.path

    @property
    def embedder(self) -> Embedder:
        """The embedder that makes this store's vectors."""
        return self._store.embedder

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        store = self._store
        with store.lock:
            if store.closed:
                raise UsageError("this memory adapter is closed")
            try:
                yield store.conn
            except sqlite3.DatabaseError as exc:
                raise StorageError(f"memory store {store.path}: {exc}") from exc

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; nested uses join the outer one (see :meth:`_exclusive`)."""
        store = self._store
        with self._locked() as conn:
            if store.write_depth:
                store.write_depth += 1
                try:
                    yield conn
                finally:
                    store.write_depth -= 1
                return
            with transaction(conn):
                store.write_depth = 1
                try:
                    yield conn
                finally:
                    store.write_depth = 0
                store.own_writes += 1
                if store.own_writes % 256 == 0:
                    self._prune_changes(conn)

    def _exclusive(self) -> AbstractContextManager[object]:
        """Read-modify-write (update, supersede) inside one ``BEGIN IMMEDIATE`` transaction,
        so other threads, handles and processes cannot interleave and the step is atomic."""
        return self._writing()

    @staticmethod
    def _prune_changes(conn: sqlite3.Connection) -> None:
        if conn.execute("SELECT count(*) FROM changes").fetchone()[0] > _PRUNE_CHANGES_ABOVE:
            conn.execute("DELETE FROM changes")
            _bump_epoch(conn)

    def _embed(self, texts: Sequence[str]) -> list[bytes]:
        vectors = np.ascontiguousarray(self._store.embedder.embed(list(texts)), dtype=np.float32)
        return [row.tobytes() for row in vectors]

    # -- the abstract core ------------------------------------------------------------------

    def _add(self, records: Sequence[MemoryRecord], *, dedup: bool) -> list[MemoryRecord]:
        blobs = self._embed([r.content for r in records])
        with self._writing() as conn:
            return self._insert(conn, records, blobs, dedup=dedup)

    def _insert(
        self, conn: sqlite3.Connection, records: Sequence[MemoryRecord], blobs: Sequence[bytes], *, dedup: bool
    ) -> list[MemoryRecord]:
        hashes = [content_hash(r.content) for r in records]
        result: list[MemoryRecord] = list(records)
        keep = [True] * len(records)
        if dedup:
            now = to_micros(self.now())
            existing: dict[tuple[str, str], MemoryRecord] = {}
            for chunk in _chunks(sorted(set(hashes))):
                for row in conn.execute(
                    f"SELECT {_RECORD_COLUMNS}, m.content_hash FROM memories m WHERE m.content_hash "
                    f"IN ({_marks(len(chunk))}) AND m.valid_to IS NULL "
                    "AND (m.expires_at IS NULL OR m.expires_at > ?)",
                    [*chunk, now],
                ):
                    existing.setdefault((row[2], row[16]), _row_to_record(row))
            for i, (record, digest) in enumerate(zip(records, hashes, strict=True)):
                key = (ns_key(record.namespace), digest)
                if key in existing:
                    result[i] = existing[key]
                    keep[i] = False
                else:
                    existing[key] = record
        fresh = [i for i in range(len(records)) if keep[i]]
        ids = [records[i].id for i in fresh]
        for chunk in _chunks(ids):
            conn.execute(f"DELETE FROM memories WHERE id IN ({_marks(len(chunk))})", list(chunk))
        conn.executemany(
            _INSERT,
            (
                (
                    r.id, ns_key(r.namespace), r.kind.value, r.content, hashes[i],
                    json.dumps(r.metadata, ensure_ascii=False), to_micros(r.created_at),
                    to_micros(r.updated_at), r.importance, to_micros(r.expires_at),
                    json.dumps(r.provenance.to_dict(), ensure_ascii=False), _episode(r),
                    to_micros(r.valid_from), to_micros(r.valid_to), r.superseded_by, r.version,
                )
                for i in fresh
                for r in (records[i],)
            ),
        )
        if fresh:
            # AUTOINCREMENT under the write lock: this batch got consecutive rowids.
            last = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'memories'").fetchone()[0]
            first = last - len(fresh) + 1
            check = conn.execute("SELECT id FROM memories WHERE rowid = ?", (first,)).fetchone()
            if check is None or check[0] != records[fresh[0]].id:  # pragma: no cover - defensive
                raise StorageError("unexpected rowids while inserting memories")
            conn.executemany(
                "INSERT INTO vectors (rowid, embedding) VALUES (?, ?)",
                ((first + j, blobs[i]) for j, i in enumerate(fresh)),
            )
            _graph.index_mentions(
                conn,
                (
                    (first + j, ns_key(records[i].namespace), records[i].content)
                    for j, i in enumerate(fresh)
                    if records[i].kind is MemoryKind.SEMANTIC
                ),
            )
        return result

    @staticmethod
    def _rowids(conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for chunk in _chunks(ids):
            out.update(
                conn.execute(f"SELECT id, rowid FROM memories WHERE id IN ({_marks(len(chunk))})", list(chunk))
            )
        return out

    def _get(self, ids: Sequence[str]) -> list[MemoryRecord | None]:
        found: dict[str, MemoryRecord] = {}
        now = self.now()
        with self._locked() as conn:
            for chunk in _chunks(list(ids)):
                for row in conn.execute(
                    f"SELECT {_RECORD_COLUMNS} FROM memories m WHERE m.id IN ({_marks(len(chunk))})",
                    list(chunk),
                ):
                    record = _row_to_record(row)
                    if not record.is_expired(now):
                        found[record.id] = record
        return [found.get(i) for i in ids]

    def _update(self, record: MemoryRecord) -> MemoryRecord:
        with self._writing() as conn:
            row = conn.execute(
                f"SELECT {_RECORD_COLUMNS} FROM memories m WHERE m.id = ?", (record.id,)
            ).fetchone()
            if row is None:
                raise MemoryNotFoundError(record.id)
            old = _row_to_record(row)
            conn.execute(
                "INSERT OR REPLACE INTO history (id, version, record) VALUES (?, ?, ?)",
                (old.id, old.version, json.dumps(old.to_dict(), ensure_ascii=False)),
            )
            changed_text = record.content != old.content
            blob = self._embed([record.content])[0] if changed_text else None
            conn.execute(
                """UPDATE memories SET ns = ?, kind = ?, content = ?, content_hash = ?, metadata = ?,
                   created_at = ?, updated_at = ?, importance = ?, expires_at = ?, provenance = ?,
                   episode = ?, valid_from = ?, valid_to = ?, superseded_by = ?, version = ?
                   WHERE id = ?""",
                (
                    ns_key(record.namespace), record.kind.value, record.content,
                    content_hash(record.content), json.dumps(record.metadata, ensure_ascii=False),
                    to_micros(record.created_at), to_micros(record.updated_at), record.importance,
                    to_micros(record.expires_at),
                    json.dumps(record.provenance.to_dict(), ensure_ascii=False), _episode(record),
                    to_micros(record.valid_from), to_micros(record.valid_to), record.superseded_by,
                    record.version, record.id,
                ),
            )
            if blob is not None:
                conn.execute("UPDATE vectors SET embedding = ? WHERE rowid = ?", (blob, row[0]))
            if changed_text and record.kind is MemoryKind.SEMANTIC:
                _graph.index_mentions(conn, [(row[0], ns_key(record.namespace), record.content)])
        return record

    def _delete(self, ids: Sequence[str]) -> int:
        count = 0
        with self._writing() as conn:
            for chunk in _chunks(list(ids)):
                marks = _marks(len(chunk))
                count += conn.execute(f"DELETE FROM memories WHERE id IN ({marks})", list(chunk)).rowcount
                conn.execute(f"DELETE FROM history WHERE id IN ({marks})", list(chunk))
                conn.execute(f"DELETE FROM relations WHERE memory_id IN ({marks})", list(chunk))
        return count

    def _history(self, memory_id: str) -> list[MemoryRecord]:
        with self._locked() as conn:
            rows = conn.execute(
                "SELECT record FROM history WHERE id = ? ORDER BY version", (memory_id,)
            ).fetchall()
        return [MemoryRecord.from_dict(json.loads(r[0])) for r in rows]

    def _purge(self, now: datetime, namespace_prefix: Namespace) -> int:
        cond, params = ns_range(namespace_prefix)
        with self._writing() as conn:
            where = f"expires_at IS NOT NULL AND expires_at <= ? AND {cond}"
            args = [to_micros(now), *params]
            for table, column in (("history", "id"), ("relations", "memory_id")):
                conn.execute(
                    f"DELETE FROM {table} WHERE {column} IN (SELECT id FROM memories WHERE {where})", args
                )
            return conn.execute(f"DELETE FROM memories WHERE {where}", args).rowcount

    def _namespaces(self, prefix: Namespace) -> list[Namespace]:
        cond, params = ns_range(prefix)
        with self._locked() as conn:
            rows = conn.execute(
                f"SELECT DISTINCT ns FROM memories WHERE {cond} "
                "AND (expires_at IS NULL OR expires_at > ?) ORDER BY ns",
                [*params, to_micros(self.now())],
            ).fetchall()
        return sorted(ns_tuple(r[0]) for r in rows)

    def _count(self, prefix: Namespace) -> int:
        cond, params = ns_range(prefix)
        with self._locked() as conn:
            return int(
                conn.execute(
                    f"SELECT count(*) FROM memories WHERE {cond} AND (expires_at IS NULL OR expires_at > ?)",
                    [*params, to_micros(self.now())],
                ).fetchone()[0]
            )

    def _close(self) -> None:
        store = self._store
        with store.lock:
            if not store.closed:
                store.closed = True
                store.conn.close()
                store.tokenizer.close()

    def _import_records(
        self,
        records: Sequence[MemoryRecord],
        *,
        on_progress: Callable[[int, int], None] | None,
        batch_size: int,
    ) -> None:
        """Store imported records in ONE transaction, reporting progress after each batch."""
        total = len(records)
        with self._writing() as conn:
            done = 0
            for batch in _chunks(records, max(1, batch_size)):
                self._insert(conn, batch, self._embed([r.content for r in batch]), dedup=False)
                done += len(batch)
                if on_progress is not None:
                    on_progress(done, total)
        if on_progress is not None and total == 0:
            on_progress(0, 0)

    # -- search ---------------------------------------------------------------------------

    def search(  # type: ignore[override]
        self,
        query: str | None = None,
        *,
        graph_hops: int | None = None,
        ranking: RankingConfig | None = None,
        **kwargs: Any,
    ) -> list[ScoredMemory]:
        """Hybrid search (see :meth:`BaseMemoryAdapter.search`), plus native options.

        ``graph_hops`` pulls in memories linked to the best hits through the
        entity graph (1: they name the same entity; 2: one relation further...).
        ``ranking`` overrides this adapter's :class:`RankingConfig` for one call.
        """
        if graph_hops is None and ranking is None:
            return super().search(query, **kwargs)
        config = ranking or self.ranking
        if graph_hops is not None:
            if isinstance(graph_hops, bool) or not isinstance(graph_hops, int) or graph_hops < 0:
                raise UsageError(f"graph_hops is a non-negative integer, got {graph_hops!r}")
            config = replace(config, graph_hops=graph_hops)
        tuned = copy.copy(self)
        tuned.ranking = config
        return BaseMemoryAdapter.search(tuned, query, **kwargs)

    def _search(self, query: SearchQuery) -> list[ScoredMemory]:
        if query.text is None:
            return [ScoredMemory(record=r, score=0.0) for r in self._listing(query)]
        return self._ranked(query, self.ranking)

    @staticmethod
    def _where(query: SearchQuery) -> tuple[list[str], list[Any]]:
        cond, ns_params = ns_range(query.namespace_prefix, "m.ns")
        params: list[Any] = list(ns_params)
        conds = [cond, "(m.expires_at IS NULL OR m.expires_at > ?)"]
        params.append(to_micros(query.now))
        if query.kinds is not None:
            conds.append(f"m.kind IN ({_marks(len(query.kinds))})")
            params.extend(sorted(k.value for k in query.kinds))
        if not query.include_superseded:
            conds.append("m.valid_to IS NULL")
        if query.since is not None:
            conds.append("m.created_at >= ?")
            params.append(to_micros(query.since))
        if query.until is not None:
            conds.append("m.created_at <= ?")
            params.append(to_micros(query.until))
        return conds, params

    def _listing(self, query: SearchQuery) -> list[MemoryRecord]:
        conds, params = self._where(query)
        sql = f"SELECT {_RECORD_COLUMNS} FROM memories m WHERE {' AND '.join(conds)} ORDER BY m.created_at DESC, m.id DESC"
        with self._locked() as conn:
            if not query.filter:
                if query.limit is not None or query.offset:
                    sql += " LIMIT ? OFFSET ?"
                    params += [query.limit if query.limit is not None else -1, query.offset]
                return [_row_to_record(r) for r in conn.execute(sql, params)]
            out: list[MemoryRecord] = []
            skip = query.offset
            for row in conn.execute(sql, params):
                if not matches_filter(json.loads(row[5]), query.filter):
                    continue
                if skip:
                    skip -= 1
                    continue
                out.append(_row_to_record(row))
                if query.limit is not None and len(out) >= query.limit:
                    break
            return out

    def _keyword_match(self, conn: sqlite3.Connection, text: str, config: RankingConfig) -> str | None:
        """The MATCH expression for ``text``: its words OR-ed, rarest first, and the most
        common dropped once their postings exceed ``config.max_keyword_postings`` (they
        would add little to bm25 and cost much)."""
        words = query_words(text)
        if not words:
            return None
        tok = self._store.tokenizer
        tok.execute("DELETE FROM t")
        tok.executemany("INSERT INTO t (rowid, x) VALUES (?, ?)", enumerate(words, start=1))
        word_of: dict[str, str] = {}
        for doc, term in tok.execute("SELECT doc, term FROM v ORDER BY doc, offset"):
            word_of.setdefault(term, words[doc - 1])
        if not word_of:
            return None
        terms = list(word_of)
        docs = self._document_frequencies(conn, terms)
        kept: dict[str, None] = {}
        total = 0
        budget = config.max_keyword_postings
        for count, term in sorted((docs[t], t) for t in terms if docs.get(t)):
            if total + count > budget and (kept or count > 2 * budget):
                break
            kept.setdefault(word_of[term], None)
            total += count
        return fts_match(list(kept))

    def _document_frequencies(self, conn: sqlite3.Connection, terms: list[str]) -> dict[str, int]:
        """How many memories hold each term; cached, as counting common terms is slow and
        only their rough size matters (the cache is dropped when the store grows by 10%)."""
        store = self._store
        size = store.cache.n
        if abs(size - store.df_size) > store.df_size // 10 + 100:
            store.df_cache.clear()
            store.df_size = size
        missing = [t for t in terms if t not in store.df_cache]
        if missing:
            found = dict(conn.execute(
                f"SELECT term, doc FROM memories_vocab WHERE term IN ({_marks(len(missing))})", missing
            ))
            if len(store.df_cache) > 100_000:
                store.df_cache.clear()
            store.df_cache.update({t: int(found.get(t, 0)) for t in missing})
        return {t: store.df_cache[t] for t in terms}

    def _keyword_list(
        self, conn: sqlite3.Connection, query: SearchQuery, match: str, want: int, mask: np.ndarray
    ) -> list[tuple[int, float]]:
        """The best ``want`` bm25 hits passing the query's filters (checked on the vector
        cache's columns, then the metadata filter), fetching more until enough pass."""
        cache = self._store.cache
        size = 2 * want
        while True:
            rows = conn.execute(
                "SELECT rowid, -bm25(memories_fts) FROM memories_fts WHERE memories_fts MATCH ? "
                "ORDER BY rank LIMIT ?",
                (match, size),
            ).fetchall()
            ok = cache.passes([r[0] for r in rows], mask)
            kept = [(r[0], r[1]) for r, good in zip(rows, ok, strict=True) if good]
            if query.filter:
                kept = self._filter_rows(conn, [k[0] for k in kept], [k[1] for k in kept], query)
            if len(kept) >= want or len(rows) < size:
                return kept[:want]
            size *= 4

    def _vector_list(
        self,
        conn: sqlite3.Connection,
        query: SearchQuery,
        vector: np.ndarray,
        want: int,
        mask: np.ndarray,
        best: Future[tuple[np.ndarray, np.ndarray]],
    ) -> list[tuple[int, float]]:
        cache = self._store.cache
        rowids, sims = best.result()
        if not query.filter:
            return list(zip(rowids.tolist(), sims.tolist(), strict=True))
        kept = self._filter_rows(conn, rowids.tolist(), sims.tolist(), query)
        if len(kept) >= want or len(rowids) < want:
            return kept[:want]
        rowids, sims = cache.ranked(vector, mask)
        kept = []
        for start in range(0, len(rowids), 4 * _CHUNK):
            stop = start + 4 * _CHUNK
            kept += self._filter_rows(conn, rowids[start:stop].tolist(), sims[start:stop].tolist(), query)
            if len(kept) >= want:
                break
        return kept[:want]

    @staticmethod
    def _filter_rows(
        conn: sqlite3.Connection, rowids: list[int], scores: list[float], query: SearchQuery
    ) -> list[tuple[int, float]]:
        metadata: dict[int, str] = {}
        for chunk in _chunks(rowids):
            metadata.update(
                conn.execute(f"SELECT rowid, metadata FROM memories WHERE rowid IN ({_marks(len(chunk))})", list(chunk))
            )
        return [
            (r, s) for r, s in zip(rowids, scores, strict=True)
            if r in metadata and matches_filter(json.loads(metadata[r]), query.filter)
        ]

    def _refresh(self, conn: sqlite3.Connection) -> None:
        store = self._store
        store.cache.refresh(conn, store.own_writes, store.embedder.name)

    def _ranked(self, query: SearchQuery, config: RankingConfig) -> list[ScoredMemory]:
        text = query.text or ""
        limit = query.limit if query.limit is not None else 10
        want = max(config.candidates, limit + query.offset)
        vector = None
        if config.mode in ("hybrid", "vector"):
            vector = np.asarray(self._store.embedder.embed_query(text), dtype=np.float32)
        with self._locked() as conn:
            self._refresh(conn)
            cache = self._store.cache
            mask = cache.mask(query)
            # The matrix product runs on a worker thread while SQLite does the keyword
            # search (both release the GIL); the cache is not changed until both are done.
            best = _worker_pool().submit(cache.top, vector, mask, want) if vector is not None else None
            try:
                match = self._keyword_match(conn, text, config) if config.mode != "vector" else None
                keyword = self._keyword_list(conn, query, match, want, mask) if match else []
            finally:
                vectors = (
                    self._vector_list(conn, query, vector, want, mask, best)
                    if vector is not None and best is not None
                    else []
                )
            cands = fuse(keyword, vectors, config)
            if config.neighbour_weight > 0 and cands:
                self._add_neighbours(conn, query, config, cands, mask)
            if config.graph_hops > 0 and cands:
                self._add_graph(conn, query, config, cands, mask)
            slots = np.asarray([cache.slot_of[r] for r in cands], dtype=np.int64)
            rowids = list(cands)
            now = to_micros(query.now) or 0
            half_life = config.recency_half_life_days
            if config.recency_weight and len(slots):
                ages = (now - cache.created[slots]) / 1e6
                decays = np.exp(-np.log(2) * np.maximum(ages, 0.0) / (half_life * 86400.0))
                for rowid, decay in zip(rowids, decays.tolist(), strict=True):
                    cand = cands[rowid]
                    cand.score += config.recency_weight * decay
                    cand.reasons.append(ScoreReason(
                        signal="recency", value=decay, contribution=config.recency_weight * decay,
                        detail=f"half-life {half_life:g} days",
                    ))
            if config.importance_weight and len(slots):
                for rowid, imp in zip(rowids, cache.importance[slots].tolist(), strict=True):
                    cand = cands[rowid]
                    value = config.importance_weight * (imp - 0.5)
                    cand.score += value
                    cand.reasons.append(ScoreReason(signal="importance", value=imp, contribution=value))
            ranked = sorted(cands.values(), key=lambda c: (-c.score, c.rowid))
            ranked = ranked[query.offset : query.offset + limit]
            records = self._records(conn, [c.rowid for c in ranked])
        return [
            ScoredMemory(record=records[c.rowid], score=c.score, reasons=tuple(c.reasons))
            for c in ranked
            if c.rowid in records
        ]

    @staticmethod
    def _records(conn: sqlite3.Connection, rowids: Sequence[int]) -> dict[int, MemoryRecord]:
        out: dict[int, MemoryRecord] = {}
        for chunk in _chunks(list(rowids)):
            for row in conn.execute(
                f"SELECT {_RECORD_COLUMNS} FROM memories m WHERE m.rowid IN ({_marks(len(chunk))})", list(chunk)
            ):
                out[row[0]] = _row_to_record(row)
        return out

    @staticmethod
    def _ids(conn: sqlite3.Connection, rowids: Sequence[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for chunk in _chunks(list(rowids)):
            out.update(conn.execute(f"SELECT rowid, id FROM memories WHERE rowid IN ({_marks(len(chunk))})", list(chunk)))
        return out

    def _admit(
        self,
        conn: sqlite3.Connection,
        query: SearchQuery,
        cands: dict[int, Candidate],
        mask: np.ndarray,
        gains: Mapping[int, tuple[int, float]],
        reason: Callable[[int, int, float], ScoreReason],
    ) -> None:
        """Add score ``gains`` (target -> (source, value)) to candidates, admitting new ones
        only if they pass the query's filters."""
        new = [t for t in gains if t not in cands]
        ok = self._store.cache.passes(new, mask)
        new = [t for t, good in zip(new, ok, strict=True) if good]
        if query.filter and new:
            new = [r for r, _ in self._filter_rows(conn, new, [0.0] * len(new), query)]
        allowed = set(new)
        for target, (source, value) in gains.items():
            cand = cands.get(target)
            if cand is None:
                if target not in allowed:
                    continue
                cand = cands[target] = Candidate(rowid=target)
            cand.score += value
            cand.reasons.append(reason(target, source, value))

    def _add_neighbours(
        self,
        conn: sqlite3.Connection,
        query: SearchQuery,
        config: RankingConfig,
        cands: dict[int, Candidate],
        mask: np.ndarray,
    ) -> None:
        seeds = [c.rowid for c in sorted(cands.values(), key=lambda c: -c.fusion)[: config.neighbour_seeds]]
        window = max(1, config.neighbour_window)
        links: dict[int, list[tuple[int, float]]] = {}
        ids: dict[int, str] = {}
        rows = conn.execute(
            f"SELECT rowid, id, ns, episode, created_at FROM memories WHERE rowid IN ({_marks(len(seeds))})",
            seeds,
        ).fetchall()
        for rowid, memory_id, ns, episode, created in rows:
            if episode is None:
                continue
            ids[rowid] = memory_id
            found: list[tuple[int, float]] = []
            for op, order in (("<", "DESC"), (">", "ASC")):
                near = conn.execute(
                    f"""SELECT rowid FROM memories WHERE ns = ? AND episode = ?
                        AND (created_at, rowid) {op} (?, ?)
                        ORDER BY created_at {order}, rowid {order} LIMIT ?""",
                    (ns, episode, created, rowid, window),
                ).fetchall()
                found += [
                    (r[0], config.neighbour_weight * (1.0 - i / (window + 1)))
                    for i, r in enumerate(near)
                ]
            links[rowid] = found
        gains = spread(cands, links)
        self._admit(
            conn, query, cands, mask, gains,
            lambda target, source, value: ScoreReason(
                signal="neighbour", value=cands[source].fusion, contribution=value,
                detail=f"next to {ids[source]} in the same episode",
            ),
        )

    def _add_graph(
        self,
        conn: sqlite3.Connection,
        query: SearchQuery,
        config: RankingConfig,
        cands: dict[int, Candidate],
        mask: np.ndarray,
    ) -> None:
        graph = self._graph(conn, query.namespace_prefix)
        seeds = [c.rowid for c in sorted(cands.values(), key=lambda c: -c.fusion)[: config.graph_seeds]]
        reached = _graph.memory_hops(graph, seeds, config.graph_hops)
        gains: dict[int, tuple[int, float]] = {}
        for target, (hops, source) in reached.items():
            value = config.graph_weight * cands[source].fusion * config.graph_decay ** (hops - 1)
            gains[target] = (source, value)
        best = dict(sorted(gains.items(), key=lambda kv: -kv[1][1])[: config.graph_limit])
        ids = self._ids(conn, seeds)
        self._admit(
            conn, query, cands, mask, best,
            lambda target, source, value: ScoreReason(
                signal="graph", value=float(reached[target][0]), contribution=value,
                detail=f"{reached[target][0]} hop(s) from {ids.get(source, source)}",
            ),
        )

    def _graph(self, conn: sqlite3.Connection, prefix: Namespace) -> nx.Graph:
        store = self._store
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        key = (prefix, version, store.own_writes)
        graph = store.graphs.get(key)
        if graph is None:
            graph = _graph.build_graph(conn, prefix)
            store.graphs = {key: graph}
        return graph

    # -- graph API ------------------------------------------------------------------------

    def add_relation(
        self,
        subject: str,
        predicate: str,
        object: str,
        *,
        namespace: Sequence[str],
        memory_id: str | None = None,
    ) -> Relation:
        """Record ``subject -predicate-> object`` in ``namespace`` (relative to the scope).

        ``memory_id`` names the memory the relation came from (it must be in scope);
        the relation is removed when that memory is deleted.
        """
        self.require(Capability.GRAPH)
        for label, value in (("subject", subject), ("predicate", predicate), ("object", object)):
            if not isinstance(value, str) or not value.strip():
                raise UsageError(f"a relation's {label} is a non-empty string, got {value!r}")
        ns = self._abs(namespace, allow_empty=False)
        if memory_id is not None:
            self._get_abs(memory_id)
        key = ns_key(ns)
        with self._writing() as conn:
            s = _graph.ensure_entity(conn, key, subject)
            o = _graph.ensure_entity(conn, key, object)
            conn.execute(
                """INSERT INTO relations (ns, subject, predicate, object, memory_id, created_at)
                   VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (ns, subject, predicate, object)
                   DO UPDATE SET memory_id = coalesce(excluded.memory_id, memory_id)""",
                (key, s, predicate.strip(), o, memory_id, to_micros(self.now())),
            )
        return Relation(subject=subject.strip(), predicate=predicate.strip(), object=object.strip(),
                        namespace=ns[len(self._scope):], memory_id=memory_id)

    def relations(self, entity: str, *, namespace: Sequence[str] = (), hops: int = 1) -> list[Relation]:
        """Relations within ``hops`` relation edges of ``entity``, under ``namespace``."""
        self.require(Capability.GRAPH)
        if isinstance(hops, bool) or not isinstance(hops, int) or hops < 1:
            raise UsageError(f"hops is a positive integer, got {hops!r}")
        if not isinstance(entity, str) or not entity.strip():
            raise UsageError(f"an entity is a non-empty string, got {entity!r}")
        prefix = self._abs(namespace)
        with self._locked() as conn:
            found = _graph.relations_near(conn, entity, prefix, hops)
        n = len(self._scope)
        return [replace(r, namespace=r.namespace[n:]) for r in found]

    def entities(self, memory_id: str) -> list[str]:
        """The entity names linked to a memory."""
        self.require(Capability.GRAPH)
        record = self._get_abs(memory_id)
        with self._locked() as conn:
            rows = conn.execute(
                """SELECT e.name FROM mentions x JOIN entities e ON e.eid = x.eid
                   JOIN memories m ON m.rowid = x.memory WHERE m.id = ? ORDER BY e.name""",
                (record.id,),
            ).fetchall()
        return [r[0] for r in rows]

    def related(self, memory_id: str, *, hops: int = 1, limit: int = 10) -> list[ScoredMemory]:
        """Memories linked to ``memory_id`` through the entity graph, nearest first.

        The score is ``graph_decay ** (hops - 1)``; the reason says how many hops.
        """
        self.require(Capability.GRAPH)
        if isinstance(hops, bool) or not isinstance(hops, int) or hops < 1:
            raise UsageError(f"hops is a positive integer, got {hops!r}")
        record = self._get_abs(memory_id)
        query = SearchQuery(namespace_prefix=self._scope, limit=limit, now=self.now())
        with self._locked() as conn:
            rowid = self._rowids(conn, [record.id])[record.id]
            reached = _graph.memory_hops(self._graph(conn, self._scope), [rowid], hops)
            rows = self._records(conn, list(reached))
        hits = []
        for target, (distance, _source) in reached.items():
            rec = rows.get(target)
            if rec is None or not query.accepts(rec):
                continue
            score = self.ranking.graph_decay ** (distance - 1)
            reason = ScoreReason(signal="graph", value=float(distance), contribution=score,
                                 detail=f"{distance} hop(s) from {record.id}")
            hits.append(ScoredMemory(record=self._rel(rec), score=score, reasons=(reason,)))
        hits.sort(key=lambda h: (-h.score, h.record.id))
        return hits[:limit]

    # -- maintenance ----------------------------------------------------------------------

    def reembed(
        self, embedder: object, *, on_progress: Callable[[int, int], None] | None = None, batch_size: int = 256
    ) -> int:
        """Re-embed every memory in the file with ``embedder`` and record it; return the count.

        This covers the whole store file, not only this adapter's scope: a
        store has one embedder. It runs in one transaction, so a failure
        leaves the old vectors and embedder in place.
        """
        chosen = _resolve_embedder(embedder)
        with self._writing() as conn:
            total = conn.execute("SELECT count(*) FROM memories").fetchone()[0]
            done, last = 0, 0
            while True:
                rows = conn.execute(
                    "SELECT rowid, content FROM memories WHERE rowid > ? ORDER BY rowid LIMIT ?",
                    (last, max(1, batch_size)),
                ).fetchall()
                if not rows:
                    break
                vectors = np.ascontiguousarray(chosen.embed([r[1] for r in rows]), dtype=np.float32)
                conn.executemany(
                    "UPDATE vectors SET embedding = ? WHERE rowid = ?",
                    [(vec.tobytes(), r[0]) for vec, r in zip(vectors, rows, strict=True)],
                )
                done += len(rows)
                last = rows[-1][0]
                if on_progress is not None:
                    on_progress(done, total)
            conn.execute("UPDATE meta SET value = ? WHERE key = 'embedder'", (chosen.name,))
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('embedder_dims', ?)", (str(chosen.dims),)
            )
            conn.execute("DELETE FROM changes")
            _bump_epoch(conn)
        store = self._store
        with store.lock:
            store.embedder = chosen
            store.cache = VectorCache(store.root, chosen.dims)
        if on_progress is not None and total == 0:
            on_progress(0, 0)
        return int(total)

    def stats(self) -> dict[str, Any]:
        """Counts by kind and namespace (live records in scope), file size, embedder, schema."""
        cond, params = ns_range(self._scope)
        now = to_micros(self.now())
        live = f"{cond} AND (expires_at IS NULL OR expires_at > ?)"
        with self._locked() as conn:
            by_kind = dict(conn.execute(
                f"SELECT kind, count(*) FROM memories WHERE {live} GROUP BY kind", [*params, now]
            ).fetchall())
            by_ns = conn.execute(
                f"SELECT ns, count(*) FROM memories WHERE {live} GROUP BY ns ORDER BY ns", [*params, now]
            ).fetchall()
            superseded = conn.execute(
                f"SELECT count(*) FROM memories WHERE {live} AND valid_to IS NOT NULL", [*params, now]
            ).fetchone()[0]
            expired = conn.execute(
                f"SELECT count(*) FROM memories WHERE {cond} AND expires_at <= ?", [*params, now]
            ).fetchone()[0]
            entities = conn.execute(f"SELECT count(*) FROM entities WHERE {cond}", params).fetchone()[0]
            relations = conn.execute(f"SELECT count(*) FROM relations WHERE {cond}", params).fetchone()[0]
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        n = len(self._scope)
        path = self._store.path
        size = sum(
            os.path.getsize(p) for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if os.path.exists(p)
        )
        return {
            "adapter": self.name,
            "path": str(path),
            "file_size": size,
            "total": sum(by_kind.values()),
            "by_kind": {k.value: int(by_kind.get(k.value, 0)) for k in MemoryKind},
            "by_namespace": {"/".join(ns_tuple(k)[n:]) or "/": int(c) for k, c in by_ns},
            "superseded": int(superseded),
            "expired_pending_purge": int(expired),
            "entities": int(entities),
            "relations": int(relations),
            "embedder": meta.get("embedder"),
            "embedder_dims": int(meta["embedder_dims"]) if "embedder_dims" in meta else None,
            "schema_version": int(meta.get("schema_version", SCHEMA_VERSION)),
        }


def _bump_epoch(conn: sqlite3.Connection) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('epoch', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (os.urandom(8).hex(),),
    )
