"""BM25's corpus statistics on PostgreSQL come from counts kept by triggers (schema version 5).

``scope_counts`` and the change log beside it hold, per namespace prefix and
kind, the memories, those not superseded, and their words. Checked here
against a count of the table after every kind of write, across stores that do
not share a process cache, after an upgrade, and with real concurrent
connections: writers only append to the log, so a writer never waits for
another writer's counts, not even while that one folds the log. Real
PostgreSQL (``pgvector_url`` fixture).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import psycopg
import pytest

from mnemos.memory_adapters._namespace import Namespace
from mnemos.memory_adapters._native_schema import ns_key
from mnemos.memory_adapters._postgres_io import run
from mnemos.memory_adapters._postgres_schema import COMPACT_EVERY, migrate
from mnemos.memory_adapters._postgres_store import ns_cond
from mnemos.memory_adapters.base import MemoryKind, SearchQuery
from mnemos.memory_adapters.conformance import ManualClock
from mnemos.memory_adapters.postgres import PostgresMemoryAdapter
from pgvector_server import Schemas

pytestmark = pytest.mark.pgvector

NOW = datetime(2030, 1, 1, tzinfo=UTC)
PREFIXES: list[Namespace] = [(), ("a",), ("a", "b"), ("c",), ("nowhere",)]


def _schema(url: str) -> str:
    return parse_qs(urlparse(url).query)["schema"][0]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def store(pg_schemas: Schemas, clock: ManualClock) -> Iterator[PostgresMemoryAdapter]:
    adapter = PostgresMemoryAdapter(pg_schemas.new_url(), embedder="hashing:64", clock=clock)
    yield adapter
    adapter.close()


def _stats(store: PostgresMemoryAdapter, prefix: Namespace) -> tuple[int, float]:
    with store._reading() as conn:
        return run(conn, store._store.corpus_stats(prefix or None))


def _visible(store: PostgresMemoryAdapter, query: SearchQuery) -> int:
    with store._reading() as conn:
        return run(conn, store._store.visible_count(query))


def _truth(store: PostgresMemoryAdapter, prefix: Namespace) -> tuple[int, float]:
    cond, params = ns_cond(prefix)
    with store._reading() as conn:
        n, words = conn.execute(f"SELECT count(*), coalesce(sum(doc_len), 0) FROM memories WHERE {cond}",
                                params).fetchone()
    return int(n), float(words) / n if n else 0.0


def _visible_truth(store: PostgresMemoryAdapter, prefix: Namespace, now: datetime, kinds: list[str] | None,
                   superseded: bool) -> int:
    cond, params = ns_cond(prefix)
    conds = [cond, "(expires_at IS NULL OR expires_at > %s)"]
    params.append(now)
    if kinds is not None:
        conds.append("kind = ANY(%s)")
        params.append(kinds)
    if not superseded:
        conds.append("valid_to IS NULL")
    with store._reading() as conn:
        return int(conn.execute(f"SELECT count(*) FROM memories WHERE {' AND '.join(conds)}", params).fetchone()[0])


def _check(store: PostgresMemoryAdapter, now: datetime) -> None:
    for prefix in PREFIXES:
        n, avg = _stats(store, prefix)
        want_n, want_avg = _truth(store, prefix)
        assert (n, round(avg, 9)) == (want_n, round(want_avg, 9)), prefix
        for kinds in (None, ["episodic"], ["semantic", "procedural"]):
            for superseded in (False, True):
                query = SearchQuery(text="x", namespace_prefix=prefix, now=now, include_superseded=superseded,
                                    kinds=None if kinds is None else frozenset(MemoryKind(k) for k in kinds))
                assert _visible(store, query) == _visible_truth(store, prefix, now, kinds, superseded), \
                    (prefix, kinds, superseded)


def test_the_counts_follow_every_kind_of_write(store: PostgresMemoryAdapter, clock: ManualClock) -> None:
    _check(store, NOW)
    soon = NOW + timedelta(hours=1)
    first = store.add("Ada likes green tea in the morning", namespace=("a",))
    store.add("The build server lives in the basement", namespace=("a", "b"), kind="semantic",
              expires_at=soon)
    store.add_many([{"content": f"note {i} about the quarterly report and its numbers", "namespace": ("c",),
                     "kind": "procedural"} for i in range(5)])
    store.add("a short one", namespace=("d",))
    _check(store, NOW)
    store.update(first.id, content="Ada likes green tea and also coffee in the morning, every day")
    _check(store, NOW)
    newer = store.supersede(first.id, "Ada drinks only water now")
    _check(store, NOW)
    store.delete(newer.id)
    _check(store, NOW)
    clock.set(soon + timedelta(minutes=1))  # expired, not purged: visible counts leave it out
    _check(store, clock())
    assert store.purge() == 1
    _check(store, clock())
    assert store.erase(("c",)) == 5
    _check(store, clock())
    again = store.add("Ada likes green tea in the morning", namespace=("a",))
    # an existing id imported again is replaced, counted once with its new length
    store._import_records([replace(again, content="Ada likes green tea in the morning, and lemon")],
                          on_progress=None, batch_size=10)
    _check(store, clock())


def test_a_write_by_another_store_shows_at_once(pg_schemas: Schemas) -> None:
    """Two adapters on one schema share no process cache: the counts are the database's."""
    url = pg_schemas.new_url()
    with PostgresMemoryAdapter(url, embedder="hashing:64") as reader, \
            PostgresMemoryAdapter(url, embedder="hashing:64") as writer:
        writer.add("first memory of the store", namespace=("a",))
        assert _stats(reader, ("a",))[0] == 1
        writer.add("second memory, a longer one than the first", namespace=("a",))
        assert _stats(reader, ("a",)) == _truth(reader, ("a",)) and _stats(reader, ())[0] == 2


