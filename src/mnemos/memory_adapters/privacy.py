"""PII redaction on write, and an audit log of writes and erasures.

>>> redact = PiiRedactor()
>>> redact("mail ana@example.org or call +1 415 555 0134")
'mail [EMAIL] or call [PHONE]'

An adapter given a redactor (:meth:`~mnemos.memory_adapters.base.BaseMemoryAdapter.set_redactor`)
passes the content and the metadata's strings of every memory it writes (add,
update, supersede, import) through it before anything is stored. A detector is any
callable returning ``(start, end, label)`` spans; :class:`PiiRedactor` takes a list.

An adapter given an :class:`AuditLog` (:meth:`~mnemos.memory_adapters.base.BaseMemoryAdapter.set_audit`)
appends one JSON line per write or erasure: when, who (the actor the log was set
with, or the memory's provenance agent), the action, the scope, namespaces and
ids, and counts. Contents are never logged.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mnemos._files import make_private_dirs, open_private
from mnemos.exceptions import StorageError, UsageError

__all__ = [
    "AuditLog",
    "Detector",
    "PiiRedactor",
    "detect_card_numbers",
    "detect_emails",
    "detect_phone_numbers",
    "redact_json",
]

Detector = Callable[[str], Iterable[tuple[int, int, str]]]
"""Finds sensitive spans in a text: ``(start, end, label)``; the span becomes ``[LABEL]``."""

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_PHONE = re.compile(r"(?<![\w+])\+?\(?\d{1,4}\)?(?:[ .-]?\(?\d{2,4}\)?){2,5}(?!\w)")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def detect_emails(text: str) -> Iterable[tuple[int, int, str]]:
    """E-mail addresses."""
    return ((m.start(), m.end(), "EMAIL") for m in _EMAIL.finditer(text))


def detect_card_numbers(text: str) -> Iterable[tuple[int, int, str]]:
    """Payment card numbers: 13 to 19 digits (spaces or dashes between) passing the Luhn check."""
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and _luhn(digits):
            yield m.start(), m.end(), "CARD"


def detect_phone_numbers(text: str) -> Iterable[tuple[int, int, str]]:
    """Phone numbers: 7 to 15 digits in groups, optionally with a leading ``+``."""
    for m in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 7 <= len(digits) <= 15:
            yield m.start(), m.end(), "PHONE"


class PiiRedactor:
    """Replace what the detectors find with ``[LABEL]`` (cards first, then e-mails, then phones)."""

    def __init__(self, detectors: Sequence[Detector] | None = None) -> None:
        self.detectors: tuple[Detector, ...] = tuple(
            detectors if detectors is not None else (detect_card_numbers, detect_emails, detect_phone_numbers)
        )
        if not all(callable(d) for d in self.detectors):
            raise UsageError("a detector is a callable returning (start, end, label) spans")

    def __call__(self, text: str) -> str:
        for detector in self.detectors:
            spans = sorted(detector(text), reverse=True)
            for start, end, label in spans:
                if 0 <= start < end <= len(text):
                    text = f"{text[:start]}[{label}]{text[end:]}"
        return text


def redact_json(value: Any, redact: Callable[[str], str]) -> Any:
    """``value`` with every string (keys excepted) passed through ``redact``."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: redact_json(v, redact) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_json(v, redact) for v in value]
    return value


class AuditLog:
    """Append-only JSON lines, to a file (created 0600) or to any callable taking a dict."""

    def __init__(self, target: str | Path | Callable[[dict[str, Any]], None]) -> None:
        self._lock = threading.Lock()
        if callable(target):
            self._sink: Callable[[dict[str, Any]], None] = target
            self.path: Path | None = None
        elif isinstance(target, (str, Path)):
            self.path = Path(target).expanduser()
            self._sink = self._append
        else:
            raise UsageError(f"an audit log is a file path or a callable, not {type(target).__name__}")

    def _append(self, event: dict[str, Any]) -> None:
        assert self.path is not None
        line = (json.dumps(event, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
        try:
            make_private_dirs(self.path.parent)
            fd = open_private(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError as exc:
            raise StorageError(f"cannot write the audit log {self.path}: {exc}") from exc

    def record(self, action: str, *, who: str | None, scope: Sequence[str], **details: Any) -> None:
        """Log one event (``at`` is the UTC time now)."""
        event = {"at": datetime.now(UTC).isoformat(), "who": who, "action": action,
                 "scope": "/".join(scope) or "/", **details}
        with self._lock:
            self._sink(event)

    def events(self) -> list[dict[str, Any]]:
        """The events of a file log, oldest first."""
        if self.path is None:
            raise UsageError("this audit log writes to a callable; it has no file to read")
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line]
