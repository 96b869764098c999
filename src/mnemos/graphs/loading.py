"""Find a graph named ``MODULE:GRAPH`` and compile it with a given checkpointer.

``MODULE`` is a dotted module (``myapp.graphs``) or a path to a ``.py`` file
(``examples/personal_assistant.py``). ``GRAPH`` is an attribute (dots allowed)
holding a compiled graph, a :class:`~mnemos.graphs.GraphBuilder`, a LangGraph
``StateGraph``, or a zero-argument factory returning one of those.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore

from mnemos.exceptions import ConfigurationError, UsageError
from mnemos.graphs.builder import GraphBuilder

__all__ = ["compile_target", "load_graph", "load_target"]


def _import_file(path: Path) -> Any:
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    name = f"mnemos_graph_{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigurationError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # so the file can import its neighbours
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_target(spec: str) -> Any:
    """The object ``MODULE:GRAPH`` names (not compiled)."""
    if not isinstance(spec, str) or ":" not in spec:
        raise UsageError(f"a graph is named MODULE:GRAPH (e.g. examples/assistant.py:graph), got {spec!r}")
    module_part, _, attr = spec.rpartition(":")
    if not module_part or not attr:
        raise UsageError(f"a graph is named MODULE:GRAPH, got {spec!r}")
    if module_part.endswith(".py") or "/" in module_part or "\\" in module_part:
        path = Path(module_part).expanduser().resolve()
        if not path.is_file():
            raise ConfigurationError(f"no such file: {module_part}")
        module = _import_file(path)
    else:
        try:
            module = importlib.import_module(module_part)
        except ImportError as exc:
            raise ConfigurationError(f"cannot import module {module_part!r}: {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigurationError(f"{module_part} has no attribute {attr!r}") from None
    return obj


def compile_target(
    obj: Any,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    *,
    store: BaseStore | None = None,
    _called: bool = False,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile a builder, ``StateGraph``, compiled graph or factory with ``checkpointer``.

    A graph compiled elsewhere is copied with the checkpointer swapped in, so
    the thread lives where the caller says. The checkpointer's threads are
    bound to users (:func:`~mnemos.graphs.thread_owners.bind_threads_to_users`).
    """
    from mnemos.graphs.thread_owners import bind_threads_to_users

    checkpointer = bind_threads_to_users(checkpointer)
    if isinstance(obj, GraphBuilder):
        return obj.compile(checkpointer=checkpointer, store=store)
    if isinstance(obj, StateGraph):
        return obj.compile(checkpointer=checkpointer, store=store)
    if isinstance(obj, CompiledStateGraph):
        update: dict[str, Any] = {}
        if checkpointer is not None:
            update["checkpointer"] = checkpointer
        if store is not None:
            update["store"] = store
        return obj.copy(update=update) if update else obj
    if callable(obj) and not _called and _takes_no_arguments(obj):
        return compile_target(obj(), checkpointer, store=store, _called=True)
    raise UsageError(
        "expected a compiled graph, a GraphBuilder, a StateGraph or a zero-argument "
        f"factory of one, got {type(obj).__name__}"
    )


def _takes_no_arguments(func: Any) -> bool:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return False
    return all(
        p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        for p in signature.parameters.values()
    )


def load_graph(
    spec: str,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    *,
    store: BaseStore | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """:func:`load_target` then :func:`compile_target`."""
    return compile_target(load_target(spec), checkpointer, store=store)
