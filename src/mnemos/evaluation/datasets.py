"""Evaluation data: LoCoMo conversations and mnemos's simple JSONL format.

Both load into :class:`EvalSet`: the memories to store (none when the
questions run against an existing store) and the questions, each with the
*evidence ids* that a good search returns.

**LoCoMo** (``.json``): one long conversation per file (the release's bare
format or its ``conversation`` wrapper). Every dialog turn becomes one episodic
memory whose ``metadata.dia_id`` is its evidence id; every ``qa`` entry with
evidence is a question.

**JSONL** (``.jsonl``), one object per line, two kinds of line::

    {"id": "m1", "content": "Alice moved to Lisbon in May.", "kind": "semantic"}
    {"question": "Where does Alice live?", "evidence": ["m1"], "answer": "Lisbon"}

A memory line has ``id`` and ``content`` (optional ``kind``, ``metadata``,
``created_at``); its id is kept in ``metadata.eval_id``. A question line has
``question`` and ``evidence`` (a list of ids; optional ``answer`` and
``category``). A file with no memory lines is a question set for a store that
already holds the memories: the evidence ids are then matched against a
metadata key of the stored records (``mnemos eval --store ... --evidence-key
section``), or their ids (``--evidence-key id``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mnemos.exceptions import UsageError

__all__ = [
    "ADVERSARIAL",
    "CATEGORIES",
    "Conversation",
    "EvalSet",
    "Question",
    "Turn",
    "load_conversation",
    "load_eval_set",
    "load_jsonl",
    "locomo_eval_set",
    "turn_memories",
]

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
"""LoCoMo's question categories."""
ADVERSARIAL = 5
_SESSION = re.compile(r"session_(\d+)")
_DATE_FORMATS = ("%I:%M %p on %d %B, %Y", "%I:%M %p on %d %b, %Y", "%I:%M %p on %B %d, %Y")


@dataclass(frozen=True, kw_only=True)
class Turn:
    """One LoCoMo dialog turn."""

    dia_id: str
    speaker: str
    text: str
    caption: str | None
    session: int
    date: datetime | None
    date_text: str | None

    @property
    def content(self) -> str:
        """What is stored and ranked: ``"Speaker: text"`` plus the shared image's caption."""
        content = f"{self.speaker}: {self.text}"
        return f"{content} [shared an image: {self.caption}]" if self.caption else content


@dataclass(frozen=True, kw_only=True)
class Question:
    """A question, the evidence ids that answer it, its category and (optionally) its answer."""

    text: str
    evidence: frozenset[str]
    category: int = 0
    answer: str | None = None


@dataclass(frozen=True, kw_only=True)
class Conversation:
    """One LoCoMo conversation: its turns and its questions."""

    id: str
    turns: tuple[Turn, ...]
    questions: tuple[Question, ...]


@dataclass(kw_only=True)
class EvalSet:
    """Memories to store (``add_many`` items) and questions; ``evidence_key`` names the metadata
    key that holds a memory's evidence id (``"id"``: the record id)."""

    id: str
    questions: list[Question]
    memories: list[dict[str, Any]] = field(default_factory=list)
    evidence_key: str = "eval_id"


