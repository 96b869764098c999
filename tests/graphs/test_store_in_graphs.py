"""A mnemos store in LangGraph graphs: ``runtime.store`` and ``get_store()`` in nodes, sync and
async, in a raw ``StateGraph`` and through ``GraphBuilder.compile(store=<adapter>)``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, TypedDict

from langgraph.config import get_store
from langgraph.graph import START, StateGraph
from langgraph.runtime import Runtime

from mnemos.graphs import GraphBuilder
from mnemos.memory_adapters import MnemosStore
from mnemos.memory_adapters.native import NativeMemoryAdapter


class State(TypedDict, total=False):
    text: str
    recalled: list[str]


def remember_and_recall(state: State, runtime: Runtime[Any]) -> State:
    ns = ("memories", "alice")
    if not state["text"].endswith("?"):
        runtime.store.put(ns, str(len(runtime.store.search(ns, limit=100))), {"data": state["text"]})
    return {"recalled": [i.value["data"] for i in runtime.store.search(ns, query=state["text"], limit=5)]}


def with_get_store(state: State) -> State:
    found = get_store().search(("memories", "alice"), query=state["text"], limit=1)
    return {"recalled": [i.value["data"] for i in found]}


def test_builder_compiles_with_an_adapter_as_the_store(tmp_path: Path) -> None:
    adapter = NativeMemoryAdapter(tmp_path / "m.db", embedder="hashing")
    try:
        graph = GraphBuilder(State).node(remember_and_recall).compile(store=adapter)
        assert isinstance(graph.store, MnemosStore)
        graph.invoke({"text": "Alice likes green tea"})
        out = graph.invoke({"text": "does Alice like tea?"})
        assert out["recalled"][0] == "Alice likes green tea"
        # the items are the adapter's memories
        assert adapter.search("green tea", namespace=("memories", "alice"))[0].record.content == "Alice likes green tea"
    finally:
        adapter.close()


def test_raw_state_graph_sync_and_async(tmp_path: Path) -> None:
    store = MnemosStore(NativeMemoryAdapter(tmp_path / "m.db", embedder="hashing"))
    try:
        builder = StateGraph(State)
        builder.add_node(remember_and_recall)
        builder.add_node(with_get_store)
        builder.add_edge(START, "remember_and_recall")
        builder.add_edge("remember_and_recall", "with_get_store")
        graph = builder.compile(store=store)
        graph.invoke({"text": "Alice moved to Lisbon"})
        out = asyncio.run(graph.ainvoke({"text": "Alice plays the cello"}))
        assert out["recalled"] == ["Alice plays the cello"]
        assert sorted(i.value["data"] for i in store.search(("memories",))) == [
            "Alice moved to Lisbon", "Alice plays the cello"]
    finally:
        store.close()
