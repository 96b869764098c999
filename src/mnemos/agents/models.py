"""Choosing a chat model: ``"provider:model"`` strings, model objects, or the default.

``resolve_model("openai:gpt-4o-mini")`` goes through LangChain's
``init_chat_model`` (imported on first use); ``"offline"`` or
``"offline:NAME"`` is the built-in :class:`~mnemos.agents.offline.OfflineChatModel`;
``None`` means the configured default (``MNEMOS_MODEL``, then ``model`` in
``$MNEMOS_HOME/config.toml``, then ``"offline"``). When nothing is configured
the offline model is used and a warning is logged once per process;
:func:`offline_fallback_notice` returns that notice for a command line to show.

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
from mnemos.config import config_value, load_config_file
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
_KEY_HINTS = ("api_key", "api key", "credentials", "apikey", "authentication", "_API_KEY", "_TOKEN")
_PIP = re.compile(r"pip install (?:-U |--upgrade )?([\w.\-\[\]\"']+)")
_fell_back = False


def offline_fallback_notice() -> str | None:
    """The one-line notice if the offline model was used because none is configured."""
    return _OFFLINE_NOTICE if _fell_back else None


def resolve_model(spec: str | BaseChatModel | None = None, **kwargs: Any) -> BaseChatModel:
    """A LangChain chat model from a spec string, a model object, or the configured default.

    ``kwargs`` (``temperature=...``) go to ``init_chat_model`` for provider specs.
    Raises :class:`~mnemos.exceptions.ModelProviderError` for a missing
    package or key, :class:`~mnemos.exceptions.UsageError` for a malformed spec.
    """
    global _fell_back
    if isinstance(spec, BaseChatModel):
        return spec
    if spec is None:
        if not _configured():
            if not _fell_back:
                logger.warning(_OFFLINE_NOTICE)
            _fell_back = True
            return OfflineChatModel()
        spec = config_value("model")
    if not isinstance(spec, str) or not spec.strip():
        raise UsageError(
            f"a model is a 'provider:model' string or a LangChain chat model, not {spec!r}"
        )
    spec = spec.strip()
    if spec == "offline" or spec.startswith("offline:"):
        name = spec.partition(":")[2].strip()
        return OfflineChatModel(model_name=name or "offline")
    return _init(spec, **kwargs)


def _configured() -> bool:
    return bool(os.environ.get("MNEMOS_MODEL")) or load_config_file().get("model") is not None


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
