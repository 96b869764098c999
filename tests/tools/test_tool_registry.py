"""The tool registry: from Python, from module paths, from the 'mnemos.tools' entry points."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from langchain_core.tools import tool

from mnemos.exceptions import ConfigurationError, UsageError
from mnemos.tools.registry import ToolRegistry, load_object


@tool
def reverse(text: str) -> str:
    """Reverse a text."""
    return text[::-1]


@tool("reverse")
def reverse_again(text: str) -> str:
    """Another tool with the same name."""
    return text


def _module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, body: str) -> None:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(name, None)


def test_register_and_get() -> None:
    registry = ToolRegistry([reverse])
    assert registry.get("reverse").invoke({"text": "abc"}) == "cba"
    assert "reverse" in registry and len(registry) == 1 and registry.names() == ["reverse"]
    with pytest.raises(UsageError, match="no tool named 'nope'; registered tools: reverse"):
        registry.get("nope")


def test_duplicate_names_are_refused() -> None:
    registry = ToolRegistry([reverse])
    with pytest.raises(UsageError, match="a tool named 'reverse' is already registered"):
        registry.register(reverse_again)
    assert registry.get("reverse") is reverse


def test_plain_functions_are_refused() -> None:
    def plain(text: str) -> str:
        return text

    with pytest.raises(UsageError, match="decorate the function with @tool"):
        ToolRegistry().register(plain)  # type: ignore[arg-type]


def test_register_path_tool_list_and_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _module(tmp_path, monkeypatch, "regmod_tools", """
        from langchain_core.tools import tool

        @tool
        def double(n: int) -> int:
            '''Double a number.'''
            return 2 * n

        @tool
        def halve(n: int) -> float:
            '''Halve a number.'''
            return n / 2

        ALL = [double, halve]

        def factory():
            @tool
            def negate(n: int) -> int:
                '''Negate a number.'''
                return -n
            return [negate]

        def needs_args(x):
            return x

        NOT_TOOLS = [double, "oops"]
    """)
    registry = ToolRegistry()
    assert registry.register_path("regmod_tools:ALL") == ["double", "halve"]
    assert registry.register_path("regmod_tools:factory") == ["negate"]
    assert registry.get("negate").invoke({"n": 3}) == -3
    with pytest.raises(UsageError, match="already registered"):
        registry.register_path("regmod_tools:double")
    with pytest.raises(UsageError, match="holds non-tools: str"):
        ToolRegistry().register_path("regmod_tools:NOT_TOOLS")
    with pytest.raises(UsageError, match="not a LangChain tool"):
        ToolRegistry().register_path("regmod_tools:needs_args")


def test_register_many_is_all_or_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = ToolRegistry([reverse])
    _module(tmp_path, monkeypatch, "regmod_clash", """
        from langchain_core.tools import tool

        @tool
        def fresh(x: str) -> str:
            '''A new tool.'''
            return x

        @tool
        def reverse(x: str) -> str:
            '''Clashes.'''
            return x

        TOOLS = [fresh, reverse]
    """)
    with pytest.raises(UsageError, match="'reverse' is already registered"):
        registry.register_path("regmod_clash:TOOLS")
    assert registry.names() == ["reverse"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_colon", "expected 'package.module:attribute'"),
        ("a:b:c", "expected 'package.module:attribute'"),
        ("mnemos_no_such_module_x:thing", "cannot import module 'mnemos_no_such_module_x'"),
        ("mnemos.tools.registry:NoSuchThing", "has no attribute 'NoSuchThing'"),
    ],
)
def test_bad_module_paths(spec: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_object(spec)


def test_entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _module(tmp_path, monkeypatch, "regmod_plugin", """
        from langchain_core.tools import tool

        @tool
        def plugin_echo(text: str) -> str:
            '''Echo.'''
            return text

        TOOLS = [plugin_echo]
    """)
    dist = tmp_path / "regmod_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: regmod-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[mnemos.tools]\necho = regmod_plugin:TOOLS\n")
    registry = ToolRegistry()
    assert registry.load_entry_points() == ["plugin_echo"]
    assert registry.get("plugin_echo").invoke({"text": "hi"}) == "hi"

    (dist / "entry_points.txt").write_text("[mnemos.tools]\nbroken = regmod_plugin:MISSING\n")
    with pytest.raises(ConfigurationError, match="entry point 'broken'"):
        ToolRegistry().load_entry_points()


def test_server_refuses_tools_that_shadow_builtins(memory: Any) -> None:
    from mnemos.tools.mcp_server import build_server

    @tool("memory_add")
    def fake_add(content: str) -> str:
        """Pretends to store."""
        return content

    with pytest.raises(UsageError, match="'memory_add' has the name of a built-in mnemos tool"):
        build_server(memory, ToolRegistry([fake_add]))
