"""A registry of LangChain tools, by name.

Tools are ordinary LangChain tools (``@tool`` functions or ``BaseTool``
subclasses). They are registered from Python, from a module path
(``"package.module:attribute"``, where the attribute is a tool or a list of
tools), or from every installed distribution that declares the entry-point
group ``mnemos.tools``::

    [project.entry-points."mnemos.tools"]
    weather = "my_package.tools:weather_tools"

The same registry feeds agents (``registry.tools()``) and the MCP server.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable, Iterator
from importlib.metadata import entry_points
from typing import Any

from langchain_core.tools import BaseTool

from mnemos.exceptions import ConfigurationError, UsageError

__all__ = ["ENTRY_POINT_GROUP", "ToolRegistry", "load_object"]

ENTRY_POINT_GROUP = "mnemos.tools"


def load_object(spec: str) -> Any:
    """Import ``"package.module:attribute"`` (the attribute may be dotted) and return it.

    Raises :class:`ConfigurationError` naming the spec when it cannot be imported.
    """
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise ConfigurationError(f"expected 'package.module:attribute', got {spec!r}")
    module_name, _, attr_path = spec.partition(":")
    if not module_name or not attr_path:
        raise ConfigurationError(f"expected 'package.module:attribute', got {spec!r}")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"cannot import module {module_name!r} for {spec!r}: {exc}") from None
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigurationError(f"module {module_name!r} has no attribute {attr_path!r}") from None
    return obj


class ToolRegistry:
    """LangChain tools by unique name.

    >>> from langchain_core.tools import tool
    >>> @tool
    ... def shout(text: str) -> str:
    ...     '''Upper-case a text.'''
    ...     return text.upper()
    >>> registry = ToolRegistry()
    >>> registry.register(shout)
    >>> registry.get("shout").invoke({"text": "hi"})
    'HI'
    """

    def __init__(self, tools: Iterable[BaseTool] = ()) -> None:
        self._tools: dict[str, BaseTool] = {}
        for item in tools:
            self.register(item)

    def register(self, tool: BaseTool, *, source: str | None = None) -> None:
        """Add one tool; a second tool with the same name is a :class:`UsageError`."""
        if not isinstance(tool, BaseTool):
            where = f" from {source!r}" if source else ""
            raise UsageError(
                f"expected a LangChain tool (decorate the function with @tool){where}, "
                f"got {type(tool).__name__}"
            )
        if tool.name in self._tools:
            where = f" (from {source!r})" if source else ""
            raise UsageError(f"a tool named {tool.name!r} is already registered{where}")
        self._tools[tool.name] = tool

    def register_many(self, tools: Iterable[BaseTool], *, source: str | None = None) -> None:
        """Add several tools; nothing is added if one of them is refused."""
        items = list(tools)
        names = [t.name if isinstance(t, BaseTool) else None for t in items]
        staged = ToolRegistry()
        for item in items:
            staged.register(item, source=source)
        clash = [n for n in names if n in self._tools]
        if clash:
            where = f" (from {source!r})" if source else ""
            raise UsageError(f"a tool named {clash[0]!r} is already registered{where}")
        self._tools.update(staged._tools)

    def register_path(self, spec: str) -> list[str]:
        """Register the tool or list of tools at ``"package.module:attribute"``; return their names.

        A callable that is not a tool is called with no arguments and its
        result (a tool or a list of tools) is registered, so factories work too.
        """
        obj = load_object(spec)
        tools = _as_tools(obj, spec)
        self.register_many(tools, source=spec)
        return [t.name for t in tools]

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> list[str]:
        """Register the tools every installed distribution declares under ``group``."""
        names: list[str] = []
        for ep in entry_points(group=group):
            try:
                obj = ep.load()
            except Exception as exc:
                raise ConfigurationError(
                    f"entry point {ep.name!r} ({ep.value}) in group {group!r} failed to load: {exc}"
                ) from None
            tools = _as_tools(obj, ep.value)
            self.register_many(tools, source=f"entry point {ep.name}")
            names.extend(t.name for t in tools)
        return names

    def get(self, name: str) -> BaseTool:
        """The tool called ``name``; :class:`UsageError` listing the known names if absent."""
        try:
            return self._tools[name]
        except KeyError:
            known = ", ".join(sorted(self._tools)) or "none"
            raise UsageError(f"no tool named {name!r}; registered tools: {known}") from None

    def tools(self) -> list[BaseTool]:
        """Every registered tool, in registration order."""
        return list(self._tools.values())

    def names(self) -> list[str]:
        return list(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[BaseTool]:
        return iter(self.tools())

    def __len__(self) -> int:
        return len(self._tools)

    def __repr__(self) -> str:
        return f"<ToolRegistry {self.names()}>"


def _takes_no_arguments(fn: Any) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return all(
        p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params
    )


def _as_tools(obj: Any, source: str) -> list[BaseTool]:
    if isinstance(obj, BaseTool):
        return [obj]
    if callable(obj) and not isinstance(obj, type) and _takes_no_arguments(obj):
        try:
            obj = obj()
        except Exception as exc:
            raise ConfigurationError(f"tool factory {source!r} failed: {exc}") from None
        if isinstance(obj, BaseTool):
            return [obj]
    if isinstance(obj, Iterable) and not isinstance(obj, (str, bytes, dict)):
        items = list(obj)
        bad = [type(i).__name__ for i in items if not isinstance(i, BaseTool)]
        if not bad:
            return items
        raise UsageError(f"{source!r} holds non-tools: {', '.join(bad)} (decorate them with @tool)")
    raise UsageError(
        f"{source!r} is a {type(obj).__name__}, not a LangChain tool or a list of tools "
        "(decorate the function with @tool)"
    )
