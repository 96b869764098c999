"""Helpers shared by the ``mnemos`` command groups.

- :class:`MnemosGroup` turns mnemos errors into one line on stderr
  (``error: <message>``) and an exit code: 2 for a :class:`~mnemos.exceptions.UsageError`
  (the command was used wrongly), 1 for any other mnemos error (the work failed);
  :func:`reported` does the same for a command on the root app.
- :func:`stdout` / :func:`stderr` give rich consoles; :func:`print_json` writes
  the one JSON document that ``--json`` promises.
- :func:`progress` is a rich progress bar on stderr, silent when stderr is not a terminal.
- Parsers for ``key=value`` pairs, durations (``90s``, ``1h``, ``2d``) and dates.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from typer.core import TyperGroup

from mnemos.exceptions import MnemosError, UsageError
from mnemos.memory_adapters.base import ScoredMemory, ScoreReason

__all__ = [
    "EXIT_RUNTIME",
    "EXIT_USAGE",
    "MnemosGroup",
    "compact_reasons",
    "fail",
    "hit_to_json",
    "parse_datetime",
    "parse_duration",
    "parse_key_values",
    "print_json",
    "progress",
    "reported",
    "stderr",
    "stdout",
]

EXIT_USAGE = 2
"""Exit code for a command used wrongly (bad option, bad input, unknown id)."""
EXIT_RUNTIME = 1
"""Exit code for correct work that failed (storage, network)."""


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print ``error: message`` on stderr and return the exit to raise."""
    # Plain echo, not rich: messages hold brackets (``mnemos[st]``) rich would read as markup.
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def _errors_reported() -> Iterator[None]:
    try:
        yield
    except UsageError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    except MnemosError as exc:
        raise fail(str(exc), EXIT_RUNTIME) from None


class MnemosGroup(TyperGroup):
    """A command group whose commands report mnemos errors without a traceback."""

    def invoke(self, ctx: Any) -> Any:  # a click Context (typer may vendor click)
        with _errors_reported():
            return super().invoke(ctx)


_F = TypeVar("_F", bound=Callable[..., Any])


def reported(func: _F) -> _F:
    """Wrap a command for the root app so it reports mnemos errors as :class:`MnemosGroup` does."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _errors_reported():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def stdout() -> Console:
    """A console on the current stdout (created per call, so tests can swap streams)."""
    return Console(file=sys.stdout)


def stderr() -> Console:
    """A console on the current stderr."""
    return Console(file=sys.stderr, stderr=True)


def print_json(data: Any) -> None:
    """Write one JSON document on stdout (no colour, no wrapping)."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


@contextmanager
def progress(description: str) -> Iterator[Progress]:
    """A progress bar on stderr; add tasks to it. Hidden unless stderr is a terminal."""
    console = stderr()
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    with bar:
        yield bar


# --- rendering ---------------------------------------------------------------------

_RANK = re.compile(r"rank (\d+)")


def _compact_reason(reason: ScoreReason) -> str:
    match = _RANK.search(reason.detail)
    if reason.signal == "keyword" and match:
        return f"keyword #{match.group(1)}"
    return f"{reason.signal} {reason.value:.2f}"


def compact_reasons(reasons: Sequence[ScoreReason]) -> str:
    """The reasons that moved the score, on one line: ``keyword #1 · vector 0.82 · recency 0.97``.

    A reason that added nothing (an importance at the neutral 0.5) is left out;
    ``--json`` has them all.
    """
    return " · ".join(_compact_reason(r) for r in reasons if r.contribution != 0) or "-"


def hit_to_json(rank: int, hit: ScoredMemory) -> dict[str, Any]:
    """A search hit as JSON: rank, score, reasons (every field) and the full record."""
    return {
        "rank": rank,
        "score": hit.score,
        "reasons": [
            {
                "signal": r.signal,
                "value": r.value,
                "contribution": r.contribution,
                "detail": r.detail,
            }
            for r in hit.reasons
        ],
        "record": hit.record.to_dict(),
    }


# --- parsing -----------------------------------------------------------------------


def parse_key_values(pairs: Iterable[str], option: str) -> dict[str, Any]:
    """Parse ``key=value`` pairs; a value is JSON when it parses as JSON, else a string.

    ``n=3`` gives the number 3, ``tags=["a","b"]`` a list, ``city=Berlin`` the string.
    """
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"bad {option} {pair!r}: write key=value, e.g. {option} source=chat")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        result[key] = value
    return result


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(text: str, option: str = "--ttl") -> float:
    """Seconds from ``3600``, ``90s``, ``30m``, ``1h``, ``2d``, ``1w`` or ``1h30m``."""
    compact = text.strip().lower().replace(" ", "")
    seconds: float | None = None
    try:
        seconds = float(compact)
    except ValueError:
        if compact and _DURATION_PART.sub("", compact) == "":
            seconds = sum(
                float(n) * _DURATION_UNITS[unit] for n, unit in _DURATION_PART.findall(compact)
            )
    if seconds is None or not seconds > 0:
        raise UsageError(
            f"bad {option} {text!r}: give seconds or a duration such as 90s, 30m, 1h, 2d, 1w"
        )
    return seconds


def parse_datetime(text: str, option: str, *, now: datetime | None = None) -> datetime:
    """A UTC datetime from an ISO date/time (naive means UTC) or a duration ago (``7d``)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        try:
            ago = parse_duration(text, option)
        except UsageError:
            raise UsageError(
                f"bad {option} {text!r}: give an ISO date such as 2026-01-31 or "
                f"2026-01-31T09:30, or a time ago such as 2h or 7d"
            ) from None
        return (now or datetime.now(UTC)) - timedelta(seconds=ago)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
