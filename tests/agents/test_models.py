from __future__ import annotations

import logging

import pytest
from langchain_core.language_models import BaseChatModel

from mnemos.agents import OfflineChatModel, ScriptedChatModel, models, resolve_model
from mnemos.exceptions import ModelProviderError, UsageError


@pytest.fixture(autouse=True)
def fresh_notice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "_fell_back", None)


@pytest.fixture
def nothing_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MNEMOS_MODEL", raising=False)


def test_offline_specs_give_the_offline_model() -> None:
    assert isinstance(resolve_model("offline"), OfflineChatModel)
    named = resolve_model("offline:tiny")
    assert isinstance(named, OfflineChatModel) and named.model_name == "tiny"


def test_model_objects_pass_through() -> None:
    model = ScriptedChatModel(["hi"])
    assert resolve_model(model) is model


def test_nothing_configured_and_no_local_model_falls_back_to_offline_and_says_so_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, nothing_configured: None
) -> None:
    from mnemos.agents import llamacpp

    monkeypatch.setattr(llamacpp, "local_model_available", lambda: False)
    assert models.offline_fallback_notice() is None
    with caplog.at_level(logging.WARNING, logger="mnemos.agents"):
        assert isinstance(resolve_model(None), OfflineChatModel)
        assert isinstance(resolve_model(None), OfflineChatModel)
    notices = [r for r in caplog.records if "offline model" in r.getMessage()]
    assert len(notices) == 1
    assert "MNEMOS_MODEL" in (models.offline_fallback_notice() or "")


def test_configured_default_comes_from_env_then_config_file(
    monkeypatch: pytest.MonkeyPatch, mnemos_home, nothing_configured: None
) -> None:
    (mnemos_home / "config.toml").write_text('model = "offline:from-file"\n')
    assert resolve_model(None).model_name == "from-file"  # type: ignore[attr-defined]
    monkeypatch.setenv("MNEMOS_MODEL", "offline:from-env")
    assert resolve_model(None).model_name == "from-env"  # type: ignore[attr-defined]
    assert models.offline_fallback_notice() is None


def test_missing_provider_package_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        import langchain_openai  # noqa: F401
    except ImportError:
        pass
    else:  # pragma: no cover - the package is not part of this environment
        pytest.skip("langchain-openai is installed")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ModelProviderError) as info:
        resolve_model("openai:gpt-4o-mini")
    assert "pip install langchain-openai" in str(info.value)
    with pytest.raises(ModelProviderError, match="pip install langchain-ollama"):
        resolve_model("ollama:llama3.2")


def test_missing_key_names_the_env_var_simulated_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hosted provider is simulated: init_chat_model raises what ChatOpenAI raises without a key."""
    import langchain.chat_models
    import openai

    def no_key(spec: str, **kwargs: object) -> BaseChatModel:
        raise openai.OpenAIError(
            "Missing credentials. Please pass an `api_key`, or set the `OPENAI_API_KEY` environment variable."
        )

    monkeypatch.setattr(langchain.chat_models, "init_chat_model", no_key)
    with pytest.raises(ModelProviderError) as info:
        resolve_model("openai:gpt-4o-mini")
    assert "set the OPENAI_API_KEY environment variable" in str(info.value)

    def anthropic_no_key(spec: str, **kwargs: object) -> BaseChatModel:
        raise ValueError("Did not find anthropic_api_key, please add an environment variable")

    monkeypatch.setattr(langchain.chat_models, "init_chat_model", anthropic_no_key)
    with pytest.raises(ModelProviderError, match="ANTHROPIC_API_KEY"):
        resolve_model("anthropic:claude-sonnet-4-5")


def test_unknown_provider_and_bad_specs() -> None:
    with pytest.raises(ModelProviderError, match="provider:model"):
        resolve_model("nosuchprovider-model")
    with pytest.raises(UsageError):
        resolve_model("   ")
    with pytest.raises(UsageError):
        resolve_model(42)  # type: ignore[arg-type]
