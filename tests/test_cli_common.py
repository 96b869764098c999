"""The shared CLI helpers: error exits, parsers, compact score reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import typer
from typer.testing import CliRunner

from mnemos._cli._common import (
    MnemosGroup,
    compact_reasons,
    parse_datetime,
    parse_duration,
    parse_key_values,
)
from mnemos.exceptions import (
    InvalidNamespaceError,
    MissingExtraError,
    StorageError,
    UsageError,
)
from mnemos.memory_adapters.base import ScoreReason


def _app(error: Exception) -> typer.Typer:
    app = typer.Typer(cls=MnemosGroup)

    @app.command()
    def boom() -> None:
        raise error

    @app.command()
    def fine() -> None:
        typer.echo("fine")

    return app


@pytest.mark.parametrize(
    "error, code",
    [
        (UsageError("bad call"), 2),
        (InvalidNamespaceError("bad namespace"), 2),
        (MissingExtraError("st", "sentence-transformers", "local embeddings"), 2),
        (StorageError("disk on fire"), 1),
    ],
)
def test_mnemos_errors_become_one_line_and_an_exit_code(error: Exception, code: int) -> None:
    result = CliRunner().invoke(_app(error), ["boom"])
    assert result.exit_code == code
    assert result.stderr == f"error: {error}\n"
    assert result.stdout == ""


def test_brackets_in_messages_survive() -> None:
    error = MissingExtraError("st", "sentence-transformers", "local embeddings")
    result = CliRunner().invoke(_app(error), ["boom"])
    assert 'pip install "mnemos[st]"' in result.stderr


def test_other_exceptions_are_not_swallowed() -> None:
    result = CliRunner().invoke(_app(ZeroDivisionError("bug")), ["boom"])
    assert isinstance(result.exception, ZeroDivisionError)


def test_parse_key_values_json_when_valid_else_string() -> None:
    parsed = parse_key_values(
        ["n=3", "f=0.5", "ok=true", "none=null", 'tags=["a"]', "city=Berlin", "eq=a=b", "empty="],
        "--meta",
    )
    assert parsed == {
        "n": 3, "f": 0.5, "ok": True, "none": None, "tags": ["a"],
        "city": "Berlin", "eq": "a=b", "empty": "",
    }
    with pytest.raises(UsageError, match="key=value"):
        parse_key_values(["novalue"], "--meta")
    with pytest.raises(UsageError, match="--filter"):
        parse_key_values([" =x"], "--filter")


@pytest.mark.parametrize(
    "text, seconds",
    [("3600", 3600), ("90s", 90), ("30m", 1800), ("1h", 3600), ("2d", 172800),
     ("1w", 604800), ("1h30m", 5400), ("1.5h", 5400), (" 2D ", 172800)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "0", "-5", "1x", "h", "1h-2m"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(UsageError, match="--ttl"):
        parse_duration(text)


def test_parse_datetime() -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert parse_datetime("2026-01-31", "--since") == datetime(2026, 1, 31, tzinfo=UTC)
    assert parse_datetime("2026-01-31T09:30", "--since") == datetime(2026, 1, 31, 9, 30, tzinfo=UTC)
    assert parse_datetime("2026-01-31T09:30+02:00", "--since") == datetime(
        2026, 1, 31, 7, 30, tzinfo=UTC
    )
    assert parse_datetime("7d", "--since", now=now) == now - timedelta(days=7)
    with pytest.raises(UsageError, match="--until"):
        parse_datetime("yesterday-ish", "--until")


def test_compact_reasons() -> None:
    reasons = [
        ScoreReason(signal="keyword", value=7.12, contribution=0.5, detail="rank 1, bm25 7.12"),
        ScoreReason(signal="vector", value=0.8234, contribution=0.4, detail="rank 3, cosine 0.823"),
        ScoreReason(signal="recency", value=0.971, contribution=0.02),
    ]
    assert compact_reasons(reasons) == "keyword #1 · vector 0.82 · recency 0.97"
    assert compact_reasons([]) == "-"
