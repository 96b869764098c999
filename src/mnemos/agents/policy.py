"""The memory policy: what an agent recalls before a model call and writes after it.

Before each turn the agent recalls, from its memory adapter and for the
request text, up to ``k`` memories of each kind within that kind's token
budget (:class:`RecallSettings`): episodic and semantic memories by search in
the agent's namespace for the user, procedural memory as the learned rules of
the current version (see :mod:`mnemos.agents.procedural`).

After the turn it writes:

- the turn as an **episodic** memory (``"user: ...\\n<agent>: ..."``) with
  provenance: the agent, the thread and the ids of the request and reply;
- the **facts** the user stated, as **semantic** memories. With a hosted
  model they are extracted by the model (structured output); with the
  offline or scripted model by rule (see
  :func:`mnemos.agents._extract.extract_facts`). Each fact names its subject
  and attribute; a fact that says something new about the same subject and
  attribute *supersedes* the old one (the old keeps its history), and a
  fact already known is not stored again.

Procedural memory changes only through the explicit :meth:`Agent.reflect`
step, never silently after a turn.

Namespaces are templates filled with ``{user_id}``, ``{agent}`` and
``{thread_id}``. By default episodes and facts live under
``("users", "{user_id}", "agents", "{agent}")`` and procedural memory under
``("users", "{user_id}", "agents", "{agent}", "procedural")``: everything an
agent learns from a user stays with that user, rules included, because a rule
learned from one user's words ("please call me Ali") can carry personal
details. Two users' memories never mix. To let an agent learn one shared set of
rules from all its users, set ``procedural_namespace=("agents", "{agent}",
"procedural")``; rules learned by :meth:`Agent.reflect` then apply to every user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from mnemos.agents._queries import RecallQuery
from mnemos.agents.context import MIN_CONTEXT_TOKENS, ShortTermStrategy
from mnemos.exceptions import UsageError
from mnemos.memory_adapters import Namespace
from mnemos.memory_adapters._namespace import validate_namespace

__all__ = ["Extractor", "MemoryPolicy", "RecallSettings"]

Extractor = Literal["auto", "model", "rules"]
"""Who extracts facts, learns rules when reflecting and summarizes older turns:
``"model"`` asks the agent's model (structured output for facts and rules);
``"rules"`` uses the deterministic extractors of :mod:`mnemos.agents._extract`;
``"auto"`` means rules for the offline and scripted models, the model otherwise."""


@dataclass(kw_only=True, frozen=True)
class RecallSettings:
    """How much of one kind of memory to recall: at most ``k`` items and ``max_tokens``."""

    k: int = 5
    max_tokens: int = 500

    def __post_init__(self) -> None:
        for name in ("k", "max_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise UsageError(f"RecallSettings.{name} is a non-negative integer, got {value!r}")


@dataclass(kw_only=True, frozen=True)
class MemoryPolicy:
    """What an agent recalls and writes, and how its prompt is assembled (see module docs)."""

    namespace: tuple[str, ...] = ("users", "{user_id}", "agents", "{agent}")
    procedural_namespace: tuple[str, ...] = ("users", "{user_id}", "agents", "{agent}", "procedural")
    episodic: RecallSettings = field(default_factory=lambda: RecallSettings(k=4, max_tokens=400))
    semantic: RecallSettings = field(default_factory=lambda: RecallSettings(k=6, max_tokens=400))
    procedural: RecallSettings = field(default_factory=lambda: RecallSettings(k=10, max_tokens=300))
    query: RecallQuery = field(default_factory=RecallQuery)
    """What recall searches for: the latest message by default; in a group chat the task and the
    recent turns (``RecallQuery(task=True, recent=3)``, see :class:`~mnemos.agents.RecallQuery`)."""
    context_tokens: int = 4000
    """The budget of the whole prompt sent to the model, the bound tools' schemas included."""
    strategy: ShortTermStrategy = ShortTermStrategy.BUFFER
    """Buffer by default: no hidden model calls. The summary strategies ask a hosted
    model for a summary of the older turns (once per turn), the offline model none."""
    window: int = 12
    """Messages kept verbatim by the ``window`` and ``summary_buffer`` strategies."""
    summary_tokens: int = 300
    write_episodes: bool = True
    extract_facts: bool = True
    extractor: Extractor = "auto"
    episode_importance: float = 0.3
    fact_importance: float = 0.7

    def __post_init__(self) -> None:
        object.__setattr__(self, "strategy", ShortTermStrategy.parse(self.strategy))
        if isinstance(self.context_tokens, bool) or not isinstance(self.context_tokens, int) or (
            self.context_tokens < MIN_CONTEXT_TOKENS
        ):
            raise UsageError(
                f"context_tokens is an integer of at least {MIN_CONTEXT_TOKENS}, got {self.context_tokens!r}"
            )
        if not isinstance(self.window, int) or self.window < 0:
            raise UsageError(f"window is a non-negative integer, got {self.window!r}")
        if not isinstance(self.query, RecallQuery):
            raise UsageError(f"query is a RecallQuery, not {type(self.query).__name__}")
        if self.extractor not in ("auto", "model", "rules"):
            raise UsageError(f"extractor is 'auto', 'model' or 'rules', got {self.extractor!r}")
        for name in ("namespace", "procedural_namespace"):
            template = getattr(self, name)
            if isinstance(template, str) or not template:
                raise UsageError(f"{name} is a non-empty tuple of strings, got {template!r}")
            object.__setattr__(self, name, tuple(template))

    def namespace_for(self, *, agent: str, user_id: str, thread_id: str | None = None) -> Namespace:
        """The namespace of the episodic and semantic memories of ``agent`` for ``user_id``."""
        return _fill(self.namespace, agent=agent, user_id=user_id, thread_id=thread_id)

    def procedural_namespace_for(
        self, *, agent: str, user_id: str = "default", thread_id: str | None = None
    ) -> Namespace:
        """The namespace of ``agent``'s procedural memory."""
        return _fill(self.procedural_namespace, agent=agent, user_id=user_id, thread_id=thread_id)



@lru_cache(maxsize=1024)
def _fill(template: tuple[str, ...], *, agent: str, user_id: str, thread_id: str | None) -> Namespace:
    # cached: an agent fills the same templates for the same user and thread on every turn
    values = {"agent": agent, "user_id": user_id, "thread_id": thread_id or "default"}
    try:
        parts = tuple(part.format(**values) for part in template)
    except (KeyError, IndexError, ValueError) as exc:
        raise UsageError(
            f"bad namespace template {tuple(template)!r}: use only {{agent}}, {{user_id}}, {{thread_id}} ({exc})"
        ) from None
    return validate_namespace(parts, allow_empty=False)
