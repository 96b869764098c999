"""Namespaces: tuples of strings, and their text form ``users/alice/notes``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from mnemos.exceptions import InvalidNamespaceError

__all__ = ["Namespace", "format_namespace", "parse_namespace", "validate_namespace"]

Namespace = tuple[str, ...]

SEPARATOR = "/"
MAX_PART_LENGTH = 200
MAX_DEPTH = 16
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def validate_namespace(value: object, *, allow_empty: bool = True) -> Namespace:
    """Return ``value`` as a namespace tuple, or raise :class:`InvalidNamespaceError`.

    A namespace is a tuple (or list) of non-empty strings without ``/`` or
    control characters. The empty tuple is the root (allowed as a prefix).
    """
    if isinstance(value, str):
        raise InvalidNamespaceError(
            f"a namespace is a tuple of strings, not the string {value!r}; "
            f"use parse_namespace({value!r}) for the 'a/b/c' form"
        )
    if not isinstance(value, Sequence):
        raise InvalidNamespaceError(
            f"a namespace is a tuple of strings, not {type(value).__name__}"
        )
    parts = tuple(value)
    if not parts and not allow_empty:
        raise InvalidNamespaceError("a memory needs a non-empty namespace")
    if len(parts) > MAX_DEPTH:
        raise InvalidNamespaceError(f"a namespace has at most {MAX_DEPTH} parts")
    for part in parts:
        _check_part(part, parts)
    return parts


def _check_part(part: object, parts: Iterable[object]) -> None:
    if not isinstance(part, str):
        raise InvalidNamespaceError(
            f"namespace parts are strings; got {type(part).__name__} in {tuple(parts)!r}"
        )
    if not part or part.strip() != part:
        raise InvalidNamespaceError(
            f"namespace parts are non-empty with no surrounding spaces: {tuple(parts)!r}"
        )
    if SEPARATOR in part:
        raise InvalidNamespaceError(
            f"namespace part {part!r} contains {SEPARATOR!r}, the separator"
        )
    if _CONTROL.search(part):  # scanned in C: every call of the store checks its namespace
        raise InvalidNamespaceError(f"namespace part {part!r} contains a control character")
    if _SURROGATE.search(part):
        raise InvalidNamespaceError(f"namespace part {part!r} is not valid unicode (lone surrogate)")
    if len(part) > MAX_PART_LENGTH:
        raise InvalidNamespaceError(
            f"namespace part is longer than {MAX_PART_LENGTH} characters"
        )


def parse_namespace(text: str, *, allow_empty: bool = True) -> Namespace:
    """Parse ``"users/alice/notes"`` into ``("users", "alice", "notes")``.

    ``""`` and ``"/"`` are the root. Doubled or trailing separators and parts
    with surrounding spaces are refused rather than guessed at.
    """
    if not isinstance(text, str):
        raise InvalidNamespaceError(f"expected namespace text, got {type(text).__name__}")
    stripped = text.strip()
    if stripped in ("", SEPARATOR):
        return validate_namespace((), allow_empty=allow_empty)
    if stripped.startswith(SEPARATOR):
        stripped = stripped[1:]
    if stripped.endswith(SEPARATOR):
        stripped = stripped[:-1]
    parts = tuple(stripped.split(SEPARATOR))
    if any(not p for p in parts):
        raise InvalidNamespaceError(
            f"bad namespace {text!r}: write parts separated by single '/', e.g. users/alice"
        )
    return validate_namespace(parts, allow_empty=allow_empty)


def format_namespace(namespace: Namespace) -> str:
    """The text form of a namespace; the root is ``/``."""
    return SEPARATOR.join(namespace) if namespace else SEPARATOR


def is_prefix(prefix: Namespace, namespace: Namespace) -> bool:
    """Whether ``namespace`` lies at or under ``prefix``."""
    return namespace[: len(prefix)] == prefix
