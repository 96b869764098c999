"""Per-principal limits of the MCP server: content size, request rate and stored bytes.

=====================  ====================  ==========================  ===========
limit                  ``--`` option          ``[mcp.limits]`` key        default
=====================  ====================  ==========================  ===========
one memory's content   ``--max-content-bytes``  ``max_content_bytes``      65536 (64 KiB)
calls per minute       ``--rate-limit``         ``calls_per_minute``        600
burst                  (config only)            ``burst``                   60
stored bytes           ``--max-stored-bytes``   ``max_stored_bytes``        104857600 (100 MiB)
=====================  ====================  ==========================  ===========

``0`` turns a limit off. A call over a limit fails with a typed error
(:class:`~mnemos.exceptions.LimitExceededError`, or
:class:`~mnemos.exceptions.RateLimitedError` with ``retry_after``) before
anything is written, so nothing stored is lost or half-written.

The rate is a token bucket per principal in each server process; with
``--workers N`` a principal whose requests spread over the workers can make
up to N times the rate. Stored bytes (content plus metadata JSON, in UTF-8,
of the principal's live memories) are counted from the store: at the first
write of a principal, again once a minute, and at every write once usage is
within 10 % of the limit, so the quota holds across workers near its edge.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from mnemos.config import load_config_file
from mnemos.exceptions import ConfigurationError, LimitExceededError, RateLimitedError
from mnemos.memory_adapters.base import BaseMemoryAdapter

__all__ = ["Limits", "PrincipalLimiter", "content_bytes", "limits_from_config"]

_RECOUNT_SECONDS = 60.0
_NEAR = 0.9


@dataclass(frozen=True, kw_only=True)
class Limits:
    """The limits of one server; ``None`` or ``0`` turns one off."""

    max_content_bytes: int | None = 64 * 1024
    calls_per_minute: float | None = 600.0
    burst: int = 60
    max_stored_bytes: int | None = 100 * 1024 * 1024

    @classmethod
    def off(cls) -> Limits:
        """No limits at all."""
        return cls(max_content_bytes=None, calls_per_minute=None, max_stored_bytes=None)

    def with_overrides(self, **values: Any) -> Limits:
        """These limits with the given ones replaced (``None`` values are ignored, ``0`` turns off)."""
        given = {k: v for k, v in values.items() if v is not None}
        return replace(self, **given)


_KEYS = {"max_content_bytes": int, "calls_per_minute": float, "burst": int, "max_stored_bytes": int}


def limits_from_config(config: Mapping[str, Any] | None = None) -> Limits:
    """The ``[mcp.limits]`` table of ``config.toml`` over the defaults."""
    config = load_config_file() if config is None else config
    table = (config.get("mcp") or {}).get("limits") or {}
    if not isinstance(table, Mapping):
        raise ConfigurationError("config.toml: [mcp.limits] must be a table")
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise ConfigurationError(
            f"config.toml: unknown key(s) in [mcp.limits]: {', '.join(unknown)}; known: {', '.join(_KEYS)}"
        )
    values: dict[str, Any] = {}
    for key, kind in _KEYS.items():
        if key in table:
            raw = table[key]
            if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < 0:
                raise ConfigurationError(f"config.toml: [mcp.limits] {key} must be a number >= 0")
            values[key] = kind(raw)
    return Limits().with_overrides(**values)


def content_bytes(content: str | None, metadata: Mapping[str, Any] | None = None) -> int:
    """What a memory counts against the stored-bytes quota: UTF-8 content plus metadata JSON."""
    size = len(content.encode("utf-8")) if content else 0
    if metadata:
        size += len(json.dumps(metadata, ensure_ascii=False, default=str).encode("utf-8"))
    return size


class _Bucket:
    __slots__ = ("level", "stamp")

    def __init__(self, level: float, stamp: float) -> None:
        self.level = level
        self.stamp = stamp


class PrincipalLimiter:
    """Enforces :class:`Limits` per principal (thread-safe)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._usage: dict[str, tuple[int, float]] = {}

    def check_rate(self, principal: str) -> None:
        """Take one call from the principal's bucket; :class:`RateLimitedError` if it is empty."""
        per_minute = self.limits.calls_per_minute
        if not per_minute:
            return
        rate = per_minute / 60.0
        burst = max(1, self.limits.burst)
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get(principal)
            if bucket is None:
                bucket = self._buckets[principal] = _Bucket(float(burst), now)
            bucket.level = min(float(burst), bucket.level + (now - bucket.stamp) * rate)
            bucket.stamp = now
            if bucket.level < 1.0:
                wait = (1.0 - bucket.level) / rate
                raise RateLimitedError(
                    f"rate limit: more than {per_minute:g} calls per minute (burst {burst}); "
                    f"retry in {wait:.1f} s",
                    allowed=per_minute,
                    retry_after=wait,
                )
            bucket.level -= 1.0

    def check_content(self, content: str | None) -> None:
        """:class:`LimitExceededError` if one memory's content is larger than allowed."""
        cap = self.limits.max_content_bytes
        if not cap or content is None:
            return
        size = len(content.encode("utf-8"))
        if size > cap:
            raise LimitExceededError(
                f"content is {size} bytes; the limit is {cap} bytes per memory (split it, or raise max_content_bytes)",
                limit="max_content_bytes",
                allowed=cap,
            )

    def check_store(self, principal: str, adapter: BaseMemoryAdapter, adding: int) -> None:
        """:class:`LimitExceededError` if ``adding`` more bytes would put the principal over its quota.

        ``adapter`` is the principal's scoped view (what is counted). On success
        the bytes are counted as stored.
        """
        cap = self.limits.max_stored_bytes
        if not cap:
            return
        now = time.monotonic()
        with self._lock:
            cached = self._usage.get(principal)
        stamp = now
        if cached is None or now - cached[1] > _RECOUNT_SECONDS or cached[0] + adding > cap * _NEAR:
            used = self.stored_bytes(adapter)
        else:
            used, stamp = cached
        if used + adding > cap:
            with self._lock:
                self._usage[principal] = (used, stamp)
            raise LimitExceededError(
                f"storage quota: {used} of {cap} bytes used; {adding} more do not fit "
                "(delete or erase memories, or raise max_stored_bytes)",
                limit="max_stored_bytes",
                allowed=cap,
            )
        with self._lock:
            self._usage[principal] = (used + adding, stamp)

    @staticmethod
    def stored_bytes(adapter: BaseMemoryAdapter) -> int:
        """The bytes of every live memory in ``adapter``'s scope."""
        return sum(content_bytes(row.get("content"), row.get("metadata")) for row in adapter.iter_export(()))
