"""The exceptions mnemos raises.

Two families, as in pydantic-ai: :class:`UsageError` is a mistake by the caller
(bad arguments, unknown namespace syntax, a missing extra, an operation the
adapter does not support) and is fixed by changing the calling code;
:class:`MnemosRuntimeError` is a failure while doing correct work (the store is
corrupt or locked, a server went away). Both derive from :class:`MnemosError`.
"""

from __future__ import annotations

__all__ = [
    "CapabilityNotSupportedError",
    "ConfigurationError",
    "EmbedderMismatchError",
    "EncryptionKeyError",
    "ForeignStoreError",
    "GraphTopologyError",
    "ImportFormatError",
    "InvalidNamespaceError",
    "InvalidRecordError",
    "LimitExceededError",
    "MemoryNotFoundError",
    "MissingExtraError",
    "MissingUserError",
    "MnemosError",
    "MnemosRuntimeError",
    "ModelOutputError",
    "ModelProviderError",
    "RateLimitedError",
    "ReadOnlyStoreError",
    "ScopeViolationError",
    "StorageError",
    "StoreBusyError",
    "ThreadOwnerError",
    "ToolTimeoutError",
    "UsageError",
]


class MnemosError(Exception):
    """Base class of every error raised by mnemos."""


class UsageError(MnemosError, ValueError):
    """The caller used the API wrongly; the message says how to fix it."""


class MnemosRuntimeError(MnemosError, RuntimeError):
    """Correct work failed at run time (storage, network, a remote server)."""


class InvalidNamespaceError(UsageError):
    """A namespace is malformed (empty part, forbidden character, wrong type)."""


class InvalidRecordError(UsageError):
    """A memory's fields are invalid (wrong type, empty or oversized content...)."""


class ScopeViolationError(UsageError):
    """An operation tried to reach outside the scope an adapter was opened for."""


class ThreadOwnerError(ScopeViolationError):
    """A thread id that belongs to another user was used; the message does not name the owner."""

    def __init__(self, thread_id: str, user_id: str) -> None:
        self.thread_id = thread_id
        self.user_id = user_id
        super().__init__(
            f"thread {thread_id!r} belongs to another user, not {user_id!r}; use a thread id of your own"
        )


class MissingUserError(UsageError):
    """A run names no user where the deployment requires one (``MNEMOS_REQUIRE_USER``)."""


class MemoryNotFoundError(UsageError, KeyError):
    """No memory with that id exists in the adapter's scope."""

    def __init__(self, memory_id: str) -> None:
        self.memory_id = memory_id
        super().__init__(f"no memory with id {memory_id!r} in this scope")

    def __str__(self) -> str:  # KeyError would add quotes around the message
        return str(self.args[0])


class CapabilityNotSupportedError(UsageError, NotImplementedError):
    """The adapter does not declare the capability an operation needs."""

    def __init__(self, capability: str, adapter: str) -> None:
        self.capability = capability
        self.adapter = adapter
        super().__init__(
            f"the {adapter!r} memory adapter does not support {capability!r}"
        )


class ConfigurationError(UsageError):
    """A setting, URL or configuration file is invalid."""


class MissingExtraError(UsageError, ImportError):
    """An optional dependency is not installed; the message names the extra."""

    def __init__(self, extra: str, package: str, feature: str) -> None:
        self.extra = extra
        self.package = package
        super().__init__(
            f"{feature} needs the {package!r} package: "
            f'pip install "mnemos[{extra}]"'
        )


class ModelProviderError(UsageError):
    """A chat model cannot be built: a missing key or provider package."""


class ModelOutputError(MnemosRuntimeError):
    """A model's reply could not be used: not the structure asked for (even after one
    repair attempt), or cut off by its token limit. Nothing was stored from it."""

    def __init__(self, message: str, *, raw: str = "", finish_reason: str | None = None) -> None:
        self.raw = raw
        """The model's reply text (clipped to 2,000 characters)."""
        self.finish_reason = finish_reason
        """Why the model stopped (``"length"``: it ran out of tokens), if it said."""
        super().__init__(message)


class ImportFormatError(UsageError):
    """A JSONL import file has a broken line; nothing was imported."""

    def __init__(self, line: int, reason: str) -> None:
        self.line = line
        self.reason = reason
        super().__init__(f"line {line}: {reason} (nothing was imported)")


class ToolTimeoutError(MnemosRuntimeError):
    """A tool did not finish within its time limit."""

    def __init__(self, tool: str, seconds: float) -> None:
        self.tool = tool
        self.seconds = seconds
        super().__init__(f"tool {tool!r} did not finish within {seconds:g} s")


class StorageError(MnemosRuntimeError):
    """The backing store failed (corrupt file, locked database, server gone)."""


class EmbedderMismatchError(UsageError):
    """A store was opened with an embedder other than the one that made its vectors."""

    def __init__(self, stored: str, given: str) -> None:
        self.stored = stored
        self.given = given
        super().__init__(
            f"this store's vectors were made by embedder {stored!r}, not {given!r}; "
            f"open it with {stored!r}, or re-embed it: "
            f"mnemos memory reembed --embedder {given}"
        )


class GraphTopologyError(UsageError):
    """A graph's shape is broken: unreachable nodes, no way to the end, a cycle with no exit."""

    def __init__(self, message: str, *, nodes: tuple[str, ...] = ()) -> None:
        self.nodes = nodes
        super().__init__(message)


class StoreBusyError(StorageError):
    """Another writer held the store's lock for longer than the configured wait."""


class ReadOnlyStoreError(UsageError):
    """A write was attempted through a store opened read-only."""


class ForeignStoreError(ConfigurationError):
    """The file is empty or belongs to another application; it is not adopted unless
    the store is opened with ``initialize=True``."""


class EncryptionKeyError(ConfigurationError):
    """An encrypted store was opened with no key or a wrong one (or a plain store with a key)."""


class LimitExceededError(UsageError):
    """A request goes over a configured limit (content size, stored bytes); nothing was stored."""

    def __init__(self, message: str, *, limit: str, allowed: float) -> None:
        self.limit = limit
        self.allowed = allowed
        super().__init__(message)


class RateLimitedError(LimitExceededError):
    """Too many calls in too short a time; try again after :attr:`retry_after` seconds."""

    def __init__(self, message: str, *, allowed: float, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(message, limit="rate", allowed=allowed)
