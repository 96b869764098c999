"""Capabilities: what an adapter does not declare raises an error naming it, never nothing."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from mnemos.exceptions import CapabilityNotSupportedError
from mnemos.memory_adapters.base import BaseMemoryAdapter, Capability, MemoryRecord
from mnemos.memory_adapters.conformance._base import ConformanceBase, Stores
from mnemos.memory_adapters.conformance._support import snapshot

__all__ = ["CapabilityTests"]

_Op = Callable[[BaseMemoryAdapter, MemoryRecord], object]
_LATER = datetime(2125, 1, 1, tzinfo=UTC)


def _import_line(adapter: BaseMemoryAdapter, record: MemoryRecord) -> object:
    row = {**record.to_dict(), "id": record.id + "-copy"}
    return adapter.import_jsonl(io.StringIO(json.dumps(row) + "\n"))


def _base_probes(adapter: BaseMemoryAdapter) -> dict[Capability, list[tuple[str, _Op]]]:
    """Operations of the base API that need each capability."""
    ns = ("probe",)
    probes: dict[Capability, list[tuple[str, _Op]]] = {
        Capability.METADATA_FILTER: [
            ("list(filter=...)", lambda a, r: a.list(filter={"k": 1})),
            ("search(filter=...)", lambda a, r: a.search(None, filter={"k": {"$gt": 0}})),
        ],
        Capability.TIME_FILTER: [
            ("list(since=...)", lambda a, r: a.list(since=r.created_at - timedelta(days=1))),
            ("search(until=...)", lambda a, r: a.search(None, until=_LATER)),
        ],
        Capability.UPDATE: [("update()", lambda a, r: a.update(r.id, content="changed"))],
        Capability.HISTORY: [("history()", lambda a, r: a.history(r.id))],
        Capability.DELETE: [("delete()", lambda a, r: a.delete(r.id))],
        Capability.SUPERSEDE: [("supersede()", lambda a, r: a.supersede(r.id, "a newer fact"))],
        Capability.EXPORT: [("export_jsonl()", lambda a, r: a.export_jsonl(io.StringIO()))],
        Capability.PRESERVE_IDS: [("import_jsonl()", _import_line)],
        Capability.TTL: [
            ("add(ttl_seconds=...)", lambda a, r: a.add("short lived", namespace=ns, ttl_seconds=60)),
            ("add(expires_at=...)", lambda a, r: a.add("dated", namespace=ns, expires_at=_LATER)),
            ("add_many(ttl)", lambda a, r: a.add_many([{"content": "x", "namespace": ns, "ttl_seconds": 5}])),
            ("purge()", lambda a, r: a.purge()),
        ],
    }
    if adapter.supports(Capability.UPDATE):
        probes[Capability.TTL].append(
            ("update(expires_at=...)", lambda a, r: a.update(r.id, expires_at=_LATER))
        )
    if not adapter.supports(Capability.VECTOR_SEARCH):
        probes[Capability.KEYWORD_SEARCH] = [("search(query)", lambda a, r: a.search("anything"))]
    return probes


class CapabilityTests(ConformanceBase):
    """Declared capabilities are real; undeclared ones fail loudly with a typed error."""

    def test_declares_its_name_and_capabilities(self, adapter: BaseMemoryAdapter) -> None:
        assert isinstance(adapter.name, str) and adapter.name and adapter.name != "base"
        assert isinstance(adapter.capabilities, frozenset)
        assert all(isinstance(c, Capability) for c in adapter.capabilities)
        if adapter.supports(Capability.HISTORY):
            assert adapter.supports(Capability.UPDATE), "history without update cannot be observed"

    @pytest.mark.parametrize("capability", list(Capability), ids=lambda c: c.value)
    def test_an_undeclared_capability_raises_naming_it(
        self, stores: Stores, capability: Capability
    ) -> None:
        adapter = stores.open()
        if adapter.supports(capability):
            pytest.skip(f"{capability.value} is declared; its own tests cover it")
        record = adapter.add("a memory to probe with", namespace=("probe",), metadata={"k": 1})
        if capability is Capability.DEDUP:
            again = adapter.add("a memory to probe with", namespace=("probe",))
            assert again.id != record.id, "identical content was merged without declaring dedup"
            assert adapter.count(("probe",)) == 2
            return
        ops: list[tuple[str, Callable[..., object]]] = list(_base_probes(adapter).get(capability, []))
        extra: Sequence[Callable[[BaseMemoryAdapter], object]] = self.capability_probes().get(
            capability, ()
        )
        ops += [(getattr(p, "__name__", repr(p)), lambda a, r, p=p: p(a)) for p in extra]
        if not ops:
            pytest.skip(
                f"the base API has no operation that needs only {capability.value}; "
                "give one through capability_probes()"
            )
        before = snapshot(adapter)
        for label, op in ops:
            with pytest.raises(CapabilityNotSupportedError) as caught:
                op(adapter, record)
            assert caught.value.capability == capability.value, (
                f"{label} named {caught.value.capability!r}, not {capability.value!r}"
            )
            assert capability.value in str(caught.value)
            assert snapshot(adapter) == before, f"{label} changed the store before refusing"
