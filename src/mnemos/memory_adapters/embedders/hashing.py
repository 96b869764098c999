"""The built-in embedder: signed feature hashing of words, word pairs and character n-grams.

It downloads nothing and needs no model, yet texts that share words (or
parts of words: "running" and "runner") get similar vectors. Features:

* the stem of every content word (stopwords dropped, unless nothing else is left),
* pairs of neighbouring content words ("ice cream" is more than "ice" and "cream"),
* character 3-grams of each alphabetic word, padded with ``<`` and ``>``.

Each feature is hashed with BLAKE2b (never Python's randomized ``hash``) to a
dimension and a sign; counts are damped (``1 + log tf``) and the row is
L2-normalised. The vectors are the same in every process and on every machine.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from mnemos.exceptions import ConfigurationError
from mnemos.memory_adapters.embedders._lexical import STOPWORDS, stem, words
from mnemos.memory_adapters.embedders.base import Embedder, Vectors

__all__ = ["DEFAULT_DIMS", "HashingEmbedder"]

DEFAULT_DIMS = 512
"""512 dimensions recall as well as 1024 on the LoCoMo benchmark, with half the vector memory."""
VERSION = 1

_BIGRAM_WEIGHT = 0.3
_CHAR_WEIGHT = 0.6
_CHAR_NGRAMS = (3,)
_MIN_CHAR_WORD = 4
_CACHE_SIZE = 1 << 17

_Features = tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]


def _hash64(feature: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little"
    )


def _hashed(features: list[tuple[str, float]], dims: int) -> _Features:
    index = np.empty(len(features), dtype=np.int64)
    value = np.empty(len(features), dtype=np.float32)
    for i, (feature, weight) in enumerate(features):
        h = _hash64(feature)
        index[i] = h % dims
        value[i] = -weight if h >> 63 else weight
    return index, value


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _word_features(word: str, dims: int) -> _Features:
    """The hashed features one occurrence of ``word`` contributes: its stem and its n-grams."""
    features = [("w:" + stem(word), 1.0)]
    if len(word) >= _MIN_CHAR_WORD and word.isalpha():
        padded = f"<{word}>"
        grams = [padded[i : i + n] for n in _CHAR_NGRAMS for i in range(len(padded) - n + 1)]
        weight = _CHAR_WEIGHT / math.sqrt(len(grams))
        features.extend(("c:" + g, weight) for g in grams)
    return _hashed(features, dims)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _pair_features(first: str, second: str, dims: int) -> _Features:
    return _hashed([(f"b:{stem(first)} {stem(second)}", _BIGRAM_WEIGHT)], dims)


class HashingEmbedder(Embedder):
    """Deterministic lexical embedder; the default, since it downloads nothing.

    ``name`` is ``"hashing:v1:<dims>"``: a store made with one number of
    dimensions (or a future version of the features) refuses the others.

    >>> e = HashingEmbedder()
    >>> bool(e.embed_query("the runner was running") @ e.embed_query("she runs daily") > 0.1)
    True
    """

    bm25_b = 0.3
    """Leave-one-conversation-out on LoCoMo chose 0.2-0.4 in every fold when BM25's length
    normalisation was swept together with another setting (``rrf_k``, ``vector_weight``,
    ``bm25_k1``, ``keyword_weight``) or with every setting from 0.3; alone, from 0.75, one
    fold of three kept 0.75."""

    def __init__(self, dims: int = DEFAULT_DIMS) -> None:
        if not isinstance(dims, int) or isinstance(dims, bool) or not 16 <= dims <= 1 << 16:
            raise ConfigurationError(
                f"hashing embedder dims must be an int in 16..65536, not {dims!r}"
            )
        self.dims = dims
        self.name = f"hashing:v{VERSION}:{dims}"

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed texts: shape ``(len(texts), dims)``; a text with no words gives a zero row."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts; use embed_query() for one text")
        dims = self.dims
        owners: list[int] = []
        indexes: list[npt.NDArray[np.int64]] = []
        values: list[npt.NDArray[np.float32]] = []
        counts: list[int] = []
        for row, text in enumerate(texts):
            tokens = words(text)
            content = [w for w in tokens if w not in STOPWORDS] or tokens
            for (index, value), count in itertools.chain(
                ((_word_features(w, dims), c) for w, c in Counter(content).items()),
                ((_pair_features(a, b, dims), c) for (a, b), c in Counter(itertools.pairwise(content)).items()),
            ):
                indexes.append(index)
                values.append(value)
                counts.append(count)
                owners.append(row)
        out = np.zeros((len(texts), dims), dtype=np.float32)
        if indexes:
            lengths = np.fromiter(map(len, indexes), dtype=np.int64, count=len(indexes))
            flat = np.concatenate(indexes)
            if len(texts) > 1:
                flat += np.repeat(np.asarray(owners, dtype=np.int64) * dims, lengths)
            weights = np.concatenate(values)
            if any(c != 1 for c in counts):  # damped counts, each feature's values times 1 + log tf
                damping = np.asarray([1.0 + math.log(c) for c in counts], dtype=np.float32)
                weights *= np.repeat(damping, lengths)
            sums = np.bincount(flat, weights=weights, minlength=out.size)
            out[:] = sums.reshape(out.shape)
        norms = np.sqrt(np.einsum("ij,ij->i", out, out))[:, None]
        np.divide(out, norms, out=out, where=norms > 0)
        return out
