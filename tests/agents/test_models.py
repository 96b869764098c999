from __future__ import annotations

import logging
import re

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


def test_missing_provider_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """The provider packages are hidden from the import system (they are installed here)."""
    import sys

    monkeypatch.setitem(sys.modules, "langchain_openai", None)
    monkeypatch.setitem(sys.modules, "langchain_ollama", None)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ModelProviderError) as info:
        resolve_model("openai:gpt-4o-mini")
    assert 'pip install "mnemos[openai]"' in str(info.value)
    with pytest.raises(ModelProviderError, match=r'pip install "mnemos\[ollama\]"'):
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


def test_model_table_settings_reach_an_openai_compatible_provider(
    monkeypatch: pytest.MonkeyPatch, mnemos_home, nothing_configured: None
) -> None:
    pytest.importorskip("langchain_openai")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    (mnemos_home / "config.toml").write_text(
        '[model]\nprovider = "openai:my-model"\nbase_url = "http://127.0.0.1:9/v1"\n'
        "temperature = 0.1\nmax_tokens = 77\ntimeout = 5\n"
    )
    model = resolve_model(None)
    assert type(model).__name__ == "ChatOpenAI"
    assert model.openai_api_base == "http://127.0.0.1:9/v1"  # type: ignore[attr-defined]
    assert model.openai_api_key.get_secret_value() == "not-needed"  # type: ignore[attr-defined]
    assert (model.temperature, model.max_tokens, model.request_timeout) == (0.1, 77, 5.0)  # type: ignore[attr-defined]
    monkeypatch.setenv("MNEMOS_MODEL_MAX_TOKENS", "12")  # a variable wins over the file
    assert resolve_model(None).max_tokens == 12  # type: ignore[attr-defined]
    # another provider's spec does not get this server's settings
    assert "base_url" not in models._provider_kwargs("anthropic:x", models.model_settings(), {})


def test_api_key_env_names_the_variable(monkeypatch: pytest.MonkeyPatch, mnemos_home, nothing_configured: None) -> None:
    pytest.importorskip("langchain_openai")
    (mnemos_home / "config.toml").write_text(
        '[model]\nprovider = "openai:m"\nbase_url = "http://127.0.0.1:9/v1"\napi_key_env = "MY_SERVER_KEY"\n'
    )
    monkeypatch.delenv("MY_SERVER_KEY", raising=False)
    with pytest.raises(ModelProviderError, match="MY_SERVER_KEY"):
        resolve_model(None)
    monkeypatch.setenv("MY_SERVER_KEY", "sk-local-123")
    assert resolve_model(None).openai_api_key.get_secret_value() == "sk-local-123"  # type: ignore[attr-defined]


def test_ollama_gets_its_own_names_for_the_settings(monkeypatch: pytest.MonkeyPatch, nothing_configured: None) -> None:
    pytest.importorskip("langchain_ollama")
    monkeypatch.setenv("MNEMOS_MODEL", "ollama:llama3.2")
    monkeypatch.setenv("MNEMOS_MODEL_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("MNEMOS_MODEL_MAX_TOKENS", "33")
    model = resolve_model(None)
    assert type(model).__name__ == "ChatOllama"
    assert (model.base_url, model.num_predict) == ("http://127.0.0.1:9", 33)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[model]\nprovider = "offline"\ncolour = "blue"\n', "unknown key"),
        ('[model]\nprovider = "offline"\nmax_tokens = "many"\n', "max_tokens must be a number"),
        ('[model]\nprovider = "offline"\nthreads = 0\n', "positive integer"),
        ('[model]\nprovider = "offline"\ntemperature = true\n', "must be a number"),
        ("model = 3\n", "string or a [model] table"),
    ],
)
def test_bad_model_settings_are_configuration_errors(
    toml: str, message: str, mnemos_home, nothing_configured: None
) -> None:
    from mnemos.exceptions import ConfigurationError

    (mnemos_home / "config.toml").write_text(toml)
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        resolve_model(None)


def test_a_model_table_without_provider_is_not_a_configured_model(
    monkeypatch: pytest.MonkeyPatch, mnemos_home, nothing_configured: None
) -> None:
    from mnemos.agents import llamacpp

    monkeypatch.setattr(llamacpp, "local_model_available", lambda: False)
    (mnemos_home / "config.toml").write_text("[model]\nn_ctx = 2048\n")
    assert isinstance(resolve_model(None), OfflineChatModel)
    assert "offline model" in (models.offline_fallback_notice() or "")
