"""What an agent searches its memory for before a turn: the request, or the task and the recent turns.

One rule serves the :class:`~mnemos.agents.Agent` (on LangChain messages) and
the AutoGen memory of :func:`mnemos.graphs.autogen.memory_for_autogen` (on
AutoGen messages): both turn their messages into :class:`Turn` tuples and ask
:meth:`RecallQuery.texts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from mnemos.agents.context import RecalledMemory
from mnemos.agents.tokens import text_tokens
from mnemos.exceptions import UsageError

__all__ = ["RecallQuery", "Turn", "merge_recalls", "turns_of"]


class Turn(NamedTuple):
    """One message of a conversation, as the query rule sees it."""

    role: Literal["user", "assistant"]
    source: str | None
    """Who wrote it: ``"user"`` (or None) for the user, else a member's name."""
    text: str


@dataclass(kw_only=True, frozen=True)
class RecallQuery:
    """The texts an agent searches for before a turn.

    ``task``: also the conversation's task, its first user message. ``recent``:
    the ``recent`` latest turns with text, of any speaker, searched as one text.
    The default (``task=False, recent=1``) searches on the latest message. In a
    group chat the latest message is another member's, often a bare "ok": there
    ``task=True, recent=3`` (what an agent in an AutoGen team uses) still finds
    what the task needs. Each text is searched on its own; the results are merged.
    """

    task: bool = False
    recent: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.task, bool):
            raise UsageError(f"RecallQuery.task is True or False, got {self.task!r}")
        if isinstance(self.recent, bool) or not isinstance(self.recent, int) or self.recent < 0:
            raise UsageError(f"RecallQuery.recent is a number of turns (0 or more), got {self.recent!r}")

    def texts(self, turns: Sequence[Turn]) -> list[str]:
        """The distinct non-empty texts to search for, the task first."""
        said = [t for t in turns if t.text.strip()]
        texts: list[str] = []
        if self.task:
            users = [t for t in said if t.role == "user"]
            first = next((t for t in users if t.source in (None, "user")), users[0] if users else None)
            if first is not None:
                texts.append(first.text)
        if self.recent > 0:
            texts.append("\n".join(t.text for t in said[-self.recent :]))
        unique: list[str] = []
        for text in texts:
            if text.strip() and text not in unique:
                unique.append(text)
        return unique


def turns_of(messages: Sequence[BaseMessage]) -> list[Turn]:
    """LangChain messages as turns: human messages are the user's (or a named member's), AI messages a member's."""
    out: list[Turn] = []
    for m in messages:
        if isinstance(m, HumanMessage):
            out.append(Turn("user", m.name, m.text))
        elif isinstance(m, AIMessage):
            out.append(Turn("assistant", m.name, m.text))
    return out


def merge_recalls(
    found: Sequence[Sequence[RecalledMemory]], limits: dict[str, tuple[int, int]]
) -> list[RecalledMemory]:
    """Several searches' recalls as one: rank by rank, each memory once, within each kind's
    ``(k, max_tokens)`` of ``limits``."""
    kept: list[RecalledMemory] = []
    seen: set[str] = set()
    count: dict[str, int] = {}
    spent: dict[str, int] = {}
    for rank in range(max((len(items) for items in found), default=0)):
        for items in found:
            if rank >= len(items) or items[rank].id in seen:
                continue
            item = items[rank]
            k, max_tokens = limits.get(item.kind, (0, 0))
            cost = text_tokens(item.content)
            if count.get(item.kind, 0) >= k or spent.get(item.kind, 0) + cost > max_tokens:
                continue
            seen.add(item.id)
            kept.append(item)
            count[item.kind] = count.get(item.kind, 0) + 1
            spent[item.kind] = spent.get(item.kind, 0) + cost
    return kept
