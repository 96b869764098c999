"""open_memory: URLs, paths, configuration, registered schemes and entry points."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from mnemos.exceptions import ConfigurationError
from mnemos.memory_adapters import registry
from mnemos.memory_adapters.base import BaseMemoryAdapter
from mnemos.memory_adapters.native import NativeMemoryAdapter
from mnemos.memory_adapters.registry import known_schemes, open_memory, register_adapter


@pytest.fixture(autouse=True)
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_registry", {})


def test_native_url_opens_that_file(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "store.db"
    with open_memory(f"native://{path}", scope=("users", "alice")) as memory:
        assert isinstance(memory, NativeMemoryAdapter)
        assert memory.path == path and memory.scope == ("users", "alice")
        memory.add("hello", namespace=("notes",))
    with NativeMemoryAdapter(path) as raw:
        assert raw.namespaces() == [("users", "alice", "notes")]


def test_plain_paths_and_path_objects_open_native(tmp_path: Path) -> None:
    with open_memory(str(tmp_path / "a.db")) as a, open_memory(tmp_path / "b.db") as b:
        assert isinstance(a, NativeMemoryAdapter) and a.path == tmp_path / "a.db"
        assert isinstance(b, NativeMemoryAdapter) and b.path == tmp_path / "b.db"


def test_default_store_lives_in_mnemos_home(mnemos_home: Path) -> None:
    with open_memory() as memory:
        assert memory.path == mnemos_home / "memory.db"
    with open_memory("native://") as memory:
        assert memory.path == mnemos_home / "memory.db"
    assert (mnemos_home / "memory.db").exists()


def test_configured_store_is_used_when_no_target_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MNEMOS_STORE", f"native://{tmp_path / 'configured.db'}")
    with open_memory() as memory:
        assert memory.path == tmp_path / "configured.db"


def test_an_adapter_passes_through_narrowed_to_the_scope(tmp_path: Path) -> None:
    base = NativeMemoryAdapter(tmp_path / "m.db")
    assert open_memory(base) is base
    view = open_memory(base, scope=("team",))
    assert view.scope == ("team",)
    view.add("x", namespace=("n",))
    assert base.namespaces() == [("team", "n")]
    base.close()


def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError) as err:
        open_memory("nosuch://host/db")
    assert "nosuch" in str(err.value) and "native" in str(err.value)


def test_native_url_with_a_host_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="no host"):
        open_memory("native://relative/path.db")


class _Recorder(NativeMemoryAdapter):
    seen: ClassVar[list[tuple[str, tuple[str, ...], Any]]] = []

    @classmethod
    def from_url(cls, url: str, *, scope: Sequence[str] = (), embedder: Any = None) -> _Recorder:
        cls.seen.append((url, tuple(scope), embedder))
        path = url.split("://", 1)[1]
        return cls(path, scope=scope, embedder=embedder)


def test_registered_schemes_get_the_url_scope_and_embedder(tmp_path: Path) -> None:
    register_adapter("memgpt", _Recorder)
    url = f"memgpt://{tmp_path / 'x.db'}"
    with open_memory(url, scope=("a",), embedder="hashing:128") as memory:
        assert isinstance(memory, _Recorder)
        assert memory.embedder.name == "hashing:v1:128"
    assert _Recorder.seen[-1] == (url, ("a",), "hashing:128")
    assert "memgpt" in known_schemes()

    calls: list[str] = []

    def factory(url: str, *, scope: Sequence[str], embedder: Any) -> BaseMemoryAdapter:
        calls.append(url)
        return NativeMemoryAdapter(tmp_path / "y.db", scope=scope)

    register_adapter("zep", factory)
    open_memory("ZEP://server").close()
    assert calls == ["ZEP://server"]


def test_bad_registrations_and_factories_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError):
        register_adapter("not a scheme", _Recorder)
    with pytest.raises(ConfigurationError):
        register_adapter("plain", int)
    register_adapter("odd", lambda url, *, scope, embedder: object())
    with pytest.raises(ConfigurationError, match="did not return"):
        open_memory("odd://x")
    with pytest.raises(ConfigurationError):
        open_memory("   ")


class _FakeEntryPoint:
    def __init__(self, name: str, value: str, target: Any) -> None:
        self.name = name
        self.value = value
        self._target = target

    def load(self) -> Any:
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


def test_entry_point_adapters_are_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    points = [
        _FakeEntryPoint("mem0", "pkg.mod:Recorder", _Recorder),
        _FakeEntryPoint("broken", "pkg.gone:Adapter", ImportError("no module named pkg.gone")),
    ]
    monkeypatch.setattr(registry, "entry_points", lambda group: points if group == registry.ENTRY_POINT_GROUP else [])
    assert {"mem0", "broken", "native"} <= set(known_schemes())
    with open_memory(f"mem0://{tmp_path / 'e.db'}") as memory:
        assert isinstance(memory, _Recorder)
    with pytest.raises(ConfigurationError, match=r"pkg\.gone"):
        open_memory("broken://x")


def test_the_installed_entry_point_declares_native() -> None:
    from importlib.metadata import entry_points

    names = {ep.name: ep.value for ep in entry_points(group=registry.ENTRY_POINT_GROUP)}
    assert names.get("native") == "mnemos.memory_adapters.native:NativeMemoryAdapter"


def test_a_string_scope_is_refused_not_split_into_characters(tmp_path: Path) -> None:
    from mnemos.exceptions import InvalidNamespaceError

    with pytest.raises(InvalidNamespaceError):
        open_memory(tmp_path / "m.db", scope="tenant")  # type: ignore[arg-type]
