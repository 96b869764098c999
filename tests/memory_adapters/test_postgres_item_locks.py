"""Deleting memories locks their items' counters (``entity_df``) in the writers' global order.

A writer that adds memories takes the counters' row locks in one sorted order
(``kind, ns, item``). A delete, purge, erase or update that took them in the
order its rows happen to go (the cascade to ``entity_items``) could hold a later
counter while waiting for an earlier one, and deadlock with such a writer. Here
a second transaction plays that writer step by step: it holds ``dog``, lets the
store's operation start, then takes ``parrot``; with the counters locked in
order the operation waits on ``dog`` before touching ``parrot`` and both finish.
Real PostgreSQL (``pgvector_url`` fixture).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import psycopg
import pytest

from mnemos.memory_adapters.conformance import ManualClock
from mnemos.memory_adapters.postgres import PostgresMemoryAdapter
from pgvector_server import Schemas

pytestmark = pytest.mark.pgvector

NOW = datetime(2030, 1, 1, tzinfo=UTC)
COUNTER = "UPDATE entity_df SET n = n WHERE kind = 'animal' AND ns = 'a/' AND item = %s"


def _wait_for_lock_wait(url: str, others_than: int) -> None:
    """Until a backend other than ``others_than`` waits for a lock (10 s at most)."""
    with psycopg.connect(url, autocommit=True) as watch:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            row = watch.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> %s",
                (others_than,),
            ).fetchone()
            if row is not None and row[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the store's operation never waited for the held counter")


@pytest.mark.parametrize("operation", ["delete", "purge", "erase", "update"])
def test_removing_items_waits_in_the_writers_order(
    pgvector_url: str, pg_schemas: Schemas, operation: str
) -> None:
    clock = ManualClock(NOW)
    url = pg_schemas.new_url()
    schema = parse_qs(urlparse(url).query)["schema"][0]
    store = PostgresMemoryAdapter(url, embedder="hashing:64", clock=clock)
    try:
        # inserted (and so deleted) first: the later item of the two
        later = store.add("Our parrot sleeps all day", namespace=("a",), expires_at=NOW + timedelta(hours=1))
        earlier = store.add("My dog barks at night", namespace=("a",), expires_at=NOW + timedelta(hours=1))
        run: Callable[[], object] = {
            "delete": lambda: store._delete([later.id, earlier.id]),
            "purge": lambda: store.purge(),
            "erase": lambda: store.erase(("a",)),
            # the parrot's counter goes, the dog's comes
            "update": lambda: store.update(later.id, content="Our dog sleeps all day"),
        }[operation]
        if operation == "purge":
            clock.set(NOW + timedelta(hours=2))
        assert {"dog", "parrot"} <= set(_items(store))
        failures = _race(pgvector_url, schema, [(COUNTER, ("dog",))], run, [(COUNTER, ("parrot",))])
        assert not failures, failures
        with store._reading() as conn:
            left = {r[0] for r in conn.execute("SELECT item FROM entity_df WHERE ns = 'a/'").fetchall()}
        assert left == ({"dog"} if operation == "update" else set())
    finally:
        store.close()


# -- the gaps: a counter created by a concurrent writer, a re-added id, a row and its counters --------


def _race(url: str, schema: str, first: list[tuple[str, tuple[object, ...]]], run: Callable[[], object],
          then: list[tuple[str, tuple[object, ...]]]) -> list[BaseException]:
    """A second transaction plays a writer taking counters in the global order: it runs
    ``first``, lets the store's operation start and wait on it, then runs ``then`` and
    commits. Returns what failed (the store's operation, or the writer: a deadlock)."""
    failures: list[BaseException] = []

    def operate() -> None:
        try:
            run()
        except BaseException as exc:
            failures.append(exc)

    with psycopg.connect(url, autocommit=True) as writer:
        writer.execute(f'SET search_path TO "{schema}", public')
        writer.execute("SET lock_timeout = '10s'")
        with suppress(psycopg.errors.InsufficientPrivilege):
            writer.execute("SET deadlock_timeout = '100ms'")
        pid = writer.info.backend_pid
        try:
            with writer.transaction():
                for sql, params in first:
                    writer.execute(sql, params)
                worker = threading.Thread(target=operate)
                worker.start()
                _wait_for_lock_wait(url, pid)
                for sql, params in then:
                    writer.execute(sql, params)
        except psycopg.Error as exc:
            failures.append(exc)
        worker.join(timeout=30)
    assert not worker.is_alive()
    return failures


CREATE = ("INSERT INTO entity_df (kind, ns, item, n) VALUES ('animal', 'a/', %s, 1) "
          "ON CONFLICT (kind, ns, item) DO UPDATE SET n = entity_df.n + 1")
LOCK = COUNTER


def _items(store: PostgresMemoryAdapter) -> dict[str, int]:
    with store._reading() as conn:
        return dict(conn.execute("SELECT item, n FROM entity_df WHERE ns = 'a/'").fetchall())


def test_an_update_waits_for_a_counter_another_writer_is_creating(pgvector_url: str, pg_schemas: Schemas) -> None:
    """The update brings an item whose counter does not exist yet (``cat``) while a writer
    is creating it; the writer goes on to ``parrot``, which the update's memory holds."""
    url = pg_schemas.new_url()
    with PostgresMemoryAdapter(url, embedder="hashing:64") as store:
        memory = store.add("Our parrot sleeps all day", namespace=("a",))
        failures = _race(pgvector_url, parse_qs(urlparse(url).query)["schema"][0], [(CREATE, ("cat",))],
                         lambda: store.update(memory.id, content="Our cat and our parrot sleep all day"),
                         [(LOCK, ("parrot",))])
        assert not failures, failures
        assert _items(store) == {"cat": 2, "parrot": 1}  # the writer's cat (committed, no memory) and ours


def test_re_adding_an_id_takes_the_counters_in_one_order(pgvector_url: str, pg_schemas: Schemas) -> None:
    """An import replaces a stored memory (``parrot``) with new text (``cat``): the counters of
    the old and the new items are taken in one sorted pass, not the old ones first."""
    url = pg_schemas.new_url()
    with PostgresMemoryAdapter(url, embedder="hashing:64") as store:
        memory = store.add("Our parrot sleeps all day", namespace=("a",))
        store.add("My cat naps", namespace=("a",))
        again = replace(memory, content="Our cat sleeps all day")
        failures = _race(pgvector_url, parse_qs(urlparse(url).query)["schema"][0], [(LOCK, ("cat",))],
                         lambda: store._import_records([again], on_progress=None, batch_size=10),
                         [(LOCK, ("parrot",))])
        assert not failures, failures
        assert _items(store) == {"cat": 2}


def test_a_delete_waits_for_the_memory_before_its_counters(pgvector_url: str, pg_schemas: Schemas) -> None:
    """An update holds its memory's row, then takes its counters; a delete of the same memory
    takes the row first too, so it cannot hold a counter the update waits for."""
    url = pg_schemas.new_url()
    schema = parse_qs(urlparse(url).query)["schema"][0]
    with PostgresMemoryAdapter(url, embedder="hashing:64") as store:
        memory = store.add("Our parrot sleeps all day", namespace=("a",))
        # the writer holds the memory's row, as an update does, then takes its counter
        failures = _race(pgvector_url, schema, [("SELECT 1 FROM memories WHERE id = %s FOR UPDATE", (memory.id,))],
                         lambda: store.delete(memory.id), [(LOCK, ("parrot",))])
        assert not failures, failures
        assert store.count() == 0 and _items(store) == {}


def test_mixed_concurrent_writers_neither_deadlock_nor_miscount(pg_schemas: Schemas) -> None:
    """Threads adding, updating, deleting and re-adding memories that share item counters, on
    their own connections: no deadlock aborts any, and every counter matches its items."""
    from mnemos.exceptions import MemoryNotFoundError

    animals = ["cat", "dog", "parrot", "horse", "rabbit"]
    with PostgresMemoryAdapter(pg_schemas.new_url(), embedder="hashing:64") as store:
        seed = [store.add(f"Our {a} sleeps all day", namespace=("a",)) for a in animals]
        failures: list[BaseException] = []

        def work(k: int) -> None:
            for i in range(16):
                pair = f"{animals[(k + i) % 5]} and our {animals[(k * 2 + i) % 5]}"
                target = seed[(k + i) % len(seed)]
                try:
                    if i % 4 == 0:
                        store.add(f"Writer {k} saw our {pair} at noon {i}", namespace=("a",))
                    elif i % 4 == 1:
                        store.update(target.id, content=f"Our {pair} sleep all day ({k}, {i})")
                    elif i % 4 == 2:
                        store._import_records([replace(target, content=f"Our {pair} play ({k}, {i})")],
                                              on_progress=None, batch_size=10)
                    else:
                        added = store.add(f"Writer {k} fed our {pair} {i}", namespace=("a",))
                        store.delete(added.id)
                except MemoryNotFoundError:
                    pass
                except BaseException as exc:
                    failures.append(exc)

        workers = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=120)
        assert not failures, failures
        with store._reading() as conn:
            kept = dict(conn.execute("SELECT item, n FROM entity_df WHERE ns = 'a/'").fetchall())
            items = dict(conn.execute(
                "SELECT item, count(*) FROM entity_items WHERE ns = 'a/' GROUP BY item").fetchall())
        assert kept == items and set(kept) <= set(animals)
