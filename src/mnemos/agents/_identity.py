"""Whose run is this: the user from the run's config or from LangGraph's runtime context.

LangGraph 1.x passes per-run data two ways: ``config["configurable"]`` and the
``context=`` argument of ``invoke``/``stream`` (``Runtime.context`` in nodes).
The user may be given either way: ``configurable["user_id"]``, or a context
with a ``user_id`` key or attribute (a dict, a dataclass, a pydantic model).
Both naming different users is an error. With no user at all the run is user
``default``, unless the deployment requires an explicit user
(:func:`mnemos.config.require_user`), then it is a
:class:`~mnemos.exceptions.MissingUserError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mnemos.config import REQUIRE_USER_ENV, require_user
from mnemos.exceptions import MissingUserError, UsageError

__all__ = ["DEFAULT_USER", "RunIdentity", "explicit_user", "resolve_user", "runtime_context"]

DEFAULT_USER = "default"
_RUNTIME_KEY = "__pregel_runtime"  # where LangGraph keeps the Runtime in a node's config


def runtime_context(config: Mapping[str, Any] | None) -> Any:
    """The ``context`` of the LangGraph run ``config`` belongs to, or None."""
    configurable = (config or {}).get("configurable") or {}
    runtime = configurable.get(_RUNTIME_KEY)
    if runtime is None:
        return None
    try:
        from langgraph.runtime import Runtime
    except ImportError:  # pragma: no cover - langgraph is a dependency
        return None
    return runtime.context if isinstance(runtime, Runtime) else None


def _user_of_context(context: Any) -> Any:
    if context is None:
        return None
    if isinstance(context, Mapping):
        return context.get("user_id")
    return getattr(context, "user_id", None)


def _as_user(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise UsageError(f"{where} is a string, not {type(value).__name__}")
    text = str(value)
    if not text.strip():
        raise UsageError(f"{where} is empty; name the user or leave it out")
    return text


def explicit_user(config: Mapping[str, Any] | None, context: Any = None) -> str | None:
    """The user a run names (config or context), or None; two different users are refused."""
    configurable = (config or {}).get("configurable") or {}
    from_config = _as_user(configurable.get("user_id"), "configurable user_id")
    if context is None:
        context = runtime_context(config)
    from_context = _as_user(_user_of_context(context), "the runtime context's user_id")
    if from_config is not None and from_context is not None and from_config != from_context:
        raise UsageError(
            f"the run names two users: {from_config!r} in its config and {from_context!r} in its context"
        )
    return from_config if from_config is not None else from_context


def resolve_user(config: Mapping[str, Any] | None, context: Any = None) -> str:
    """The user of a run: :func:`explicit_user`, else ``default`` (or an error if one is required)."""
    user = explicit_user(config, context)
    if user is not None:
        return user
    if require_user():
        raise MissingUserError(
            f"this deployment requires a user for every run ({REQUIRE_USER_ENV} is on): pass "
            "config={'configurable': {'user_id': ...}} or context={'user_id': ...}"
        )
    return DEFAULT_USER


@dataclass(kw_only=True, frozen=True)
class RunIdentity:
    """Who a turn is for: the thread and the user, from the run's config."""

    thread_id: str | None = None
    user_id: str = "default"

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None, context: Any = None) -> RunIdentity:
        """The thread from ``configurable``; the user from ``configurable`` or the runtime context."""
        configurable = (config or {}).get("configurable") or {}
        thread = configurable.get("thread_id")
        user = resolve_user(config, context)
        return cls(thread_id=str(thread) if thread is not None else None, user_id=user)
