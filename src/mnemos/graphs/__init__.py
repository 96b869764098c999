"""Graphs: a builder over LangGraph, persistence, topology checks, group chat, AutoGen interop."""
