"""Helpers the page modules share: the context, rendering, parameters, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse
from starlette.templating import Jinja2Templates

from mnemos.exceptions import UsageError
from mnemos.memory_adapters.base import BaseMemoryAdapter
from mnemos.ui.base import UIContext

__all__ = [
    "BadRequest",
    "context",
    "memory",
    "parse_when",
    "principal",
    "redirect",
    "render",
    "templates",
]

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def short_spec(spec: str | None) -> str:
    """``MODULE:GRAPH`` for people: a file's name rather than its whole path."""
    if not spec:
        return "—"
    module, sep, attr = spec.rpartition(":")
    if sep and ("/" in module or "\\" in module):
        return f"{Path(module).name}:{attr}"
    return spec


templates.env.filters["short_spec"] = short_spec


class BadRequest(UsageError):
    """A request the UI cannot act on (a bad parameter); answered with 400."""


def context(request: Request) -> UIContext:
    ctx: UIContext = request.app.state.ctx
    return ctx


def principal(request: Request) -> str | None:
    state = request.scope.get("state") or {}
    value = state.get("principal")
    return value if isinstance(value, str) else None


def memory(request: Request) -> BaseMemoryAdapter:
    """The memory this request may see."""
    return context(request).memory_for(principal(request))


def render(request: Request, template: str, status_code: int = 200, **data: Any) -> HTMLResponse:
    ctx = context(request)
    data.setdefault("principal", principal(request))
    data.setdefault("authenticated", ctx.authenticated)
    data.setdefault("nav", template.split("_", 1)[0].split(".", 1)[0])
    return templates.TemplateResponse(request, template, data, status_code=status_code)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_when(text: str | None, name: str) -> datetime | None:
    """A UTC time from a date (``2026-01-31``), a date-time, or a time ago (``2h``, ``7d``)."""
    if text is None or not text.strip():
        return None
    value = text.strip()
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        unit = value[-1:].lower()
        try:
            amount = float(value[:-1])
        except ValueError:
            amount = -1
        if unit not in _UNITS or amount < 0:
            raise BadRequest(f"bad {name} {text!r}: give a date such as 2026-01-31, or a time ago such as 2h or 7d") from None
        return datetime.now(UTC) - timedelta(seconds=amount * _UNITS[unit])
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def parse_float(text: str | None, name: str, low: float = 0.0, high: float = 1.0) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadRequest(f"bad {name} {text!r}: give a number from {low} to {high}") from None
    if not low <= value <= high:
        raise BadRequest(f"bad {name} {text!r}: give a number from {low} to {high}")
    return value


def parse_int(text: str | None, name: str, default: int, low: int = 0, high: int = 1_000_000) -> int:
    if text is None or not text.strip():
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"bad {name} {text!r}: give a whole number") from None
    if not low <= value <= high:
        raise BadRequest(f"bad {name} {text!r}: give a whole number from {low} to {high}")
    return value
