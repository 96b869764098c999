"""Open a memory adapter from a URL: ``open_memory("native:///path/memory.db")``.

=====================================  ============================================
target                                 adapter
=====================================  ============================================
``None``                               the configured store (``MNEMOS_STORE``,
                                       ``config.toml``), else the default native file
``"native://"``                        the native adapter on the default file
``"native:///abs/path.db"``            the native adapter on that file
``"some/file.db"`` (no scheme)         the native adapter on that file
``"<scheme>://..."``                   an adapter registered for ``scheme``
an adapter instance                    itself (narrowed to ``scope`` if given)
=====================================  ============================================

Schemes come from :func:`register_adapter` and from the ``mnemos.memory_adapters``
entry-point group (``scheme = "package.module:AdapterClass"``); an adapter class
used there provides ``from_url(url, *, scope, embedder)``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol

from mnemos.config import config_value
from mnemos.exceptions import ConfigurationError, ReadOnlyStoreError
from mnemos.memory_adapters._namespace import validate_namespace
from mnemos.memory_adapters.base import BaseMemoryAdapter

__all__ = ["AdapterFactory", "known_schemes", "open_memory", "register_adapter"]

ENTRY_POINT_GROUP = "mnemos.memory_adapters"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")


class AdapterFactory(Protocol):
    """Makes an adapter from a URL (an adapter class's ``from_url`` fits)."""

    def __call__(self, url: str, *, scope: Sequence[str], embedder: Any) -> BaseMemoryAdapter: ...


_registry: dict[str, AdapterFactory] = {}
_lock = threading.Lock()


def register_adapter(scheme: str, factory: AdapterFactory | type[BaseMemoryAdapter]) -> None:
    """Make ``open_memory("<scheme>://...")`` use ``factory`` (or an adapter class's ``from_url``).

    A later registration of the same scheme replaces the earlier one.
    """
    if not isinstance(scheme, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.\-]*", scheme):
        raise ConfigurationError(f"invalid URL scheme {scheme!r}")
    maker: Any = factory
    if isinstance(factory, type):
        maker = getattr(factory, "from_url", None)
        if maker is None:
            raise ConfigurationError(f"{factory.__name__} has no from_url(url, *, scope, embedder)")
    if not callable(maker):
        raise ConfigurationError(f"the factory for {scheme!r} is not callable")
    with _lock:
        _registry[scheme.lower()] = maker


def _entry_point_schemes() -> dict[str, Any]:
    return {ep.name.lower(): ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def known_schemes() -> list[str]:
    """Every scheme ``open_memory`` understands."""
    return sorted({"native", *_registry, *_entry_point_schemes()})


def _factory(scheme: str) -> Callable[..., BaseMemoryAdapter]:
    with _lock:
        found = _registry.get(scheme)
    if found is not None:
        return found
    if scheme == "native":
        from mnemos.memory_adapters.native import NativeMemoryAdapter

        return NativeMemoryAdapter.from_url
    ep = _entry_point_schemes().get(scheme)
    if ep is None:
        raise ConfigurationError(
            f"unknown memory store scheme {scheme!r}; known: {', '.join(known_schemes())}"
        )
    try:
        target = ep.load()
    except Exception as exc:
        raise ConfigurationError(f"cannot load the {scheme!r} memory adapter ({ep.value}): {exc}") from exc
    maker = getattr(target, "from_url", target) if isinstance(target, type) else target
    if isinstance(target, type) and not hasattr(target, "from_url"):
        raise ConfigurationError(f"{ep.value} has no from_url(url, *, scope, embedder)")
    return maker


def open_memory(
    target: str | Path | BaseMemoryAdapter | None = None,
    *,
    scope: Sequence[str] = (),
    embedder: Any = None,
) -> BaseMemoryAdapter:
    """Open the memory store ``target`` names (see the module docstring), for ``scope``.

    A store opened here (not an adapter passed in) gets the retention policies of
    ``config.toml``'s ``[[retention]]`` tables, applied now, and its ``redact_pii``
    and ``audit_log`` settings.
    """
    scope = validate_namespace(scope)
    if isinstance(target, BaseMemoryAdapter):
        return target.scoped(*scope) if scope else target
    adapter = _open(target, scope, embedder)
    from mnemos.memory_adapters.retention import retention_from_config

    _privacy_from_config(adapter)
    policies = retention_from_config()
    if policies:
        try:
            adapter.set_retention(policies)
        except ReadOnlyStoreError:
            adapter.set_retention(policies, apply=False)
        except BaseException:
            adapter.close()
            raise
    return adapter


def _privacy_from_config(adapter: BaseMemoryAdapter) -> None:
    """``redact_pii = true`` and ``audit_log = "path"`` (with ``audit_actor``) in config.toml."""
    from mnemos.config import load_config_file
    from mnemos.memory_adapters.privacy import AuditLog, PiiRedactor

    config = load_config_file()
    redact = config.get("redact_pii", False)
    if not isinstance(redact, bool):
        raise ConfigurationError("config.toml: redact_pii is true or false")
    if redact:
        adapter.set_redactor(PiiRedactor())
    log, actor = config.get("audit_log"), config.get("audit_actor")
    if log is not None and not isinstance(log, str):
        raise ConfigurationError("config.toml: audit_log is a file path")
    if actor is not None and not isinstance(actor, str):
        raise ConfigurationError("config.toml: audit_actor is a string")
    if log:
        adapter.set_audit(AuditLog(log), actor=actor)


def _open(target: str | Path | None, scope: Sequence[str], embedder: Any) -> BaseMemoryAdapter:
    if target is None:
        target = config_value("store")
        if not target:
            from mnemos.memory_adapters.native import NativeMemoryAdapter

            return NativeMemoryAdapter(None, scope=scope, embedder=embedder)
    if isinstance(target, Path):
        from mnemos.memory_adapters.native import NativeMemoryAdapter

        return NativeMemoryAdapter(target, scope=scope, embedder=embedder)
    if not isinstance(target, str) or not target.strip():
        raise ConfigurationError(f"a memory store is a URL, a path or an adapter, not {target!r}")
    text = target.strip()
    match = _SCHEME.match(text)
    # "C:\\..." is a Windows drive letter, not a scheme
    if match is None or (len(match.group(1)) == 1 and text[2:3] in ("\\", "/")):
        from mnemos.memory_adapters.native import NativeMemoryAdapter

        return NativeMemoryAdapter(Path(text), scope=scope, embedder=embedder)
    adapter = _factory(match.group(1).lower())(text, scope=scope, embedder=embedder)
    if not isinstance(adapter, BaseMemoryAdapter):
        raise ConfigurationError(f"the factory for {match.group(1)!r} did not return a memory adapter")
    return adapter
