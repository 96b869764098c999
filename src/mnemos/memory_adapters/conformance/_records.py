"""Records: every field round-trips, odd contents survive, bad input is refused."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from mnemos.exceptions import InvalidNamespaceError, InvalidRecordError
from mnemos.memory_adapters.base import (
    MAX_CONTENT_BYTES,
    BaseMemoryAdapter,
    Capability,
    MemoryKind,
    Provenance,
)
from mnemos.memory_adapters.conformance._base import ConformanceBase, Stores
from mnemos.memory_adapters.conformance._support import UNICODE_SAMPLES, exact, snapshot

__all__ = ["RecordTests"]

RICH_METADATA: dict[str, Any] = {
    "topic": "travel",
    "count": 3,
    "ratio": 0.25,
    "flag": True,
    "off": False,
    "nothing": None,
    "big": 2**40 + 1,
    "tags": ["a", "b", "ü"],
    "nested": {"user": {"name": "Zoë", "langs": ["fr", "日本語"]}, "depth": [{"x": 1}]},
    "ключ": "значение",
    "emoji 🚀": "🧠",
}

_BAD_ADDS: list[tuple[str, dict[str, Any], tuple[type[Exception], ...]]] = [
    ("int content", {"content": 42}, (InvalidRecordError,)),
    ("None content", {"content": None}, (InvalidRecordError,)),
    ("bytes content", {"content": b"bytes"}, (InvalidRecordError,)),
    ("str namespace", {"namespace": "users/alice"}, (InvalidNamespaceError, InvalidRecordError)),
    ("empty namespace", {"namespace": ()}, (InvalidNamespaceError, InvalidRecordError)),
    ("blank namespace part", {"namespace": ("a", "")}, (InvalidNamespaceError, InvalidRecordError)),
    ("separator in part", {"namespace": ("a/b",)}, (InvalidNamespaceError, InvalidRecordError)),
    ("int namespace part", {"namespace": ("a", 1)}, (InvalidNamespaceError, InvalidRecordError)),
    ("unknown kind", {"kind": "dream"}, (InvalidRecordError,)),
    ("NaN metadata", {"metadata": {"x": math.nan}}, (InvalidRecordError,)),
    ("infinite metadata", {"metadata": {"x": math.inf}}, (InvalidRecordError,)),
    ("object metadata", {"metadata": {"x": object()}}, (InvalidRecordError,)),
    ("list metadata", {"metadata": ["not", "a", "dict"]}, (InvalidRecordError,)),
    ("importance 2", {"importance": 2}, (InvalidRecordError,)),
    ("negative importance", {"importance": -0.1}, (InvalidRecordError,)),
    ("NaN importance", {"importance": math.nan}, (InvalidRecordError,)),
    ("text importance", {"importance": "high"}, (InvalidRecordError,)),
    ("zero ttl", {"ttl_seconds": 0}, (InvalidRecordError,)),
    ("negative ttl", {"ttl_seconds": -5}, (InvalidRecordError,)),
    ("text created_at", {"created_at": "yesterday"}, (InvalidRecordError,)),
    ("text provenance", {"provenance": "agent-1"}, (InvalidRecordError,)),
    ("int message_ids", {"provenance": {"message_ids": 5}}, (InvalidRecordError,)),
]


class RecordTests(ConformanceBase):
    """Every field round-trips; unicode, 1 MB and odd whitespace survive; bad input is refused."""

    def test_record_every_field_round_trips(self, stores: Stores) -> None:
        adapter = stores.open()
        exact_times = adapter.supports(Capability.PRESERVE_IDS)
        created = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
        expires = datetime(2099, 12, 31, 23, 59, 58, 654321, tzinfo=UTC)
        with_ttl = adapter.supports(Capability.TTL)
        provenance = Provenance(
            agent="planner", thread="thread-7", message_ids=("m1", "m2"), source="chat"
        )
        stored = adapter.add(
            "Alice prefers window seats on long flights",
            namespace=("users", "alice", "prefs"),
            kind=MemoryKind.SEMANTIC,
            metadata=RICH_METADATA,
            importance=0.73,
            expires_at=expires if with_ttl else None,
            provenance=provenance,
            created_at=created,
        )
        assert isinstance(stored.id, str) and stored.id
        assert stored.namespace == ("users", "alice", "prefs")
        assert stored.kind is MemoryKind.SEMANTIC
        assert stored.content == "Alice prefers window seats on long flights"
        assert stored.metadata == RICH_METADATA
        assert stored.importance == 0.73
        assert stored.expires_at == (expires if with_ttl else None)
        assert stored.provenance == provenance
        assert stored.version == 1
        assert stored.valid_to is None and stored.superseded_by is None
        assert stored.created_at.tzinfo is not None and stored.created_at.utcoffset() == timedelta(0)
        if exact_times:
            assert stored.created_at == created
            assert stored.updated_at == created
            assert stored.valid_from == created
        else:
            assert stored.valid_from is not None

        got = adapter.get(stored.id)
        assert exact(got) == exact(stored), "get() differs from what add() returned"
        listed = [r for r in adapter.list() if r.id == stored.id]
        assert [exact(r) for r in listed] == [exact(stored)], "list() differs from add()"

        reopened = stores.reopen(adapter)
        assert exact(reopened.get(stored.id)) == exact(stored), "the record changed on reopening"

    def test_record_defaults(self, adapter: BaseMemoryAdapter) -> None:
        before = datetime.now(UTC) - timedelta(minutes=5)
        episode = adapter.add("a plain memory", namespace=("n",))
        fact = adapter.add("a plain fact", namespace=("n",), kind="semantic")
        assert episode.kind is MemoryKind.EPISODIC
        assert episode.metadata == {}
        assert episode.importance == 0.5
        assert episode.expires_at is None
        assert episode.provenance == Provenance()
        assert episode.version == 1
        assert episode.valid_from is None, "only semantic facts carry validity"
        assert episode.created_at == episode.updated_at
        assert before <= episode.created_at <= datetime.now(UTC) + timedelta(minutes=5)
        assert fact.kind is MemoryKind.SEMANTIC
        assert fact.valid_from == fact.created_at and fact.valid_to is None

    def test_times_are_normalized_to_utc(self, adapter: BaseMemoryAdapter) -> None:
        self.needs(adapter, Capability.PRESERVE_IDS)
        plus_two = timezone(timedelta(hours=2))
        local = datetime(2024, 1, 1, 12, 0, 0, 5, tzinfo=plus_two)
        naive = datetime(2024, 1, 2, 8, 30)
        for given, expected in ((local, datetime(2024, 1, 1, 10, 0, 0, 5, tzinfo=UTC)),
                                (naive, naive.replace(tzinfo=UTC))):
            record = adapter.add(f"created at {given.isoformat()}", namespace=("tz",), created_at=given)
            for seen in (record, adapter.get(record.id)):
                assert seen.created_at == expected
                assert seen.created_at.utcoffset() == timedelta(0), "times come back in UTC"
        if adapter.supports(Capability.TTL):
            record = adapter.add("naive expiry", namespace=("tz",), expires_at=datetime(2099, 1, 1))
            assert adapter.get(record.id).expires_at == datetime(2099, 1, 1, tzinfo=UTC)

    def test_record_ids_are_unique(self, adapter: BaseMemoryAdapter) -> None:
        records = [adapter.add(f"memory number {i}", namespace=("ids",)) for i in range(50)]
        ids = {r.id for r in records}
        assert len(ids) == 50
        assert all(isinstance(i, str) and i for i in ids)
        assert adapter.count(("ids",)) == 50

    @pytest.mark.parametrize("sample", sorted(UNICODE_SAMPLES))
    def test_unicode_round_trips(self, adapter: BaseMemoryAdapter, sample: str) -> None:
        text = UNICODE_SAMPLES[sample]
        record = adapter.add(
            text,
            namespace=("用户", "אליס", "🧠"),
            metadata={"текст": text, "見出し": ["שלום", "🎉"]},
        )
        got = adapter.get(record.id)
        assert got.content == text
        assert got.namespace == ("用户", "אליס", "🧠")
        assert got.metadata == {"текст": text, "見出し": ["שלום", "🎉"]}
        assert adapter.namespaces() == [("用户", "אליס", "🧠")]
        assert [r.id for r in adapter.list(namespace=("用户", "אליס"))] == [record.id]
        if self.can_search(adapter):
            hits = adapter.search(text, namespace=("用户",))
            assert all(h.record.namespace == ("用户", "אליס", "🧠") for h in hits)

    def test_whitespace_and_newlines_are_kept(self, adapter: BaseMemoryAdapter) -> None:
        text = "  leading spaces\n\tindented line\r\nwindows line  \n\n trailing  "
        record = adapter.add(text, namespace=("ws",))
        assert adapter.get(record.id).content == text

    def test_one_megabyte_content_round_trips(self, adapter: BaseMemoryAdapter) -> None:
        words = [f"token{i % 5000} lorem ipsum dolor" for i in range(40000)]
        text = ("🧠 " + " ".join(words))[: 1024 * 1024]
        while len(text.encode("utf-8")) < 1024 * 1024:
            text += " more"
        record = adapter.add(text, namespace=("big",))
        assert adapter.get(record.id).content == text
        assert adapter.list(namespace=("big",))[0].content == text

    def test_content_over_the_limit_is_refused(self, adapter: BaseMemoryAdapter) -> None:
        keep = adapter.add("something already stored", namespace=("limit",))
        before = snapshot(adapter)
        with pytest.raises(InvalidRecordError, match="limit"):
            adapter.add("x" * (MAX_CONTENT_BYTES + 1), namespace=("limit",))
        # fewer characters than the limit, but more bytes
        with pytest.raises(InvalidRecordError, match="limit"):
            adapter.add("é" * (MAX_CONTENT_BYTES // 2 + 1), namespace=("limit",))
        assert snapshot(adapter) == before
        assert adapter.get(keep.id).content == "something already stored"

    @pytest.mark.parametrize("content", ["", "   ", "\n\t \r\n", "nul \x00 inside"])
    def test_empty_blank_or_nul_content_is_refused(
        self, adapter: BaseMemoryAdapter, content: str
    ) -> None:
        adapter.add("something already stored", namespace=("empty",))
        before = snapshot(adapter)
        with pytest.raises(InvalidRecordError):
            adapter.add(content, namespace=("empty",))
        assert snapshot(adapter) == before

    @pytest.mark.parametrize("case", [c[0] for c in _BAD_ADDS])
    def test_wrong_types_are_refused_and_change_nothing(
        self, adapter: BaseMemoryAdapter, case: str
    ) -> None:
        _, overrides, errors = next(c for c in _BAD_ADDS if c[0] == case)
        adapter.add("something already stored", namespace=("types",), metadata={"k": 1})
        before = snapshot(adapter)
        kwargs: dict[str, Any] = {"content": "a new memory", "namespace": ("types",), **overrides}
        content = kwargs.pop("content")
        with pytest.raises(errors):
            adapter.add(content, **kwargs)
        assert snapshot(adapter) == before

    def test_a_bad_item_in_a_batch_stores_none_of_it(self, adapter: BaseMemoryAdapter) -> None:
        before = snapshot(adapter)
        batch = [
            {"content": "good one", "namespace": ("batch",)},
            {"content": "good two", "namespace": ("batch",)},
            {"content": "", "namespace": ("batch",)},
        ]
        with pytest.raises(InvalidRecordError):
            adapter.add_many(batch)
        assert snapshot(adapter) == before
        stored = adapter.add_many(batch[:2])
        assert [r.content for r in stored] == ["good one", "good two"]
        assert {r.id for r in adapter.list(namespace=("batch",))} == {r.id for r in stored}
