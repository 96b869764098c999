"""The conformance suite run against the native SQLite adapter.

``TestNativeConformance`` is the adapter as shipped (hashing embedder).
``TestNativeWithCapabilitiesWithdrawn`` is the same store declaring no optional
capability, so the suite's "undeclared capability raises" checks run for real.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import ClassVar
from urllib.parse import quote

import pytest

from mnemos.memory_adapters._native_key import resolve_key
from mnemos.memory_adapters.base import BaseMemoryAdapter, Capability, utcnow
from mnemos.memory_adapters.conformance import (
    ProcessOpener,
    sqlite_integrity_check,
)
from mnemos.memory_adapters.conformance.suite import AdapterConformance
from mnemos.memory_adapters.native import NativeMemoryAdapter

STORE_FILE = "memory.db"


class TestNativeConformance(AdapterConformance):
    thread_count = 8
    writes_per_thread = 100
    process_count = 3
    writes_per_process = 150
    sigkill_trials = 3
    sigkill_writes = 1500
    fuzz_calls = 1000
    keyword_ranking = "bm25"

    def open_adapter(
        self,
        location: Path,
        *,
        scope: Sequence[str] = (),
        clock: Callable[[], datetime] | None = None,
    ) -> BaseMemoryAdapter:
        return NativeMemoryAdapter(
            location / STORE_FILE, scope=scope, embedder="hashing", clock=clock or utcnow
        )

    def process_opener(self, location: Path) -> ProcessOpener:
        # the store URL, as a user would write it for open_memory()
        url = "native://" + quote(str((location / STORE_FILE).resolve()))
        return ProcessOpener(target=url, options={"embedder": "hashing"})

    def integrity_check(self, location: Path) -> str:
        return sqlite_integrity_check(location / STORE_FILE)


KEY_ENV = "MNEMOS_TEST_STORE_KEY"


@pytest.mark.skipif(importlib.util.find_spec("sqlcipher3") is None, reason="sqlcipher3-binary is not installed")
class TestNativeEncryptedConformance(AdapterConformance):
    """The native store encrypted with SQLCipher, its key in an environment variable."""

    process_count = 2
    writes_per_process = 100
    sigkill_trials = 2
    sigkill_writes = 800
    fuzz_calls = 300
    keyword_ranking = "bm25"

    @pytest.fixture(autouse=True)
    def _store_key(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(KEY_ENV, "a conformance passphrase")

    def open_adapter(
        self,
        location: Path,
        *,
        scope: Sequence[str] = (),
        clock: Callable[[], datetime] | None = None,
    ) -> BaseMemoryAdapter:
        return NativeMemoryAdapter(
            location / STORE_FILE, scope=scope, embedder="hashing", clock=clock or utcnow, key_env=KEY_ENV
        )

    def process_opener(self, location: Path) -> ProcessOpener:
        url = "native://" + quote(str((location / STORE_FILE).resolve())) + f"?key_env={KEY_ENV}"
        return ProcessOpener(target=url, options={"embedder": "hashing"})

    def integrity_check(self, location: Path) -> str:
        from sqlcipher3 import dbapi2

        key = resolve_key(key_env=KEY_ENV)
        assert key is not None
        conn = dbapi2.connect(str(location / STORE_FILE))
        try:
            conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
            return "\n".join(str(r[0]) for r in conn.execute("PRAGMA integrity_check"))
        finally:
            conn.close()


class _BareNative(NativeMemoryAdapter):
    """The native store declaring only what the base API cannot do without."""

    name: ClassVar[str] = "native-bare"
    capabilities: ClassVar[frozenset[Capability]] = frozenset()


class TestNativeWithCapabilitiesWithdrawn(AdapterConformance):
    thread_count = 4
    writes_per_thread = 25

    def open_adapter(
        self,
        location: Path,
        *,
        scope: Sequence[str] = (),
        clock: Callable[[], datetime] | None = None,
    ) -> BaseMemoryAdapter:
        return _BareNative(location / STORE_FILE, scope=scope, embedder="hashing", clock=clock or utcnow)
