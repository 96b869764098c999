"""Search and listing: ranking with reasons, kinds, namespace prefixes, filters, time ranges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mnemos.exceptions import InvalidNamespaceError, UsageError
from mnemos.memory_adapters._filters import matches_filter
from mnemos.memory_adapters.base import (
    BaseMemoryAdapter,
    Capability,
    MemoryKind,
    MemoryRecord,
    ScoredMemory,
)
from mnemos.memory_adapters.conformance._base import ConformanceBase, Stores

__all__ = ["SearchTests"]

TOPICS = {
    "zebra": "The zebra herd crossed the savanna at dawn, stripes flashing in the light",
    "violin": "Maria practised the violin concerto for three hours before the recital",
    "sourdough": "The sourdough starter needs feeding with rye flour every morning",
    "volcano": "Lava from the volcano reached the village road during the night",
    "chess": "The grandmaster opened with the Sicilian defence and won the chess game",
    "tax": "Quarterly tax forms are due to the accountant next Friday",
}
QUERIES = {
    "zebra": "zebra stripes on the savanna",
    "violin": "violin concerto recital",
    "volcano": "volcano lava",
    "tax": "tax forms for the accountant",
}

_NAMES = ["ann", "zoë", "bob"]
FILTERS: list[dict[str, Any]] = [
    {"tag": "even"},
    {"tag": "even", "n": {"$gte": 4}},
    {"n": {"$gt": 3, "$lt": 8}},
    {"n": {"$gte": 3, "$lte": 5}},
    {"n": {"$eq": 7}},
    {"n": {"$in": [1, 5, 11, 99]}},
    {"n": {"$nin": [0, 1, 2]}},
    {"tag": {"$ne": "even"}},
    {"user.name": "zoë"},
    {"opt": {"$exists": True}},
    {"opt": {"$exists": False}},
    {"missing": {"$ne": 1}},
    {"score": {"$gt": 0.5}},
    {"flag": True},
    {"tag": "no-such-tag"},
]


def _metadata(i: int) -> dict[str, Any]:
    data: dict[str, Any] = {
        "n": i,
        "tag": "even" if i % 2 == 0 else "odd",
        "user": {"name": _NAMES[i % 3]},
        "score": i / 11,
        "flag": i % 3 == 0,
    }
    if i % 4 == 0:
        data["opt"] = f"o{i}"
    return data


def _check_hits(hits: list[ScoredMemory], limit: int) -> None:
    assert len(hits) <= limit, f"{len(hits)} hits for limit={limit}"
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True), f"scores are not best-first: {scores}"
    for hit in hits:
        assert isinstance(hit, ScoredMemory)
        assert hit.reasons, f"hit {hit.record.id} carries no reasons for its score"
        assert hit.explain() != "no scoring signal"


class SearchTests(ConformanceBase):
    """Search ranks and explains; filters by kind, namespace prefix, metadata and time."""

    def test_search_ranks_the_matching_memory_first(self, adapter: BaseMemoryAdapter) -> None:
        self.needs_search(adapter)
        ids = {
            key: adapter.add(text, namespace=("topics",)).id for key, text in TOPICS.items()
        }
        for key, query in QUERIES.items():
            hits = adapter.search(query, namespace=("topics",), limit=3)
            assert hits, f"no hit for {query!r}"
            _check_hits(hits, 3)
            assert hits[0].record.id == ids[key], (
                f"{query!r} ranked {hits[0].record.content!r} first, not the {key} memory"
            )
            assert hits[0].record.namespace == ("topics",)
        assert len(adapter.search("the", namespace=("topics",), limit=2)) <= 2

    def test_search_without_query_lists_newest_first(self, stores: Stores) -> None:
        adapter, add_at = self.dated(stores)
        base = datetime(2024, 1, 1, tzinfo=UTC)
        for day in (3, 1, 4, 2):
            add_at(base + timedelta(days=day), f"event of day {day}", namespace=("days",))
        hits = adapter.search(None, namespace=("days",), limit=3)
        assert [h.record.content for h in hits] == ["event of day 4", "event of day 3", "event of day 2"]
        assert [h.record.id for h in adapter.search("   ", namespace=("days",), limit=3)] == [
            h.record.id for h in hits
        ]

    def test_list_is_newest_first_with_offset_and_limit(self, stores: Stores) -> None:
        adapter, add_at = self.dated(stores)
        base = datetime(2024, 2, 1, 8, 30, tzinfo=UTC)
        order = [5, 0, 3, 6, 1, 4, 2]  # inserted out of time order on purpose
        by_day = {
            day: add_at(base + timedelta(days=day), f"diary day {day}", namespace=("diary",))
            for day in order
        }
        newest_first = [by_day[d].id for d in sorted(by_day, reverse=True)]
        assert [r.id for r in adapter.list(namespace=("diary",))] == newest_first
        assert [r.id for r in adapter.list(namespace=("diary",), limit=3)] == newest_first[:3]
        assert [r.id for r in adapter.list(namespace=("diary",), offset=3, limit=3)] == newest_first[3:6]
        assert [r.id for r in adapter.list(namespace=("diary",), offset=6, limit=3)] == newest_first[6:]
        assert adapter.list(namespace=("diary",), offset=7) == []
        assert [r.id for r in adapter.list(namespace=("diary",), limit=None)] == newest_first

    def test_search_and_list_by_kind(self, adapter: BaseMemoryAdapter) -> None:
        made: dict[MemoryKind, set[str]] = {k: set() for k in MemoryKind}
        for i, kind in enumerate([*MemoryKind, *MemoryKind]):
            record = adapter.add(f"kind test note {i} about gardening", namespace=("k",), kind=kind)
            made[kind].add(record.id)
        assert {r.id for r in adapter.list(kinds="semantic")} == made[MemoryKind.SEMANTIC]
        assert {r.id for r in adapter.list(kinds=MemoryKind.PROCEDURAL)} == made[MemoryKind.PROCEDURAL]
        both = adapter.list(kinds=["episodic", MemoryKind.PROCEDURAL])
        assert {r.id for r in both} == made[MemoryKind.EPISODIC] | made[MemoryKind.PROCEDURAL]
        if self.can_search(adapter):
            hits = adapter.search("gardening note", kinds=["semantic"], limit=10)
            assert hits, "no semantic hit for a query every memory matches"
            assert {h.record.id for h in hits} <= made[MemoryKind.SEMANTIC]
        with pytest.raises(UsageError):
            adapter.list(kinds="dream")

    def test_namespace_prefix_matches_whole_parts_only(self, adapter: BaseMemoryAdapter) -> None:
        spaces = [
            ("proj", "a"),
            ("proj", "a", "sub"),
            ("proj", "ab"),
            ("proj", "a%"),
            ("proj", "a_"),
            ("proj", "a.b"),
            ("proj",),
            ("other", "a"),
        ]
        ids = {ns: adapter.add(f"shared words in {'/'.join(ns)}", namespace=ns).id for ns in spaces}

        def listed(prefix: tuple[str, ...]) -> set[str]:
            return {r.id for r in adapter.list(namespace=prefix, limit=None)}

        assert listed(("proj", "a")) == {ids[("proj", "a")], ids[("proj", "a", "sub")]}
        assert listed(("proj", "a%")) == {ids[("proj", "a%")]}
        assert listed(("proj", "a_")) == {ids[("proj", "a_")]}
        assert listed(("proj", "a", "sub")) == {ids[("proj", "a", "sub")]}
        assert listed(("proj",)) == {ids[ns] for ns in spaces if ns[0] == "proj"}
        assert listed(("pro",)) == set()
        assert listed(()) == set(ids.values())
        assert adapter.namespaces(("proj", "a")) == [("proj", "a"), ("proj", "a", "sub")]
        assert adapter.namespaces() == sorted(spaces)
        assert adapter.count(("proj", "a")) == 2
        if self.can_search(adapter):
            hits = adapter.search("shared words", namespace=("proj", "a"), limit=20)
            assert hits
            assert {h.record.id for h in hits} <= {ids[("proj", "a")], ids[("proj", "a", "sub")]}

    def test_metadata_filters_match_the_reference(self, adapter: BaseMemoryAdapter) -> None:
        self.needs(adapter, Capability.METADATA_FILTER)
        records = [
            adapter.add(f"memo {i} on the filter test", namespace=("f",), metadata=_metadata(i))
            for i in range(12)
        ]
        adapter.add("memo elsewhere", namespace=("g",), metadata=_metadata(2))
        for flt in FILTERS:
            expected = {r.id for r in records if matches_filter(r.metadata, flt)}
            got = {r.id for r in adapter.list(namespace=("f",), filter=flt, limit=None)}
            assert got == expected, f"list(filter={flt!r}) gave {len(got)} records, expected {len(expected)}"
            if self.can_search(adapter):
                hits = adapter.search("memo filter test", namespace=("f",), filter=flt, limit=50)
                assert {h.record.id for h in hits} <= expected, f"search(filter={flt!r}) leaked"
                if expected:
                    assert hits, f"search(filter={flt!r}) found nothing"

    def test_filtered_listing_pages_after_filtering(self, stores: Stores) -> None:
        adapter, add_at = self.dated(stores)
        self.needs(adapter, Capability.METADATA_FILTER)
        base = datetime(2024, 4, 1, tzinfo=UTC)
        records = [
            add_at(base + timedelta(hours=i), f"paged memo {i}", namespace=("p",), metadata=_metadata(i))
            for i in range(12)
        ]
        evens = [r.id for r in reversed(records) if r.metadata["tag"] == "even"]
        got = adapter.list(namespace=("p",), filter={"tag": "even"}, offset=2, limit=3)
        assert [r.id for r in got] == evens[2:5]

    def test_a_rare_match_is_found_behind_many_better_ones(self, stores: Stores) -> None:
        adapter, add_at = self.dated(stores)
        self.needs_search(adapter)
        base = datetime(2024, 5, 1, tzinfo=UTC)
        rare = add_at(
            base, "weekly report about the harbour project", namespace=("r", "rare"),
            kind="procedural", metadata={"owner": "rare"},
        )
        for i in range(1, 80):
            add_at(
                base + timedelta(minutes=i), f"weekly report {i} about the harbour project, harbour again",
                namespace=("r", "common"), metadata={"owner": "common"},
            )
        query = "weekly report harbour project"
        conditions: list[dict[str, Any]] = [
            {"namespace": ("r", "rare")},
            {"kinds": "procedural"},
        ]
        if adapter.supports(Capability.METADATA_FILTER):
            conditions.append({"filter": {"owner": "rare"}})
        if adapter.supports(Capability.TIME_FILTER):
            conditions.append({"until": rare.created_at})
        for condition in conditions:
            hits = adapter.search(query, limit=5, **condition)
            assert [h.record.id for h in hits] == [rare.id], (
                f"search({condition}) missed the one match behind 79 better-ranked non-matches"
            )

    def test_query_syntax_characters_are_just_text(self, adapter: BaseMemoryAdapter) -> None:
        self.needs_search(adapter)
        target = adapter.add("don't forget: buy milk (2 litres) at 5pm", namespace=("q",))
        adapter.add("the garage door needs oil", namespace=("q",))
        nasty = [
            "AND", "OR NOT", '"unbalanced', "milk*", "content:milk", "NEAR(milk buy)",
            "(((", "-milk", "^milk", "' OR 1=1 --", "%_", "🚀", "?!.", "milk" * 2500,
            "\\", "{milk}", "[milk]", "milk OR", "*",
        ]
        for query in nasty:
            hits = adapter.search(query, namespace=("q",))
            assert isinstance(hits, list), f"search({query[:20]!r}) returned {type(hits).__name__}"
        hits = adapter.search("don't forget (milk)", namespace=("q",))
        assert hits and hits[0].record.id == target.id

    def test_bad_metadata_filters_are_refused(self, adapter: BaseMemoryAdapter) -> None:
        self.needs(adapter, Capability.METADATA_FILTER)
        adapter.add("a memory", namespace=("f",), metadata={"n": 1})
        for flt in ({"n": {"$regex": "1"}}, {"n": {"$in": 1}}, {"": 1}):
            with pytest.raises(UsageError):
                adapter.list(filter=flt)
        with pytest.raises(UsageError):
            adapter.list(filter=["n", 1])  # type: ignore[arg-type]

    def test_time_range_is_inclusive(self, stores: Stores) -> None:
        adapter, add_at = self.dated(stores)
        self.needs(adapter, Capability.TIME_FILTER)
        base = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
        by_day: dict[int, MemoryRecord] = {}
        for day in (1, 2, 3, 4, 5, 6):
            by_day[day] = add_at(
                base + timedelta(days=day), f"timeline entry for day {day}", namespace=("t",)
            )

        def days(**kwargs: Any) -> list[int]:
            found = adapter.list(namespace=("t",), **kwargs)
            day_of = {r.id: d for d, r in by_day.items()}
            return [day_of[r.id] for r in found]

        since, until = by_day[2].created_at, by_day[4].created_at
        assert days(since=since, until=until) == [4, 3, 2]
        assert days(since=since) == [6, 5, 4, 3, 2]
        assert days(until=until) == [4, 3, 2, 1]
        naive = until.replace(tzinfo=None)  # naive datetimes are taken as UTC
        assert days(until=naive) == [4, 3, 2, 1]
        if self.can_search(adapter):
            hits = adapter.search("timeline entry day", namespace=("t",), since=since, until=until)
            assert hits
            assert {h.record.id for h in hits} <= {by_day[d].id for d in (2, 3, 4)}

    def test_bad_search_arguments_are_refused(self, adapter: BaseMemoryAdapter) -> None:
        adapter.add("a memory about search arguments", namespace=("s",))
        with pytest.raises(UsageError):
            adapter.search(42)  # type: ignore[arg-type]
        for limit in (0, -1, True, 2.5):
            with pytest.raises(UsageError):
                adapter.search("memory", limit=limit)  # type: ignore[arg-type]
        with pytest.raises(InvalidNamespaceError):
            adapter.search(None, namespace="s")
        with pytest.raises(InvalidNamespaceError):
            adapter.list(namespace="s")
        with pytest.raises(UsageError):
            adapter.list(offset=-1)
        with pytest.raises(UsageError):
            adapter.list(limit=0)
