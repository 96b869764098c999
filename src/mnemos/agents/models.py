"""Choosing a chat model: ``"provider:model"`` strings, model objects, or the default.

``resolve_model("openai:gpt-4o-mini")`` goes through LangChain's
``init_chat_model`` (imported on first use); ``"local:smollm2"`` or
``"local:/path/to/model.gguf"`` is the embedded llama.cpp model
(:class:`~mnemos.agents.llamacpp.LlamaCppChatModel`); ``"offline"`` or
``"offline:NAME"`` is the deterministic
:class:`~mnemos.agents.offline.OfflineChatModel`. ``None`` means the
configured default (``MNEMOS_MODEL``, then ``model`` or ``[model] provider``
in ``$MNEMOS_HOME/config.toml``). When nothing is configured, the local model
is used if it is installed, else the offline model, and a warning says so
once per process; :func:`offline_fallback_notice` returns that notice for a
command line to show.

The other ``[model]`` settings (:class:`~mnemos.config.ModelSettings`) apply
to specs of the configured provider (or to any, when no provider is
configured): ``base_url`` points ``openai:`` at any OpenAI-compatible server
(vLLM, LM Studio, llama.cpp, Ollama's ``/v1``; no key is needed then) and
``ollama:`` at its server; ``api_key_env`` names the variable holding the
key; ``temperature``, ``max_tokens`` and ``timeout`` go to the model;
``n_ctx`` and ``threads`` to local models.

A missing provider package or API key becomes one
:class:`~mnemos.exceptions.ModelProviderError` that says exactly what to
install or which environment variable to set.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from langchain_core.language_models import BaseChatModel

from mnemos.agents.offline import OfflineChatModel
from mnemos.config import ModelSettings, model_settings
from mnemos.exceptions import ModelProviderError, UsageError

__all__ = ["PROVIDER_KEY_ENV", "offline_fallback_notice", "resolve_model"]

logger = logging.getLogger("mnemos.agents")

PROVIDER_KEY_ENV: dict[str, str] = {
    "openai": "OPENAI_API_KEY",
    "azure_openai": "AZURE_OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "google_genai": "GOOGLE_API_KEY",
    "mistralai": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
    "cohere": "COHERE_API_KEY",
    "fireworks": "FIREWORKS_API_KEY",
    "together": "TOGETHER_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "xai": "XAI_API_KEY",
    "perplexity": "PPLX_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "nvidia": "NVIDIA_API_KEY",
    "upstage": "UPSTAGE_API_KEY",
    "huggingface": "HUGGINGFACEHUB_API_TOKEN",
}
"""The environment variable holding each provider's API key."""

_OFFLINE_NOTICE = (
    "No chat model is configured (set MNEMOS_MODEL or `model` in config.toml, "
    'e.g. "openai:gpt-4o-mini"); using the offline model.'
)
_LOCAL_NOTICE = (
    "No chat model is configured (set MNEMOS_MODEL or `model` in config.toml, "
    'e.g. "openai:gpt-4o-mini"); using the local model local:smollm2 '
    "(SmolLM2-135M: small and fast, but weak)."
)
DEFAULT_LOCAL_MODEL = "local:smollm2"
_NO_KEY = "not-needed"
_KEY_HINTS = ("api_key", "api key", "credentials", "apikey", "authentication", "_API_KEY", "_TOKEN")
_PIP = re.compile(r"pip install (?:-U |--upgrade )?([\w.\-\[\]\"']+)")
_fell_back: str | None = None


def offline_fallback_notice() -> str | None:
    """The one-line notice if the local or offline model was used because none is configured."""
    return _fell_back or None


def resolve_model(spec: str | BaseChatModel | None = None, **kwargs: Any) -> BaseChatModel:
    """A LangChain chat model from a spec string, a model object, or the configured default.

    ``kwargs`` (``temperature=...``) go to ``init_chat_model`` for provider specs.
    Raises :class:`~mnemos.exceptions.ModelProviderError` for a missing
    package or key, :class:`~mnemos.exceptions.UsageError` for a malformed spec.
    """
    global _fell_back
    if isinstance(spec, BaseChatModel):
        return spec
    settings = model_settings()
    if spec is None:
        spec = settings.provider
        if spec is None:
            from mnemos.agents.llamacpp import local_model_available

            local = local_model_available()
            notice = _LOCAL_NOTICE if local else _OFFLINE_NOTICE
            if _fell_back != notice:
                logger.warning(notice)
            _fell_back = notice
            if not local:
                return OfflineChatModel()
            spec = DEFAULT_LOCAL_MODEL
    if not isinstance(spec, str) or not spec.strip():
        raise UsageError(
            f"a model is a 'provider:model' string or a LangChain chat model, not {spec!r}"
        )
    spec = spec.strip()
    if spec == "offline" or spec.startswith("offline:"):
        name = spec.partition(":")[2].strip()
        return OfflineChatModel(model_name=name or "offline")
    if spec == "local" or spec.startswith("local:"):
        return _local(spec.partition(":")[2].strip() or "smollm2", settings, kwargs)
    return _init(spec, **_provider_kwargs(spec, settings, kwargs))


