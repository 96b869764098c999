"""Portability: JSONL export then import gives an equal store; broken files import nothing."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mnemos.exceptions import ImportFormatError
from mnemos.memory_adapters.base import BaseMemoryAdapter, Capability, MemoryKind, Provenance
from mnemos.memory_adapters.conformance._base import ConformanceBase, Stores
from mnemos.memory_adapters.conformance._records import RICH_METADATA
from mnemos.memory_adapters.conformance._support import UNICODE_SAMPLES, exact, snapshot

__all__ = ["PortabilityTests"]


class PortabilityTests(ConformanceBase):
    """A store survives a JSONL round trip field for field."""

    def _needs_round_trip(self, adapter: BaseMemoryAdapter) -> None:
        self.needs(adapter, Capability.EXPORT, Capability.PRESERVE_IDS)

    def _populate(self, adapter: BaseMemoryAdapter) -> None:
        """A store with every kind of record the adapter can hold."""
        created = datetime(2023, 7, 14, 9, 30, 15, 250001, tzinfo=UTC)
        for i, kind in enumerate(MemoryKind):
            adapter.add(
                f"{kind.value} memory number {i}",
                namespace=("users", "alice", kind.value),
                kind=kind,
                metadata={**RICH_METADATA, "i": i},
                importance=round(0.1 + i * 0.3, 2),
                provenance=Provenance(agent="a", thread=f"t{i}", message_ids=(f"m{i}",)),
                created_at=created + timedelta(minutes=i),
            )
        for name, text in UNICODE_SAMPLES.items():
            adapter.add(text, namespace=("unicode", name.replace(" ", "-")))
        if adapter.supports(Capability.TTL):
            adapter.add("expires next century", namespace=("ttl",), expires_at=datetime(2125, 1, 1, tzinfo=UTC))
        if adapter.supports(Capability.UPDATE):
            record = adapter.add("draft one", namespace=("drafts",))
            adapter.update(record.id, content="draft two", metadata={"rev": 2})
            adapter.update(record.id, importance=0.95)
        if adapter.supports(Capability.SUPERSEDE):
            fact = adapter.add("the office is on floor 3", namespace=("facts",), kind="semantic")
            adapter.supersede(fact.id, "the office is on floor 5")

    def test_export_then_import_gives_an_equal_store(self, stores: Stores, tmp_path: Path) -> None:
        source = stores.open()
        self._needs_round_trip(source)
        self._populate(source)
        expected = snapshot(source)
        dump = tmp_path / "export.jsonl"
        assert source.export_jsonl(dump) == len(expected)
        lines = dump.read_text(encoding="utf-8").splitlines()
        assert len(lines) == len(expected) and all(json.loads(line) for line in lines)

        target = stores.open(location=stores.new_location())
        progress: list[tuple[int, int]] = []
        assert target.import_jsonl(dump, on_progress=lambda d, t: progress.append((d, t))) == len(expected)
        assert snapshot(target) == expected, "the imported store differs from the exported one"
        assert progress and progress[-1] == (len(expected), len(expected))
        for record in source.list(limit=None, include_superseded=True):
            assert exact(target.get(record.id)) == exact(record)
        assert target.namespaces() == source.namespaces()

        # importing the same file again replaces, it does not duplicate
        assert target.import_jsonl(dump) == len(expected)
        assert snapshot(target) == expected
        reopened = stores.reopen(target)
        assert snapshot(reopened) == expected

    def test_export_import_through_streams_and_scopes(self, stores: Stores) -> None:
        root = stores.open()
        self._needs_round_trip(root)
        root.add("tenant memory one", namespace=("tenants", "t1", "n"))
        root.add("tenant memory two", namespace=("tenants", "t1", "m"))
        root.add("someone else's memory", namespace=("tenants", "t2", "n"))
        buffer = io.StringIO()
        assert root.scoped("tenants", "t1").export_jsonl(buffer) == 2
        rows = [json.loads(line) for line in buffer.getvalue().splitlines()]
        assert sorted(r["namespace"] for r in rows) == [["m"], ["n"]], "export is relative to the scope"

        elsewhere = stores.new_location()
        target = stores.open(("imported",), location=elsewhere)
        assert target.import_jsonl(io.StringIO(buffer.getvalue())) == 2
        whole = stores.open(location=elsewhere)
        assert sorted(whole.namespaces()) == [("imported", "m"), ("imported", "n")]

    @pytest.mark.parametrize(
        ("line_no", "bad_line"),
        [
            (3, '{"id": "broken", "namespace": ["x"], '),
            (2, '["a", "json", "array"]'),
            (4, "not json at all"),
        ],
    )
    def test_a_broken_line_imports_nothing(
        self, stores: Stores, tmp_path: Path, line_no: int, bad_line: str
    ) -> None:
        source = stores.open()
        self._needs_round_trip(source)
        for i in range(5):
            source.add(f"exported memory {i}", namespace=("e",))
        dump = tmp_path / "export.jsonl"
        source.export_jsonl(dump)
        lines = dump.read_text(encoding="utf-8").splitlines()
        lines[line_no - 1] = bad_line
        dump.write_text("\n".join(lines) + "\n", encoding="utf-8")

        target = stores.open(location=stores.new_location())
        target.add("already in the target", namespace=("t",))
        before = snapshot(target)
        with pytest.raises(ImportFormatError) as caught:
            target.import_jsonl(dump)
        assert caught.value.line == line_no
        assert f"line {line_no}" in str(caught.value)
        assert snapshot(target) == before, "a broken file was partly imported"

    def test_an_invalid_record_line_imports_nothing(self, stores: Stores, tmp_path: Path) -> None:
        source = stores.open()
        self._needs_round_trip(source)
        for i in range(3):
            source.add(f"exported memory {i}", namespace=("e",))
        buffer = io.StringIO()
        source.export_jsonl(buffer)
        rows = [json.loads(line) for line in buffer.getvalue().splitlines()]
        for field, value in (("importance", 2), ("content", ""), ("kind", "dream"), ("namespace", [])):
            broken = [dict(r) for r in rows]
            broken[1][field] = value
            text = "".join(json.dumps(r) + "\n" for r in broken)
            target = stores.open(location=stores.new_location())
            with pytest.raises(ImportFormatError) as caught:
                target.import_jsonl(io.StringIO(text))
            assert caught.value.line == 2, f"{field}={value!r} reported on line {caught.value.line}"
            assert target.list() == []

