"""Embedders: the built-in hashing embedder, sentence-transformers, LangChain."""

from __future__ import annotations

from mnemos.memory_adapters.embedders.base import Embedder, Vectors

__all__ = ["Embedder", "Vectors"]
