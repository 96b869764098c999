"""A seeded fuzz of the public memory API: every call ends in a result or a typed error.

:func:`run_fuzz` drives one scoped adapter with random calls whose arguments are a
mix of sound values and the bad input a careless caller or an attacker sends (lone
surrogates, unparseable dates, huge or infinite numbers, wrong types, metadata
nested thousands deep, binary files to import, ids of other scopes). It counts
the calls that raised something other than a :class:`~mnemos.exceptions.MnemosError`
and checks that no memory outside the fuzzed scope changed.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import random
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from mnemos.exceptions import MnemosError
from mnemos.memory_adapters.base import BaseMemoryAdapter, Capability

__all__ = ["FuzzReport", "run_fuzz"]

SCOPE = ("users", "fuzz")
OTHER = ("users", "other")


@dataclass
class FuzzReport:
    """What a fuzz run saw."""

    calls: int = 0
    ok: int = 0
    typed: int = 0
    untyped: int = 0
    changed_outside: int = 0
    """Memories outside the fuzzed scope that differ after the run (must be 0)."""
    untyped_kinds: Counter[str] = field(default_factory=Counter)
    """``operation: ExceptionType`` of each untyped error."""
    examples: dict[str, str] = field(default_factory=dict)
    """One traceback per untyped kind."""
    typed_kinds: Counter[str] = field(default_factory=Counter)
    poisoned: list[str] = field(default_factory=list)
    """Reads of the whole scope that failed after the run (a stored record that breaks reads)."""

    def summary(self) -> str:
        lines = [
            f"calls {self.calls}: ok {self.ok}, typed errors {self.typed}, "
            f"untyped errors {self.untyped}, memories changed outside the scope {self.changed_outside}, "
            f"failed reads after the run {len(self.poisoned)}"
        ]
        lines += [f"  untyped {n:5d}  {kind}" for kind, n in self.untyped_kinds.most_common()]
        return "\n".join(lines)


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        value = {"n": value}
    return value


class _Values:
    """Random argument values, sound and bad."""

    def __init__(self, rng: random.Random, ids: list[str], foreign: list[str]) -> None:
        self.rng = rng
        self.ids = ids
        self.foreign = foreign

    def pick(self, options: Sequence[Callable[[], Any]]) -> Any:
        """The first option (a sound value) half the time, else any."""
        if self.rng.random() < 0.5:
            return options[0]()
        return self.rng.choice(options)()

    def text(self) -> Any:
        r = self.rng
        return self.pick([
            lambda: f"note {r.randrange(50)} about the {r.choice(['harbour', 'kettle', 'Lisbon', 'Bob'])}",
            lambda: "lone \ud800 surrogate",
            lambda: "",
            lambda: "   ",
            lambda: "nul\x00byte",
            lambda: r.randrange(10),
            lambda: None,
            lambda: b"bytes content",
            lambda: "x" * r.choice([1, 5000]),
            lambda: "emoji 🚀 and ünïcode",
            lambda: 'fts "syntax" OR NEAR( * ^ -',
        ])

    def namespace(self) -> Any:
        r = self.rng
        return self.pick([
            lambda: ("notes",),
            lambda: ("notes", f"n{r.randrange(3)}"),
            lambda: (),
            lambda: ("bad\udc80part",),
            lambda: "notes",
            lambda: ("a/b",),
            lambda: ("..", "other"),
            lambda: ("",),
            lambda: (None,),
            lambda: 17,
            lambda: ("x",) * 40,
            lambda: ("y" * 500,),
            lambda: ["notes"],
        ])

    def metadata(self) -> Any:
        r = self.rng
        return self.pick([
            lambda: {"k": r.randrange(5)},
            lambda: {},
            lambda: None,
            lambda: {"s": "bad \ud834 value"},
            lambda: {"bad \udfff key": 1},
            lambda: {"x": math.nan},
            lambda: {"x": math.inf},
            lambda: {1: "int key"},
            lambda: [1, 2],
            lambda: "meta",
            lambda: _nested(r.choice([50, 980, 5000])),
            lambda: {"big": "z" * 100_000},
            lambda: {"many": list(range(r.choice([10, 200_000])))},
            lambda: {"o": object()},
        ])

    def when(self) -> Any:
        return self.pick([
            lambda: None,
            lambda: datetime(2030, 1, 1, tzinfo=UTC),
            lambda: datetime(2020, 1, 1),
            lambda: "2020-01-01",
            lambda: "tomorrow",
            lambda: 1700000000,
            lambda: datetime.max,
            lambda: datetime.min,
            lambda: datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=23, minutes=59))),
            lambda: datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-23, minutes=-59))),
            lambda: math.inf,
        ])

    def number(self) -> Any:
        r = self.rng
        return self.pick([
            lambda: r.choice([1, 5, 10]),
            lambda: 0,
            lambda: -1,
            lambda: 10**30,
            lambda: math.inf,
            lambda: math.nan,
            lambda: 2.5,
            lambda: True,
            lambda: "5",
            lambda: None,
            lambda: 1e308,
        ])

    def memory_id(self) -> Any:
        r = self.rng
        return self.pick([
            lambda: r.choice(self.ids) if self.ids else "none",
            lambda: r.choice(self.ids) if self.ids else "none",
            lambda: r.choice(self.foreign),
            lambda: "0" * 32,
            lambda: "bad\ud800id",
            lambda: "",
            lambda: 17,
            lambda: None,
            lambda: "x" * 10_000,
            lambda: "nul\x00",
        ])

    def filter(self) -> Any:
        r = self.rng
        return self.pick([
            lambda: None,
            lambda: {"k": r.randrange(5)},
            lambda: {"k": {"$gt": 1}},
            lambda: {"k": {"$in": "notalist"}},
            lambda: {"k": {"$bogus": 1}},
            lambda: {"bad\udc00key": 1},
            lambda: {"k": "bad\ud800value"},
            lambda: {"k": {"$in": [{"deep": _nested(2000)}]}},
            lambda: {"": 1},
            lambda: [("k", 1)],
            lambda: {"k": {"$gt": object()}},
        ])

    def kinds(self) -> Any:
        return self.pick([
            lambda: None,
            lambda: "semantic",
            lambda: ["episodic", "procedural"],
            lambda: "nonsense",
            lambda: 5,
            lambda: [None],
        ])

    def jsonl(self) -> Any:
        r = self.rng
        record = {
            "id": r.choice([*self.ids, *self.foreign, "imported-1"]) if r.random() < 0.5 else f"imp{r.randrange(99)}",
            "namespace": ["imported"],
            "kind": "episodic",
            "content": "an imported memory",
            "created_at": "2030-01-01T00:00:00+00:00",
            "updated_at": "2030-01-01T00:00:00+00:00",
        }
        return self.pick([
            lambda: io.StringIO(json.dumps(record) + "\n"),
            lambda: io.BytesIO(bytes(r.randrange(256) for _ in range(200))),
            lambda: io.StringIO("not json\n"),
            lambda: io.StringIO(json.dumps(record)[:-1] + ', "metadata": ' + '{"n": ' * 3000 + "1" + "}" * 3001 + "\n"),
            lambda: io.StringIO('{"id": "x", "namespace": ["a"], "content": "\\ud800"}\n'),
            lambda: io.StringIO(json.dumps({**record, "created_at": "tomorrow"}) + "\n"),
            lambda: io.StringIO(json.dumps({**record, "expires_at": "9999-12-31T23:59:59-23:59"}) + "\n"),
            lambda: io.StringIO("[1, 2]\n"),
            lambda: 42,
        ])


def _operations(v: _Values, adapter: BaseMemoryAdapter) -> list[tuple[str, Callable[[], Any]]]:
    r = v.rng

    def add() -> Any:
        kwargs: dict[str, Any] = {"namespace": v.namespace()}
        if r.random() < 0.5:
            kwargs["metadata"] = v.metadata()
        if r.random() < 0.3:
            kwargs["kind"] = v.kinds()
        if r.random() < 0.3:
            kwargs["importance"] = v.number()
        if r.random() < 0.2:
            kwargs["ttl_seconds"] = v.number()
        if r.random() < 0.2:
            kwargs["expires_at"] = v.when()
        if r.random() < 0.2:
            kwargs["created_at"] = v.when()
        record = adapter.add(v.text(), **kwargs)
        v.ids.append(record.id)
        return record

    def add_many() -> Any:
        items = [
            {"content": v.text(), "namespace": v.namespace(), **({"id": v.memory_id()} if r.random() < 0.4 else {}),
             **({"metadata": v.metadata()} if r.random() < 0.3 else {})}
            for _ in range(r.randrange(1, 4))
        ]
        if r.random() < 0.1:
            items.append("not a dict")  # type: ignore[arg-type]
        stored = adapter.add_many(items)
        v.ids.extend(s.id for s in stored)
        return stored

    def search() -> Any:
        return adapter.search(
            v.text(), namespace=v.namespace() if r.random() < 0.5 else (), kinds=v.kinds(),
            filter=v.filter(), since=v.when(), until=v.when() if r.random() < 0.3 else None,
            limit=v.number(),
        )

    def list_() -> Any:
        return adapter.list(
            namespace=v.namespace() if r.random() < 0.5 else (), filter=v.filter(), since=v.when(),
            limit=v.number(), offset=r.choice([0, 3, -1, 10**30, "2"]),  # type: ignore[arg-type]
        )

    def export() -> Any:
        return adapter.export_jsonl(io.StringIO(), v.namespace() if r.random() < 0.5 else ())

    ops: list[tuple[str, Callable[[], Any]]] = [
        ("add", add),
        ("add_many", add_many),
        ("get", lambda: adapter.get(v.memory_id())),
        ("get_many", lambda: adapter.get_many([v.memory_id(), v.memory_id()])),
        ("update", lambda: adapter.update(v.memory_id(), content=v.text() if r.random() < 0.5 else None,
                                          metadata=v.metadata() if r.random() < 0.5 else None,
                                          importance=v.number() if r.random() < 0.3 else None)),
        ("supersede", lambda: adapter.supersede(v.memory_id(), v.text(), metadata=v.metadata())),
        ("history", lambda: adapter.history(v.memory_id())),
        ("delete", lambda: adapter.delete(v.memory_id())),
        ("search", search),
        ("list", list_),
        ("namespaces", lambda: adapter.namespaces(v.namespace())),
        ("count", lambda: adapter.count(v.namespace())),
        ("purge", lambda: adapter.purge(v.namespace())),
        ("export", export),
        ("import", lambda: adapter.import_jsonl(v.jsonl())),
        ("scoped", lambda: _scoped(adapter, v.namespace()).list(limit=3)),
        ("erase", lambda: adapter.erase(v.namespace()) if r.random() < 0.1 else adapter.count()),
        ("asearch", lambda: asyncio.run(adapter.asearch(v.text(), limit=v.number()))),
    ]
    return [(name, fn) for name, fn in ops if _possible(adapter, name)]


def _scoped(adapter: BaseMemoryAdapter, namespace: Any) -> BaseMemoryAdapter:
    parts = namespace if isinstance(namespace, (tuple, list)) else (namespace,)
    return adapter.scoped(*parts)


def _possible(adapter: BaseMemoryAdapter, name: str) -> bool:
    needs = {
        "update": Capability.UPDATE, "supersede": Capability.SUPERSEDE, "history": Capability.HISTORY,
        "delete": Capability.DELETE, "purge": Capability.TTL, "export": Capability.EXPORT,
        "import": Capability.PRESERVE_IDS, "erase": Capability.DELETE,
    }
    return name not in needs or adapter.supports(needs[name])


def run_fuzz(
    open_adapter: Callable[[Sequence[str]], BaseMemoryAdapter], *, calls: int, seed: int = 0
) -> FuzzReport:
    """Fuzz an adapter for ``SCOPE`` with ``calls`` random calls; another scope is watched.

    ``open_adapter(scope)`` opens the adapter under test over one store (called twice:
    for the root, which writes the watched memories, and for the fuzzed scope); the
    caller closes the adapters.
    """
    rng = random.Random(seed)
    root = open_adapter(())
    for i in range(20):
        root.add(f"someone else's memory {i}", namespace=(*OTHER, "notes"), metadata={"i": i})
    foreign = [r.id for r in root.list(namespace=OTHER, limit=None)]
    before = sorted(json.dumps(r.to_dict(), sort_keys=True) for r in root.list(namespace=OTHER, limit=None))
    adapter = open_adapter(SCOPE)
    report = FuzzReport()
    try:
        values = _Values(rng, [], foreign)
        ops = _operations(values, adapter)
        for _ in range(calls):
            name, fn = rng.choice(ops)
            report.calls += 1
            try:
                fn()
            except MnemosError as exc:
                report.typed += 1
                report.typed_kinds[f"{name}: {type(exc).__name__}"] += 1
            except Exception as exc:
                report.untyped += 1
                kind = f"{name}: {type(exc).__name__}"
                report.untyped_kinds[kind] += 1
                report.examples.setdefault(kind, "".join(traceback.format_exception(exc))[-3000:])
            else:
                report.ok += 1
            if len(values.ids) > 200:
                del values.ids[:100]
    finally:
        report.poisoned = _read_everything(adapter)
    after = sorted(json.dumps(r.to_dict(), sort_keys=True) for r in root.list(namespace=OTHER, limit=None))
    report.changed_outside = len(set(before) ^ set(after))
    return report


def _read_everything(adapter: BaseMemoryAdapter) -> list[str]:
    failures = []
    reads: list[tuple[str, Callable[[], Any]]] = [
        ("list", lambda: adapter.list(limit=None, include_superseded=True)),
        ("namespaces", adapter.namespaces),
    ]
    if adapter.supports(Capability.KEYWORD_SEARCH) or adapter.supports(Capability.VECTOR_SEARCH):
        reads.append(("search", lambda: adapter.search("note memory harbour", limit=100)))
    if adapter.supports(Capability.EXPORT):
        reads.append(("export", lambda: adapter.export_jsonl(io.StringIO())))
    for name, read in reads:
        try:
            read()
        except Exception as exc:
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
    return failures
