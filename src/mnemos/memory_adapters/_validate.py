"""Checks at the boundary of the memory API: every bad value becomes a typed error.

Content, ids, metadata, dates, durations and limits are checked before anything
reaches a backend, so no call stores a record that later breaks a read (a
"poison" record), and no bad value surfaces as a raw Python exception.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from mnemos.exceptions import InvalidRecordError, UsageError

__all__ = [
    "MAX_CONTENT_BYTES",
    "MAX_ID_LENGTH",
    "MAX_LIMIT",
    "MAX_METADATA_BYTES",
    "MAX_METADATA_DEPTH",
    "MAX_QUERY_CHARS",
    "MAX_TTL_SECONDS",
    "aware",
    "check_content",
    "check_count",
    "check_id",
    "check_json_value",
    "check_metadata",
    "check_when",
]

MAX_CONTENT_BYTES = 4 * 1024 * 1024
"""Largest content accepted, in UTF-8 bytes (a 1 MB memory is fine)."""
MAX_ID_LENGTH = 200
"""Longest memory id accepted, in characters."""
MAX_METADATA_DEPTH = 32
"""Deepest nesting of dicts and lists in metadata (and in a filter's values)."""
MAX_METADATA_BYTES = 1024 * 1024
"""Largest metadata accepted, as compact JSON in UTF-8 bytes."""
MAX_TTL_SECONDS = 1000 * 366 * 86400.0
"""Longest time to live (about a thousand years)."""
MAX_QUERY_CHARS = 100_000
"""Longest search query, in characters."""
MAX_LIMIT = 1_000_000
"""Largest ``limit`` or ``offset`` of a search or listing."""


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL_OR_SURROGATE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def _bad_chars(text: str, *, controls: bool) -> bool:
    """Whether ``text`` holds a lone surrogate (or, with ``controls``, a control character);
    a regular expression scans in C, which every write's metadata and every query go through."""
    return (_CONTROL_OR_SURROGATE if controls else _SURROGATE).search(text) is not None


def check_content(value: object) -> str:
    """Validate memory content: a non-blank string of at most MAX_CONTENT_BYTES."""
    if not isinstance(value, str):
        raise InvalidRecordError(f"content must be a string, not {type(value).__name__}")
    if not value.strip():
        raise InvalidRecordError("content is empty")
    if "\x00" in value:
        raise InvalidRecordError("content contains a NUL character")
    size = len(value.encode("utf-8", errors="surrogatepass"))
    if size > MAX_CONTENT_BYTES:
        raise InvalidRecordError(f"content is {size} bytes; the limit is {MAX_CONTENT_BYTES} bytes")
    if _bad_chars(value, controls=False):
        raise InvalidRecordError("content is not valid unicode (lone surrogate)")
    return value


def check_id(value: object) -> str:
    """Validate a memory id: a non-empty printable string of at most MAX_ID_LENGTH characters."""
    if not isinstance(value, str) or not value:
        raise InvalidRecordError(f"a memory id is a non-empty string, got {_short(value)}")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidRecordError(f"a memory id has at most {MAX_ID_LENGTH} characters")
    if _bad_chars(value, controls=True):
        raise InvalidRecordError("a memory id contains a control character or a lone surrogate")
    return value


def check_json_value(value: object, what: str, *, error: type[UsageError] = InvalidRecordError) -> None:
    """Walk a JSON-like value without recursion: bounded depth, string keys, valid unicode,
    finite numbers, nothing but dicts, lists, strings, numbers, booleans and None."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if _bad_chars(node, controls=False):
                raise error(f"{what} contains a lone surrogate")
        elif isinstance(node, Mapping):
            if depth >= MAX_METADATA_DEPTH:
                raise error(f"{what} is nested more than {MAX_METADATA_DEPTH} levels deep")
            for key, item in node.items():
                if not isinstance(key, str):
                    raise error(f"{what} keys are strings, got {_short(key)}")
                stack.append((key, depth + 1))
                stack.append((item, depth + 1))
        elif isinstance(node, (list, tuple, set, frozenset)):
            if depth >= MAX_METADATA_DEPTH:
                raise error(f"{what} is nested more than {MAX_METADATA_DEPTH} levels deep")
            stack.extend((item, depth + 1) for item in node)
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise error(f"{what} holds {node!r}; only finite numbers are JSON")
        elif node is not None and not isinstance(node, (bool, int)):
            raise error(f"{what} is not JSON-serializable: {type(node).__name__} value {_short(node)}")


def check_metadata(value: object) -> dict[str, Any]:
    """Validate metadata: a JSON-serializable dict with string keys, bounded in depth and size."""
    if not isinstance(value, Mapping):
        raise InvalidRecordError(f"metadata must be a dict, not {type(value).__name__}")
    check_json_value(value, "metadata")
    text = json.dumps(value, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    size = len(text.encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise InvalidRecordError(f"metadata is {size} bytes as JSON; the limit is {MAX_METADATA_BYTES}")
    result = json.loads(text)
    if not isinstance(result, dict):  # pragma: no cover - a Mapping dumps to an object
        raise InvalidRecordError("metadata must be a dict")
    return result


def aware(value: datetime | None) -> datetime | None:
    """A datetime in UTC (naive ones are taken as UTC); None stays None."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise UsageError(f"the time {value!r} is out of range once converted to UTC") from None


def check_when(value: object, name: str) -> datetime | None:
    """A datetime argument (or an ISO-8601 string), in UTC; anything else is a UsageError."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise UsageError(f"{name} is a datetime or an ISO-8601 date, not {_short(value)}") from None
    if not isinstance(value, datetime):
        raise UsageError(f"{name} is a datetime, not {type(value).__name__}")
    return aware(value)


def check_count(value: object, name: str, *, minimum: int, allow_none: bool = False) -> int | None:
    """An integer ``limit``/``offset`` between ``minimum`` and MAX_LIMIT."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_LIMIT:
        what = "a positive integer" if minimum == 1 else "a non-negative integer"
        if allow_none:
            what += " or None"
        raise UsageError(f"{name} is {what} up to {MAX_LIMIT}, got {_short(value)}")
    return value
