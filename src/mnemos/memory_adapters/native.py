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
returned survives the process being killed. The storage core, graph API,
history import and ``stats()`` are the SQL stores' shared code
(``_sql_adapter``) run with SQLite's dialect (``_native_store.SQLITE``).

>>> memory = NativeMemoryAdapter("memory.db", scope=("users", "alice"))  # doctest: +SKIP
>>> memory.add("Alice moved to Lisbon in May", namespace=("facts",), kind="semantic")  # doctest: +SKIP
>>> memory.search("where does Alice live?")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import networkx as nx
import numpy as np

from mnemos._files import make_private_dirs
from mnemos.config import default_store_path
from mnemos.exceptions import (
    ConfigurationError,
    EmbedderMismatchError,
    StorageError,
    UsageError,
)
from mnemos.memory_adapters import _native_write
from mnemos.memory_adapters._cache_own import change_stamp
from mnemos.memory_adapters._graph import Relation
from mnemos.memory_adapters._namespace import Namespace
from mnemos.memory_adapters._native_checkpoint import Checkpointer
from mnemos.memory_adapters._native_key import resolve_key
from mnemos.memory_adapters._native_listing import listing
from mnemos.memory_adapters._native_schema import (
    DEFAULT_LOCK_TIMEOUT,
    SCHEMA_VERSION,
    connect,
    db_errors,
    to_micros,
    transaction,
)
from mnemos.memory_adapters._native_search import (
    ranked_search,
    ranked_search_each,
    start_query_vector,
)
from mnemos.memory_adapters._native_store import SQLITE, Store, graph_for
from mnemos.memory_adapters._native_words import by_words_alone, word_match_contents
from mnemos.memory_adapters._ranking import RankingConfig
from mnemos.memory_adapters._sql_adapter import SqlMemoryAdapter
from mnemos.memory_adapters._sql_dialect import SqlDialect
from mnemos.memory_adapters._url import embedded_path, query_params
from mnemos.memory_adapters._validate import MAX_QUERY_CHARS, check_json_value
from mnemos.memory_adapters._vector_file import SUFFIX, VectorFile
from mnemos.memory_adapters._vectors import KIND_CODES
from mnemos.memory_adapters.base import (
    MemoryKind,
    MemoryRecord,
    ScoredMemory,
    SearchQuery,
    utcnow,
)
from mnemos.memory_adapters.embedders.base import Embedder

__all__ = ["NativeMemoryAdapter", "RankingConfig", "Relation"]

MEMORY = ":memory:"
"""The path of a private in-memory store (gone when the adapter closes)."""
_PRUNE_CHANGES_ABOVE = 20_000


def _resolve_embedder(spec: object) -> Embedder:
    from mnemos.memory_adapters.embedders import get_embedder

    return get_embedder(spec)


