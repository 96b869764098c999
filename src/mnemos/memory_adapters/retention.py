"""Retention policies: how long, and how many, memories of a kind are kept under a prefix.

>>> from datetime import timedelta
>>> policy = RetentionPolicy(("users",), kind="episodic", max_age=timedelta(days=30))

An adapter given policies (:meth:`~mnemos.memory_adapters.base.BaseMemoryAdapter.set_retention`,
or ``[[retention]]`` tables in ``config.toml`` for stores opened with
:func:`~mnemos.memory_adapters.open_memory`) applies them when they are set, after
writes (at most once per ``interval``) and on every :meth:`purge`. A policy's prefix
is an absolute namespace; an adapter applies it only inside its own scope.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from mnemos.config import load_config_file
from mnemos.exceptions import ConfigurationError, UsageError
from mnemos.memory_adapters._namespace import Namespace, parse_namespace, validate_namespace

__all__ = ["RetentionPolicy", "retention_from_config"]

_KINDS = ("episodic", "semantic", "procedural")  # MemoryKind's values (base imports this module)


@dataclass(frozen=True)
class RetentionPolicy:
    """Keep memories of ``kind`` (None: every kind) at or under ``prefix`` at most
    ``max_age`` old, and at most ``max_count`` per namespace (the newest are kept)."""

    prefix: Namespace
    kind: str | None = None
    max_age: timedelta | None = None
    max_count: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix", validate_namespace(self.prefix))
        if self.kind is not None:
            kind = getattr(self.kind, "value", self.kind)
            if kind not in _KINDS:
                raise UsageError(f"unknown memory kind {self.kind!r} in a retention policy")
            object.__setattr__(self, "kind", kind)
        if self.max_age is None and self.max_count is None:
            raise UsageError("a retention policy sets max_age, max_count or both")
        if self.max_age is not None and (
            not isinstance(self.max_age, timedelta) or self.max_age <= timedelta(0)
        ):
            raise UsageError(f"max_age is a positive timedelta, not {self.max_age!r}")
        if self.max_count is not None and (
            isinstance(self.max_count, bool) or not isinstance(self.max_count, int) or self.max_count < 0
        ):
            raise UsageError(f"max_count is a non-negative integer, not {self.max_count!r}")


def retention_from_config(config: Mapping[str, Any] | None = None) -> tuple[RetentionPolicy, ...]:
    """The policies of ``config.toml``'s ``[[retention]]`` tables::

        [[retention]]
        namespace = "users"        # prefix
        kind = "episodic"          # optional
        max_age_days = 30          # and/or
        max_count = 1000           # per namespace
    """
    tables = (config if config is not None else load_config_file()).get("retention", [])
    if not isinstance(tables, list):
        raise ConfigurationError("config.toml: retention is a list of [[retention]] tables")
    policies = []
    for i, table in enumerate(tables, start=1):
        if not isinstance(table, Mapping):
            raise ConfigurationError(f"config.toml: retention #{i} is a table")
        unknown = set(table) - {"namespace", "kind", "max_age_days", "max_count"}
        if unknown:
            raise ConfigurationError(f"config.toml: retention #{i}: unknown keys {sorted(unknown)}")
        try:
            days = table.get("max_age_days")
            if days is not None and (isinstance(days, bool) or not isinstance(days, (int, float))):
                raise UsageError(f"max_age_days is a number, not {days!r}")
            policies.append(RetentionPolicy(
                parse_namespace(str(table.get("namespace", ""))),
                kind=table.get("kind"),
                max_age=timedelta(days=days) if days is not None else None,
                max_count=table.get("max_count"),
            ))
        except (UsageError, OverflowError) as exc:
            raise ConfigurationError(f"config.toml: retention #{i}: {exc}") from None
    return tuple(policies)


def target(policy: RetentionPolicy, scope: Namespace) -> Namespace | None:
    """Where ``policy`` applies inside ``scope``: the deeper of the two, or None if disjoint."""
    short, long = sorted((policy.prefix, scope), key=len)
    if long[: len(short)] != short:
        return None
    return long


def policies_for(policies: Sequence[RetentionPolicy], scope: Namespace) -> list[tuple[RetentionPolicy, Namespace]]:
    return [(p, where) for p in policies if (where := target(p, scope)) is not None]