def _local(name: str, settings: ModelSettings, kwargs: dict[str, Any]) -> BaseChatModel:
    from mnemos.agents.llamacpp import LlamaCppChatModel, local_model_path

    path = local_model_path(name)
    options: dict[str, Any] = {"model_path": str(path), "model_name": f"local:{name}"}
    for key in ("temperature", "max_tokens", "n_ctx", "threads"):
        value = getattr(settings, key)
        if value is not None:
            options[key] = value
    options.update(kwargs)
    try:
        import xllamacpp  # noqa: F401
    except ImportError:
        raise ModelProviderError(
            'local models need the \'xllamacpp\' package: pip install "mnemos[local]"'
        ) from None
    return LlamaCppChatModel(**options)


def _provider_kwargs(spec: str, settings: ModelSettings, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The ``[model]`` settings as ``init_chat_model`` keyword arguments for ``spec``."""
    provider = _provider(spec)
    if settings.provider is not None and _provider(settings.provider) != provider:
        return dict(kwargs)
    out: dict[str, Any] = {}
    if settings.temperature is not None:
        out["temperature"] = settings.temperature
    if provider == "ollama":
        if settings.base_url:
            out["base_url"] = settings.base_url
        if settings.max_tokens is not None:
            out["num_predict"] = settings.max_tokens
        if settings.timeout is not None:
            out["client_kwargs"] = {"timeout": settings.timeout}
    else:
        if settings.base_url:
            out["base_url"] = settings.base_url
        if settings.max_tokens is not None:
            out["max_tokens"] = settings.max_tokens
        if settings.timeout is not None:
            out["timeout"] = settings.timeout
        if settings.api_key_env:
            key = os.environ.get(settings.api_key_env)
            if not key:
                raise ModelProviderError(
                    f"model {spec!r} needs an API key: set the {settings.api_key_env} environment "
                    "variable (named by api_key_env)"
                )
            out["api_key"] = key
        elif settings.base_url and provider == "openai" and not os.environ.get("OPENAI_API_KEY"):
            out["api_key"] = _NO_KEY  # a self-hosted OpenAI-compatible server needs none
    out.update(kwargs)
    return out


def _provider(spec: str) -> str | None:
    head, sep, _ = spec.partition(":")
    if sep:
        return head.replace("-", "_").lower()
    try:
        from langchain.chat_models.base import _attempt_infer_model_provider

        return _attempt_infer_model_provider(spec)
    except ImportError:  # pragma: no cover - private helper moved
        return None


def _init(spec: str, **kwargs: Any) -> BaseChatModel:
    provider = _provider(spec)
    try:
        from langchain.chat_models import init_chat_model

        return init_chat_model(spec, **kwargs)
    except ImportError as exc:
        match = _PIP.search(str(exc))
        package = match.group(1).strip("`'\"") if match else f"langchain-{(provider or 'PROVIDER').replace('_', '-')}"
        raise ModelProviderError(
            f"model {spec!r} needs the {package!r} package: pip install {package}"
        ) from None
    except Exception as exc:
        text = str(exc)
        env = PROVIDER_KEY_ENV.get(provider or "")
        if env and (env in text or any(h.casefold() in text.casefold() for h in _KEY_HINTS)):
            raise ModelProviderError(
                f"model {spec!r} needs an API key: set the {env} environment variable"
            ) from None
        if isinstance(exc, ValueError) and "model provider" in text:
            raise ModelProviderError(
                f"unknown model {spec!r}: write 'provider:model', e.g. 'openai:gpt-4o-mini', "
                "'anthropic:claude-sonnet-4-5', 'ollama:llama3.2', or 'offline'"
            ) from None
        raise ModelProviderError(f"cannot create model {spec!r}: {text}") from exc