class NativeMemoryAdapter(SqlMemoryAdapter):
    """Memory in one local SQLite file; the default adapter.

    ``path`` is the store file (``None``: ``$MNEMOS_HOME/memory.db``; ``":memory:"``
    for a throw-away store private to this adapter).
    ``embedder`` is anything :func:`~mnemos.memory_adapters.embedders.get_embedder`
    accepts; ``None`` reopens the embedder the store recorded (or the configured
    default for a new store). A different embedder than the recorded one raises
    :class:`~mnemos.exceptions.EmbedderMismatchError`; :meth:`reembed` switches.
    ``ranking`` tunes hybrid search. ``durable=True`` makes commits survive power
    loss too (``synchronous=FULL``); by default they survive a crashed process.
    ``read_only=True`` opens an existing store to read (writes raise
    :class:`~mnemos.exceptions.ReadOnlyStoreError`). A write, or opening the store,
    waits at most ``lock_timeout`` seconds for another writer, then raises
    :class:`~mnemos.exceptions.StoreBusyError`. A new store file is created 0600
    (its directory 0700); an empty file or another application's SQLite file raises
    :class:`~mnemos.exceptions.ForeignStoreError` unless ``initialize=True``.
    ``key``, ``key_file`` or ``key_env`` (else ``$MNEMOS_STORE_KEY``) encrypt the file with
    SQLCipher (the ``encryption`` extra); a wrong or missing key raises
    :class:`~mnemos.exceptions.EncryptionKeyError`.
    """

    name: ClassVar[str] = "native"
    dialect: ClassVar[SqlDialect] = SQLITE
    schema_version: ClassVar[int] = SCHEMA_VERSION

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        scope: Sequence[str] = (),
        embedder: object = None,
        clock: Callable[[], datetime] = utcnow,
        ranking: RankingConfig | None = None,
        durable: bool = False,
        read_only: bool = False,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        initialize: bool = False,
        key: str | bytes | None = None,
        key_file: str | Path | None = None,
        key_env: str | None = None,
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
            if not read_only:
                try:
                    make_private_dirs(file.parent)
                except OSError as exc:
                    raise StorageError(f"cannot create {file.parent}: {exc}") from exc
        raw_key = resolve_key(key, key_file=key_file, key_env=key_env)
        conn = connect(file, durable=durable, lock_timeout=lock_timeout, read_only=read_only,
                       initialize=initialize, key=raw_key if str(path) != MEMORY else None)
        try:
            chosen = self._open_embedder(conn, embedder)
        except BaseException:
            conn.close()
            raise
        vector_file = None
        if str(path) != MEMORY and raw_key is None:
            vector_file = VectorFile(file.with_name(file.name + SUFFIX), read_only=read_only)
        self._store = Store(file, self._scope, chosen, conn, vector_file)
        if str(path) != MEMORY and raw_key is None and not read_only:
            self._store.checkpointer = Checkpointer(file, conn)
        self.ranking = ranking or RankingConfig()

    @staticmethod
    def _open_embedder(conn: sqlite3.Connection, spec: object) -> Embedder:
        stored = dict(conn.execute("SELECT key, value FROM meta WHERE key LIKE 'embedder%'").fetchall())
        name = stored.get("embedder")
        chosen = _resolve_embedder(name if spec is None and name else spec)
        if name is None and getattr(conn, "read_only", False):
            return chosen
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
        """Open ``native:///abs/path.db`` (or ``native://`` for the default store).

        Query parameters: ``mode=ro`` (read-only), ``lock_timeout=SECONDS``, ``initialize=1``,
        ``key_env=VARIABLE`` or ``key_file=PATH`` (an encrypted store).
        """
        params = query_params(url)
        mode = params.pop("mode", "rw")
        if mode not in ("ro", "rw"):
            raise ConfigurationError(f"mode is ro or rw, not {mode!r}")
        options: dict[str, Any] = {"read_only": mode == "ro"}
        if "lock_timeout" in params:
            try:
                options["lock_timeout"] = float(params.pop("lock_timeout"))
            except ValueError:
                raise ConfigurationError("lock_timeout is a number of seconds") from None
        if "initialize" in params:
            options["initialize"] = params.pop("initialize").lower() in ("1", "true", "yes")
        for name in ("key_env", "key_file"):
            if name in params:
                options[name] = params.pop(name)
        if params:
            raise ConfigurationError(f"unknown native store URL parameters: {', '.join(sorted(params))}")
        return cls(embedded_path(url, "native"), scope=scope, embedder=embedder, **options)

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
            except db_errors() as exc:
                raise StorageError(f"memory store {store.path}: {exc}") from exc

    def _reading(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._locked()

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
            if store.batch is not None:  # the first write of a batch begins its transaction
                store.batch.enter_context(transaction(conn))
                store.begin_own_write()
                store.write_depth = 2
                try:
                    yield conn
                finally:
                    store.write_depth = 1  # held open by the batch until it ends
                return
            committed = False
            try:
                with transaction(conn):
                    store.begin_own_write()
                    store.write_depth = 1
                    try:
                        yield conn
                    finally:
                        store.write_depth = 0
                    store.check_own_write(conn)
                    self._count_write(conn)
                committed = True
            finally:
                store.end_own_write(committed)
            self._committed()

    @contextmanager
    def _batch(self) -> Iterator[None]:
        """Writes inside commit together, in one transaction begun by the first of them (so what
        comes before it, such as embedding a text, holds no write lock); an error rolls them all
        back. Inside a write or another batch, it joins that one."""
        store = self._store
        with self._locked() as conn:
            if store.write_depth or store.batch is not None:
                yield
                return
            batch = store.batch = ExitStack()
            committed = False
            try:
                with batch:  # on leaving: COMMIT if a write began the transaction; ROLLBACK on an error
                    try:
                        yield
                        if store.write_depth:
                            store.check_own_write(conn)
                    finally:
                        store.batch = None
                        begun, store.write_depth = store.write_depth > 0, 0
                    if begun:
                        self._count_write(conn)
                committed = begun
            finally:
                store.end_own_write(committed)
            if committed:
                self._committed()

    def _count_write(self, conn: sqlite3.Connection) -> None:
        """Count a write transaction at its end (before its commit): the change log is pruned
        every 256 writes."""
        store = self._store
        store.own_writes += 1
        if store.own_writes % 256 == 0:
            self._prune_changes(conn)

    def _committed(self) -> None:
        """After a commit: a background checkpoint is started when one is due. Not before the
        commit, where the checkpoint's first reads and writes of the log ran beside the
        commit's own and the turn that made one due waited for them."""
        if self._store.checkpointer is not None:
            self._store.checkpointer.committed()

    def _exclusive(self) -> AbstractContextManager[object]:
        """Read-modify-write (update, supersede) inside one ``BEGIN IMMEDIATE`` transaction,
        so other threads, handles and processes cannot interleave and the step is atomic."""
        return self._writing()

    @staticmethod
    def _prune_changes(conn: sqlite3.Connection) -> None:
        if conn.execute("SELECT count(*) FROM changes").fetchone()[0] > _PRUNE_CHANGES_ABOVE:
            conn.execute("DELETE FROM changes")
            _native_write.bump_epoch(conn)

    def _embed(self, texts: Sequence[str]) -> list[bytes]:
        vectors = np.ascontiguousarray(self._store.embedder.embed(list(texts)), dtype=np.float32)
        return [row.tobytes() for row in vectors]

    # -- the abstract core ------------------------------------------------------------------

    def _insert(
        self, conn: sqlite3.Connection, records: Sequence[MemoryRecord], blobs: Sequence[bytes], *, dedup: bool
    ) -> list[MemoryRecord]:
        return _native_write.insert(conn, self._scope, records, blobs, dedup=dedup, now=self.now(),
                                    noted=self._store.own_rows)

    def _update(self, record: MemoryRecord) -> MemoryRecord:
        with self._writing() as conn:
            _native_write.update(conn, record, lambda text: self._embed([text])[0])
        return record

    def _reinforce(self, ids: Sequence[str], boost: float) -> int:
        """What :func:`~mnemos.memory_adapters.consolidation.reinforce` does, in one transaction
        with one read; the text, its index entry and its vector are not rewritten."""
        with self._writing() as conn:
            changed = _native_write.reinforce(conn, self._scope, ids, boost=boost, now=self.now(),
                                              noted=self._store.own_importance)
        for record in changed:  # the old versions: their id and provenance are the new ones'
            self._audited("update", [record], ids=[record.id], fields=["importance", "metadata"])
        return len(changed)

    def _after_erase(self) -> None:
        self.scrub()

    def scrub(self) -> bool:
        """Remove the bytes of deleted memories from the file: merge the full-text index
        (dropping deleted entries) and checkpoint the write-ahead log into the file, then
        truncate it. Freed pages are zeroed as they are freed (``secure_delete``).
        :meth:`erase` calls this; after :meth:`delete` or :meth:`purge` call it yourself.
        Return False when another connection's open read kept the log from being emptied
        (run it again later). The vector file (embeddings of deleted memories) is deleted;
        it is saved again, without them, when the store is next closed."""
        with self._writing() as conn:
            conn.execute("INSERT INTO memories_fts (memories_fts) VALUES ('optimize')")
            if self._store.vector_file is not None:
                self._store.vector_file.remove(conn)
        with self._locked() as conn:
            if self._store.checkpointer is not None:
                self._store.checkpointer.wait()
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return not busy

    def _entity_graph(self, conn: sqlite3.Connection, prefix: Namespace) -> nx.Graph:
        return graph_for(self._store, prefix)

    def _storage_stats(
        self, conn: sqlite3.Connection, meta: dict[str, str]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        path = self._store.path
        files = (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
        vectors = Path(f"{path}{SUFFIX}")
        return {
            "adapter": "native",
            "path": str(path),
            "file_size": sum(os.path.getsize(p) for p in files if os.path.exists(p)),
            "vector_file_size": os.path.getsize(vectors) if os.path.exists(vectors) else 0,
        }, {}

    def _close(self) -> None:
        store = self._store
        with store.lock:
            if not store.closed:
                store.close()

    def search_by_kind(
        self,
        query: str,
        limits: Mapping[MemoryKind | str, int],
        *,
        namespace: Sequence[str] = (),
        filter: Mapping[str, Any] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        include_superseded: bool = False,
    ) -> dict[MemoryKind, list[ScoredMemory]]:
        """For each kind in ``limits``, ``search(query, kinds=kind, limit=limits[kind], ...)``.

        Each list is exactly what that search returns; together they cost little
        more than one, as the embedding, keyword query and vector scan are shared.
        """
        if not isinstance(query, str):
            raise UsageError(f"a search query is a string, not {type(query).__name__}")
        for limit in limits.values():
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise UsageError(f"limit is a positive integer, got {limit!r}")
        text = query if query.strip() else None
        queries: dict[MemoryKind, SearchQuery] = {}
        for kind, limit in limits.items():
            q = self._query(text, namespace, kind, filter, since, until, limit, 0, include_superseded)
            queries[next(iter(q.kinds or ()))] = q
        if not queries:
            return {}
        found: list[list[ScoredMemory]]
        if text is None:
            found = [self._search(q) for q in queries.values()]
        else:
            vector = start_query_vector(self._store, next(iter(queries.values())), self.ranking)
            with self._locked():
                found = ranked_search_each(self._store, list(queries.values()), self.ranking, vector)
        if not self._scope:  # namespaces are already relative
            return dict(zip(queries, found, strict=True))
        return {
            kind: [replace(hit, record=self._rel(hit.record)) for hit in hits]
            for kind, hits in zip(queries, found, strict=True)
        }

    def _word_match_contents(
        self, text: str, *, namespace: Sequence[str], kind: MemoryKind, limit: int, ranking: RankingConfig
    ) -> list[str] | None:
        """The contents of the hits of ``search(text, namespace=namespace, kinds=kind,
        limit=limit, ranking=ranking)``, in their order, when ``ranking`` ranks ``text`` by
        the keyword list, recency and importance alone (see ``_native_words``), without
        decoding the records; else None (then search)."""
        if not text.strip() or len(text) > MAX_QUERY_CHARS or not by_words_alone(ranking, text):
            return None
        check_json_value(text, "a search query", error=UsageError)
        query = self._query(text, namespace, kind, None, None, None, limit, 0, False)
        with self._locked():
            return word_match_contents(self._store, query, ranking)

    def _change_stamp(self, kind: MemoryKind, prefix: Namespace) -> Hashable | None:
        """Counted by the vector cache, which follows every commit (this process's and
        others'), per namespace and kind: rows of other namespaces never move it."""
        store = self._store
        with self._locked() as conn:
            if conn.in_transaction:  # uncommitted writes of this connection are not followed
                return None
            store.refresh()
            return change_stamp(store.cache, prefix, KIND_CODES[kind], to_micros(self.now()))

    def _search(self, query: SearchQuery) -> list[ScoredMemory]:
        vector = start_query_vector(self._store, query, self.ranking)
        with self._locked() as conn:
            if query.text is None:
                return [ScoredMemory(record=r, score=0.0) for r in listing(conn, query)]
            return ranked_search(self._store, query, self.ranking, vector)


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
            total = _native_write.reembed(conn, chosen, on_progress, batch_size)
        store = self._store
        with store.lock:
            store.embedder = chosen
            store.cache = store.new_cache()
            store.query_vectors.clear()
        if on_progress is not None and total == 0:
            on_progress(0, 0)
        return total
