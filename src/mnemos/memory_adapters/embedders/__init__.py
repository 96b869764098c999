"""Embedders: the built-in hashing embedder, sentence-transformers, LangChain.

:func:`get_embedder` turns a spec into an embedder:

=====================================  =============================================
spec                                   embedder
=====================================  =============================================
``None``                               the configured one (``MNEMOS_EMBEDDER``,
                                       ``config.toml``), by default ``"hashing"``
``"hashing"``, ``"hashing:1024"``      :class:`HashingEmbedder` (512 dims by default)
``"st:all-MiniLM-L6-v2"``              :class:`SentenceTransformerEmbedder`
(or ``"sentence-transformers:..."``)   (a model name or a local directory)
an :class:`Embedder`                   itself
a LangChain ``Embeddings`` object      wrapped in :class:`LangChainEmbedder`
=====================================  =============================================

An embedder's ``name`` is also a valid spec, so a store can reopen the
embedder it recorded.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from mnemos.config import config_value
from mnemos.exceptions import ConfigurationError
from mnemos.memory_adapters.embedders.base import Embedder, Vectors
from mnemos.memory_adapters.embedders.hashing import DEFAULT_DIMS, VERSION, HashingEmbedder

if TYPE_CHECKING:
    from mnemos.memory_adapters.embedders.langchain import LangChainEmbedder
    from mnemos.memory_adapters.embedders.sentence_transformers import SentenceTransformerEmbedder

__all__ = [
    "Embedder",
    "HashingEmbedder",
    "LangChainEmbedder",
    "SentenceTransformerEmbedder",
    "Vectors",
    "get_embedder",
]

ACCEPTED_SPECS = (
    '"hashing", "hashing:DIMS", "st:MODEL_NAME_OR_PATH", "sentence-transformers:MODEL_NAME_OR_PATH", '
    "an Embedder, or a LangChain Embeddings object"
)
_HASHING = re.compile(rf"hashing(?::v{VERSION})?(?::(\d+))?")
_ST_PREFIXES = ("st:", "sentence-transformers:")


def __getattr__(name: str) -> object:
    # The optional embedders are imported on first use only.
    if name == "SentenceTransformerEmbedder":
        from mnemos.memory_adapters.embedders.sentence_transformers import (
            SentenceTransformerEmbedder,
        )

        return SentenceTransformerEmbedder
    if name == "LangChainEmbedder":
        from mnemos.memory_adapters.embedders.langchain import LangChainEmbedder

        return LangChainEmbedder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_embedder(spec: object = None) -> Embedder:
    """The embedder a spec names (see the module docstring); ``None`` means the configured one.

    Raises :class:`~mnemos.exceptions.ConfigurationError` for a spec it does
    not understand, and :class:`~mnemos.exceptions.MissingExtraError` when the
    spec needs an extra that is not installed.
    """
    if isinstance(spec, Embedder):
        return spec
    if spec is None:
        spec = config_value("embedder") or "hashing"
    if isinstance(spec, str):
        return _from_string(spec)
    from langchain_core.embeddings import Embeddings

    if isinstance(spec, Embeddings):
        from mnemos.memory_adapters.embedders.langchain import LangChainEmbedder

        return LangChainEmbedder(spec)
    raise ConfigurationError(
        f"cannot make an embedder from a {type(spec).__name__}; accepted: {ACCEPTED_SPECS}"
    )


def _from_string(spec: str) -> Embedder:
    text = spec.strip()
    hashing = _HASHING.fullmatch(text)
    if hashing:
        return HashingEmbedder(int(hashing.group(1)) if hashing.group(1) else DEFAULT_DIMS)
    for prefix in _ST_PREFIXES:
        if text.startswith(prefix) and text[len(prefix) :].strip():
            from mnemos.memory_adapters.embedders.sentence_transformers import (
                SentenceTransformerEmbedder,
            )

            return SentenceTransformerEmbedder(text[len(prefix) :])
    raise ConfigurationError(f"unknown embedder {spec!r}; accepted: {ACCEPTED_SPECS}")
