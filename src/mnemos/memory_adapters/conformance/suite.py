"""The conformance suite: one test class an adapter's test module subclasses."""

from __future__ import annotations

from mnemos.memory_adapters.conformance._async import AsyncTests
from mnemos.memory_adapters.conformance._base import Stores
from mnemos.memory_adapters.conformance._capabilities import CapabilityTests
from mnemos.memory_adapters.conformance._concurrency import ConcurrencyTests
from mnemos.memory_adapters.conformance._isolation import IsolationTests
from mnemos.memory_adapters.conformance._lifecycle import LifecycleTests
from mnemos.memory_adapters.conformance._portability import PortabilityTests
from mnemos.memory_adapters.conformance._processes import ProcessTests
from mnemos.memory_adapters.conformance._records import RecordTests
from mnemos.memory_adapters.conformance._search import SearchTests
from mnemos.memory_adapters.conformance._side_channel import SideChannelTests
from mnemos.memory_adapters.conformance._tenancy import TenancyTests

__all__ = ["AdapterConformance", "Stores"]


class AdapterConformance(
    RecordTests,
    SearchTests,
    IsolationTests,
    TenancyTests,
    SideChannelTests,
    LifecycleTests,
    PortabilityTests,
    CapabilityTests,
    AsyncTests,
    ConcurrencyTests,
    ProcessTests,
):
    """Every behaviour the memory contract promises, as pytest tests.

    Subclass it in a test module under a name starting with ``Test``, and
    implement :meth:`open_adapter`; optionally :meth:`process_opener` (for the
    multi-process and SIGKILL tests), :meth:`integrity_check` and
    :meth:`capability_probes`. Tests needing a capability the adapter does
    not declare are skipped, and for each capability it does not declare a
    test checks that the operation raises ``CapabilityNotSupportedError``.

    Example::

        from mnemos.memory_adapters.conformance import AdapterConformance

        class TestMyAdapter(AdapterConformance):
            def open_adapter(self, location, *, scope=(), clock=None):
                return MyAdapter(location / "data", scope=scope, clock=clock or utcnow)
    """