def _date(text: str | None) -> datetime | None:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime((text or "").strip(), fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def load_conversation(path: Path) -> Conversation:
    """Read one LoCoMo conversation (the bare format, or the release's ``conversation`` wrapper)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read LoCoMo file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} is not a LoCoMo conversation (expected a JSON object)")
    body = data.get("conversation", data)
    sessions = sorted(
        (int(m.group(1)), key)
        for key in body
        if (m := _SESSION.fullmatch(key)) and isinstance(body[key], list)
    )
    turns = []
    for number, key in sessions:
        date_text = body.get(f"{key}_date_time")
        for raw in body[key]:
            turns.append(
                Turn(
                    dia_id=str(raw["dia_id"]),
                    speaker=str(raw.get("speaker", "")),
                    text=str(raw.get("text", "")),
                    caption=raw.get("blip_caption") or None,
                    session=number,
                    date=_date(date_text),
                    date_text=date_text,
                )
            )
    questions = []
    for raw in data.get("qa", []):
        # a few evidence entries hold several ids in one string ("D8:6; D9:17")
        evidence = frozenset(
            part.strip()
            for item in raw.get("evidence") or []
            for part in re.split(r"[;,]", str(item))
            if part.strip()
        )
        if evidence:
            answer = raw.get("answer")  # "adversarial_answer" is the trap, not the truth
            questions.append(
                Question(
                    text=str(raw["question"]),
                    evidence=evidence,
                    category=int(raw.get("category", 0)),
                    answer=None if answer is None else str(answer),
                )
            )
    conv_id = str(data.get("sample_id") or Path(path).stem)
    return Conversation(id=conv_id, turns=tuple(turns), questions=tuple(questions))


def turn_memories(conv: Conversation, namespace: tuple[str, ...]) -> list[dict[str, Any]]:
    """One episodic memory item per dialog turn, for ``add_many``."""
    return [
        {
            "content": turn.content,
            "namespace": namespace,
            "kind": "episodic",
            "created_at": turn.date,
            "metadata": {
                "dia_id": turn.dia_id,
                "speaker": turn.speaker,
                "session": turn.session,
                "session_date": turn.date_text,
            },
            "provenance": {
                "agent": turn.speaker,
                "thread": f"{conv.id}/session_{turn.session}",
                "message_ids": [turn.dia_id],
                "source": "locomo",
            },
        }
        for turn in conv.turns
    ]


def locomo_eval_set(path: Path) -> EvalSet:
    """A LoCoMo file as an :class:`EvalSet` (namespace ``("locomo", <id>)``)."""
    conv = load_conversation(path)
    return EvalSet(
        id=conv.id,
        questions=list(conv.questions),
        memories=turn_memories(conv, ("locomo", conv.id)),
        evidence_key="dia_id",
    )


def load_jsonl(path: Path) -> EvalSet:
    """Read the JSONL format described in the module docs."""
    memories: list[dict[str, Any]] = []
    questions: list[Question] = []
    set_id = Path(path).stem
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise UsageError(f"{path} line {number}: not JSON ({exc})") from None
        if not isinstance(item, dict):
            raise UsageError(f"{path} line {number}: expected a JSON object")
        if "question" in item:
            evidence = item.get("evidence")
            if not isinstance(evidence, list) or not evidence:
                raise UsageError(f"{path} line {number}: a question needs a non-empty evidence list")
            answer = item.get("answer")
            questions.append(
                Question(
                    text=str(item["question"]),
                    evidence=frozenset(str(e) for e in evidence),
                    category=int(item.get("category", 0)),
                    answer=None if answer is None else str(answer),
                )
            )
        elif "content" in item and "id" in item:
            metadata = dict(item.get("metadata") or {})
            metadata["eval_id"] = str(item["id"])
            memories.append(
                {
                    "content": str(item["content"]),
                    "namespace": ("eval", set_id),
                    "kind": item.get("kind", "semantic"),
                    "metadata": metadata,
                    "created_at": item.get("created_at"),
                }
            )
        else:
            raise UsageError(
                f"{path} line {number}: expected a memory (id, content) or a question "
                "(question, evidence)"
            )
    if not questions:
        raise UsageError(f"{path} holds no questions")
    return EvalSet(id=set_id, questions=questions, memories=memories)


def load_eval_set(path: Path, fmt: str = "auto") -> EvalSet:
    """Load ``path`` as ``"locomo"``, ``"jsonl"`` or by its suffix (``"auto"``)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    if fmt == "auto":
        fmt = "jsonl" if path.suffix.lower() == ".jsonl" else "locomo"
    if fmt == "locomo":
        return locomo_eval_set(path)
    if fmt == "jsonl":
        return load_jsonl(path)
    raise UsageError(f"unknown eval format {fmt!r}; use auto, locomo or jsonl")
