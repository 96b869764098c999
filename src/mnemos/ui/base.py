"""What the web UI is opened on, and the resources it holds while it runs."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnemos.exceptions import ConfigurationError
from mnemos.memory_adapters.base import BaseMemoryAdapter

__all__ = ["PRINCIPAL_ROOT", "UIConfig", "UIContext", "canonical_spec", "graph_key"]

PRINCIPAL_ROOT = "principals"
"""With tokens, a principal sees the memory under ``("principals", <principal>)``, as over MCP."""


def graph_key(spec: str) -> str:
    """A short stable id for a graph spec, used in URLs (a spec itself is never taken from a URL)."""
    return hashlib.sha1(spec.encode("utf-8")).hexdigest()[:12]


@dataclass
class UIConfig:
    """Settings of one UI server.

    ``store`` and ``checkpoints`` are locations as the CLI takes them (``None``:
    the configured ones). ``graphs`` are ``MODULE:GRAPH`` specs to show and run
    (threads add the graphs they recorded). ``tokens`` (``{token: principal}``)
    turn on bearer authentication; ``loopback`` says whether the server is
    bound to a loopback address (then the Host header must be one too).
    ``scope`` narrows the whole UI to one namespace.
    """

    store: str | None = None
    checkpoints: str | None = None
    embedder: str | None = None
    graphs: Sequence[str] = ()
    brainstorms_dir: Path | None = None
    tokens: Mapping[str, str] | None = None
    loopback: bool = True
    allowed_hosts: frozenset[str] = frozenset()
    scope: Sequence[str] = ()
    poll_seconds: float = 0.5
    """How often the live view looks at the checkpointer for new steps."""


@dataclass
class UIContext:
    """The open store, checkpointer and graph cache behind every page."""

    config: UIConfig
    memory: BaseMemoryAdapter
    saver: Any
    graphs: Any
    runs: Any
    trees: Any = None
    graph_specs: dict[str, str] = field(default_factory=dict)

    @property
    def authenticated(self) -> bool:
        return bool(self.config.tokens)

    def memory_for(self, principal: str | None) -> BaseMemoryAdapter:
        """The memory a caller may see: all of it locally, its own root with tokens."""
        if self.authenticated:
            if not principal:
                raise ConfigurationError("no principal for an authenticated request")
            return self.memory.scoped(PRINCIPAL_ROOT, principal)
        return self.memory

    def user_filter(self, principal: str | None) -> str | None:
        """Whose threads a caller sees: everyone's locally, its own with tokens."""
        return principal if self.authenticated else None

    def brainstorms_dir(self) -> Path:
        from mnemos.config import mnemos_home

        return self.config.brainstorms_dir or mnemos_home() / "brainstorms"

    def register_graph(self, spec: str) -> str:
        """Make a graph known to the pages; return its key."""
        spec = canonical_spec(spec)
        key = graph_key(spec)
        self.graph_specs.setdefault(key, spec)
        return key


def canonical_spec(spec: str) -> str:
    """``MODULE:GRAPH`` with a file path made absolute (as ``mnemos run`` records it)."""
    module, sep, attr = spec.rpartition(":")
    if sep and (module.endswith(".py") or "/" in module):
        return f"{Path(module).expanduser().resolve()}:{attr}"
    return spec