def test_reading_the_statistics_does_not_touch_the_memories(store: PostgresMemoryAdapter) -> None:
    """The counts are an index read: no memory row is read (on a table of one page a scan is
    the planner's cheapest choice, so scans are turned off to see that none is needed)."""
    store.add_many([{"content": f"memory number {i}", "namespace": ("a",)} for i in range(20)])
    with store._reading() as conn:
        conn.execute("VACUUM ANALYZE memories")
    reads = ("SELECT coalesce(sum(seq_tup_read), 0), coalesce(sum(idx_tup_fetch), 0) "
             "FROM pg_stat_xact_user_tables WHERE schemaname = %s AND relname = 'memories'")
    with store._store.writing() as conn:  # one transaction: its own table-access counters
        conn.execute("SET LOCAL enable_seqscan = off")
        before = conn.execute(reads, (store.schema,)).fetchone()
        assert run(conn, store._store.corpus_stats(("a",)))[0] == 20
        assert run(conn, store._store.corpus_stats(None))[0] == 20
        query = SearchQuery(text="x", namespace_prefix=("a",), now=NOW)
        assert run(conn, store._store.visible_count(query)) == 20
        after = conn.execute(reads, (store.schema,)).fetchone()
    assert after == before


def test_the_log_is_folded_and_the_counts_stay_exact(store: PostgresMemoryAdapter) -> None:
    for i in range(COMPACT_EVERY + 10):
        store.add(f"memory {i} of a long series", namespace=("a", "b") if i % 3 else ("c",))
    with store._reading() as conn:
        logged = conn.execute("SELECT count(*) FROM scope_count_log").fetchone()[0]
        folded = conn.execute("SELECT count(*) FROM scope_counts").fetchone()[0]
    assert folded > 0 and logged < COMPACT_EVERY * 4  # folded once at least: not one row per statement
    _check(store, NOW)
    store.erase(("a",))
    store.erase(("c",))
    with store._reading() as conn:  # fold now: emptied prefixes leave no rows behind
        conn.execute("SELECT fold_scope_counts()")
        assert conn.execute("SELECT ns, n FROM scope_counts WHERE ns <> ''").fetchall() == []
    _check(store, NOW)


def test_an_erased_namespace_leaves_no_key_in_the_counts(store: PostgresMemoryAdapter) -> None:
    store.add("Alice's secret plan", namespace=("users", "alice"))
    store.add("Bob's note", namespace=("users", "bob"))
    assert store.erase_user("alice") == 1
    with store._reading() as conn:
        keys = {r[0] for r in conn.execute("SELECT ns FROM scope_counts UNION SELECT ns FROM scope_count_log")}
    assert keys == {"", "users/", "users/bob/"}
    _check(store, NOW)


