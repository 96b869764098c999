"""Graphs: a builder over LangGraph, persistence, topology checks, group chat, AutoGen interop."""

from __future__ import annotations

from mnemos.graphs.approval import parse_answer
from mnemos.graphs.builder import END, START, GraphBuilder, GraphState
from mnemos.graphs.checkpoint import (
    aopen_checkpointer,
    checkpointer_from_url,
    close_checkpointer,
    open_checkpointer,
    postgres_checkpointer,
    sqlite_checkpointer,
)
from mnemos.graphs.render import render, to_dot, to_mermaid, to_text
from mnemos.graphs.supervisor import FINISH, RouteDecision, Supervisor
from mnemos.graphs.thread_owners import UserBoundSaver, bind_threads_to_users
from mnemos.graphs.topology import (
    GraphTopologyWarning,
    TopologyIssue,
    TopologyReport,
    analyze,
    check_topology,
)

__all__ = [
    "END",
    "FINISH",
    "START",
    "GraphBuilder",
    "GraphState",
    "GraphTopologyWarning",
    "RouteDecision",
    "Supervisor",
    "TopologyIssue",
    "TopologyReport",
    "UserBoundSaver",
    "analyze",
    "aopen_checkpointer",
    "bind_threads_to_users",
    "check_topology",
    "checkpointer_from_url",
    "close_checkpointer",
    "open_checkpointer",
    "parse_answer",
    "postgres_checkpointer",
    "render",
    "sqlite_checkpointer",
    "to_dot",
    "to_mermaid",
    "to_text",
]
