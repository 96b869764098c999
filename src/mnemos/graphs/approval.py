"""Human-in-the-loop approval with LangGraph's ``interrupt()``.

The approval node pauses the run with an interrupt whose value is a dict::

    {"type": "approval", "node": ..., "question": ..., "draft": ...}

and the run resumes with ``graph.invoke(Command(resume=answer), config)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.types import Command, interrupt

from mnemos.graphs._events import emit
from mnemos.graphs.supervisor import FEEDBACK_FLAG

__all__ = ["APPROVE_WORDS", "approval_node", "latest_draft", "parse_answer"]

APPROVE_WORDS = frozenset({"y", "yes", "ok", "okay", "approve", "approved", "lgtm", "accept"})
"""Answers (case-insensitive) that approve."""


def parse_answer(answer: Any) -> tuple[bool, str]:
    """``(approved, feedback)`` from a resume value.

    ``True``/``False``; a string (an approving word, or anything else, which
    rejects and becomes the feedback); or ``{"approved": bool, "feedback": str}``.
    """
    if isinstance(answer, bool):
        return answer, ""
    if isinstance(answer, Mapping):
        return bool(answer.get("approved")), str(answer.get("feedback") or "")
    text = str(answer if answer is not None else "").strip()
    if text.lower().rstrip(".!") in APPROVE_WORDS:
        return True, ""
    if text.lower() in {"n", "no", "reject", "rejected"}:
        return False, ""
    return False, text


def latest_draft(messages: list[BaseMessage], author: str | None = None) -> str:
    """The text of the newest AI message (by ``author``, if given)."""
    for msg in reversed(messages):
        if isinstance(msg, AIMessage) and msg.text.strip() and (author is None or msg.name == author):
            return msg.text
    return ""


def approval_node(
    name: str, question: str, on_approve: str, on_reject: str, draft_from: str | None = None
) -> Callable[[Mapping[str, Any]], Command[Any]]:
    """The node function of an approval step named ``name``."""

    def approve(state: Mapping[str, Any]) -> Command[Any]:
        draft = latest_draft(list(state.get("messages", [])), draft_from)
        answer = interrupt({"type": "approval", "node": name, "question": question, "draft": draft})
        approved, feedback = parse_answer(answer)
        emit({"event": "approval", "agent": name, "approved": approved, "feedback": feedback})
        if approved:
            return Command(goto=on_approve)
        note = HumanMessage(
            content=f"Rejected by the reviewer: {feedback}" if feedback else "Rejected by the reviewer.",
            name=name,
            additional_kwargs={FEEDBACK_FLAG: True},
        )
        return Command(goto=on_reject, update={"messages": [note]})

    approve.__name__ = name
    return approve