def test_an_upgraded_store_counts_what_it_held(pg_schemas: Schemas) -> None:
    schema = pg_schemas.new()
    with psycopg.connect(pg_schemas.url, autocommit=True) as conn:
        assert migrate(conn, schema, dims=64, text_search="english", embedder="hashing:v1:64", target=4)[0] == 4
        for i, ns in enumerate(["a/", "a/b/", "c/", "a/b/"]):
            conn.execute(
                f"""INSERT INTO "{schema}".memories (id, ns, kind, content, content_hash, metadata, created_at,
                    updated_at, importance, provenance, version, doc_len, embedding, valid_to)
                    VALUES (%s, %s, 'episodic', 'kept', 'h', '{{}}', now(), now(), 0.5,
                    '{{}}', 1, %s, array_fill(0.125, ARRAY[64])::"public".vector, %s)""",
                (f"old{i}", ns, i + 2, NOW if i == 3 else None),
            )
    with PostgresMemoryAdapter(pg_schemas.url_for(schema)) as store:
        assert store.stats()["schema_version"] == 5
        _check(store, NOW)
        assert _visible(store, SearchQuery(text="x", namespace_prefix=("a", "b"), now=NOW)) == 1


def test_writers_do_not_wait_for_each_others_counts(pg_schemas: Schemas, pgvector_url: str) -> None:
    """A transaction holding uncommitted counted rows, and folding the log, blocks no other
    writer of the same namespace and kind (real connections, lock_timeout as the referee)."""
    url = pg_schemas.new_url()
    schema = _schema(url)
    with PostgresMemoryAdapter(url, embedder="hashing:64") as store:
        store.add("something to fold", namespace=("a",))
        with psycopg.connect(pgvector_url, autocommit=True) as other:
            other.execute(f'SET search_path TO "{schema}", public')
            with other.transaction():
                other.execute("SELECT setval('scope_count_ticks', %s)", (COMPACT_EVERY - 1,))
                other.execute(
                    """INSERT INTO memories (id, ns, kind, content, content_hash, metadata, created_at,
                       updated_at, importance, provenance, version, doc_len, embedding)
                       VALUES ('held', 'a/', 'episodic', 'zzz', 'h', '{}', now(), now(), 0.5, '{}', 1, 1,
                       array_fill(0.125, ARRAY[64])::"public".vector)"""
                )  # its statement trigger folded the log: the fold's lock is held until commit
                assert other.execute("SELECT count(*) FROM scope_count_log").fetchone()[0] == 0
                done: list[object] = []

                def write() -> None:
                    try:
                        with store._writing() as conn:
                            conn.execute("SET LOCAL lock_timeout = '3s'")
                            store.add_many([{"content": t, "namespace": ("a",)} for t in ("another one", "one more")],
                                           dedup=False)
                            store.delete(store.list(namespace=("a",), limit=1)[0].id)
                        done.append("ok")
                    except BaseException as exc:
                        done.append(exc)

                worker = threading.Thread(target=write)
                worker.start()
                worker.join(timeout=20)
                assert done == ["ok"]
            assert _stats(store, ("a",)) == _truth(store, ("a",)) and _stats(store, ("a",))[0] == 3


def test_concurrent_writers_keep_the_counts_exact(pg_schemas: Schemas) -> None:
    url = pg_schemas.new_url()
    with PostgresMemoryAdapter(url, embedder="hashing:64") as store:
        failures: list[BaseException] = []

        def work(k: int) -> None:
            try:
                for i in range(30):
                    ns = ("a", str(k % 2))
                    added = store.add(f"writer {k} note {i}", namespace=ns, kind="semantic" if i % 4 else "episodic")
                    if i % 3 == 0:
                        store.delete(added.id)
            except BaseException as exc:
                failures.append(exc)

        workers = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=120)
        assert not failures, failures
        for prefix in [(), ("a",), ("a", "0"), ("a", "1")]:
            assert _stats(store, prefix) == _truth(store, prefix)
        assert _stats(store, ())[0] == 4 * 20 and ns_key(("a", "0")) == "a/0/"
