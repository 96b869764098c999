"""Settings: where mnemos keeps its files and which model and embedder it uses.

Resolution order for each setting: an explicit argument, then an environment
variable, then ``$MNEMOS_HOME/config.toml``, then the built-in default.

======================  ====================  ==================================
setting                 environment variable  default
======================  ====================  ==================================
home directory          ``MNEMOS_HOME``       ``~/.mnemos``
memory store            ``MNEMOS_STORE``      ``native:///$MNEMOS_HOME/memory.db``
chat model              ``MNEMOS_MODEL``      ``offline`` (the built-in offline model)
embedder                ``MNEMOS_EMBEDDER``   ``hashing`` (built-in, downloads nothing)
======================  ====================  ==================================

``config.toml`` takes the same settings as top-level keys: ``store``,
``model``, ``embedder``. The model may instead be a ``[model]`` table with the
settings of :class:`ModelSettings` (each also an environment variable)::

    [model]
    provider = "openai:qwen2.5-7b-instruct"   # MNEMOS_MODEL
    base_url = "http://127.0.0.1:8080/v1"     # MNEMOS_MODEL_BASE_URL
    api_key_env = "MY_SERVER_KEY"             # MNEMOS_MODEL_API_KEY_ENV
    temperature = 0.2                         # MNEMOS_MODEL_TEMPERATURE
    max_tokens = 512                          # MNEMOS_MODEL_MAX_TOKENS
    timeout = 120                             # MNEMOS_MODEL_TIMEOUT (seconds)
    n_ctx = 4096                              # MNEMOS_MODEL_N_CTX (local models)
    threads = 1                               # MNEMOS_MODEL_THREADS (local models)
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnemos.exceptions import ConfigurationError

__all__ = [
    "ModelSettings",
    "config_value",
    "default_store_path",
    "load_config_file",
    "mnemos_home",
    "model_settings",
]

_ENV = {"store": "MNEMOS_STORE", "model": "MNEMOS_MODEL", "embedder": "MNEMOS_EMBEDDER"}
_DEFAULTS = {"model": "offline", "embedder": "hashing"}


def mnemos_home() -> Path:
    """The directory mnemos keeps its files in (not created here)."""
    return Path(os.environ.get("MNEMOS_HOME") or Path.home() / ".mnemos").expanduser()


def default_store_path() -> Path:
    """Where the native adapter's SQLite file lives unless told otherwise."""
    return mnemos_home() / "memory.db"


def load_config_file(path: Path | None = None) -> dict[str, Any]:
    """Read ``config.toml``; a missing file is an empty config, a broken one an error."""
    path = path or mnemos_home() / "config.toml"
    if not path.exists():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from None


def config_value(key: str, explicit: str | None = None) -> str | None:
    """Resolve one setting (``store``, ``model``, ``embedder``)."""
    if explicit:
        return explicit
    env = _ENV.get(key)
    if env and os.environ.get(env):
        return os.environ[env]
    value = load_config_file().get(key)
    if key == "model" and isinstance(value, dict):
        value = value.get("provider")
    if value is not None:
        if not isinstance(value, str):
            raise ConfigurationError(f"config.toml: {key!r} must be a string")
        return value
    return _DEFAULTS.get(key)


@dataclass(frozen=True, kw_only=True)
class ModelSettings:
    """How to build the chat model: the ``[model]`` table of ``config.toml`` and its variables.

    Every field is None when not set; each consumer applies its own default.
    """

    provider: str | None = None
    """A ``"provider:model"`` string (``MNEMOS_MODEL``)."""
    base_url: str | None = None
    """The server of an OpenAI-compatible or Ollama provider (``MNEMOS_MODEL_BASE_URL``)."""
    api_key_env: str | None = None
    """The name of the environment variable holding the API key (``MNEMOS_MODEL_API_KEY_ENV``)."""
    temperature: float | None = None
    max_tokens: int | None = None
    timeout: float | None = None
    n_ctx: int | None = None
    """Context size of a local model, in tokens."""
    threads: int | None = None
    """CPU threads of a local model."""


_MODEL_KEYS: dict[str, type] = {
    "base_url": str, "api_key_env": str, "temperature": float, "max_tokens": int,
    "timeout": float, "n_ctx": int, "threads": int,
}


def model_settings() -> ModelSettings:
    """The model settings: environment variables first, then ``config.toml``."""
    raw_model = load_config_file().get("model")
    if raw_model is not None and not isinstance(raw_model, (str, dict)):
        raise ConfigurationError("config.toml: 'model' is a 'provider:model' string or a [model] table")
    table: dict[str, Any] = raw_model if isinstance(raw_model, dict) else {}
    provider = os.environ.get("MNEMOS_MODEL") or (raw_model if isinstance(raw_model, str) else table.get("provider"))
    if provider is not None:
        provider = _typed(provider, str, "the model (MNEMOS_MODEL or config.toml)")
    unknown = sorted(set(table) - set(_MODEL_KEYS) - {"provider"})
    if unknown:
        raise ConfigurationError(
            f"config.toml: unknown key(s) in [model]: {', '.join(unknown)}; "
            f"known: provider, {', '.join(_MODEL_KEYS)}"
        )
    values: dict[str, Any] = {"provider": provider}
    for key, kind in _MODEL_KEYS.items():
        env = f"MNEMOS_MODEL_{key.upper()}"
        raw: Any = os.environ.get(env) or None
        where = env
        if raw is None:
            raw, where = table.get(key), f"config.toml [model] {key}"
        values[key] = None if raw is None else _typed(raw, kind, where)
    return ModelSettings(**values)


def _typed(raw: Any, kind: type, where: str) -> Any:
    if kind is str:
        if not isinstance(raw, str) or not raw.strip():
            raise ConfigurationError(f"{where} must be a non-empty string, not {raw!r}")
        return raw.strip()
    if isinstance(raw, bool):
        raise ConfigurationError(f"{where} must be a number, not {raw!r}")
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{where} must be a number, not {raw!r}") from None
    if kind is int and (value < 1 or (isinstance(raw, float) and not raw.is_integer())):
        raise ConfigurationError(f"{where} must be a positive integer, not {raw!r}")
    if kind is float and value < 0:
        raise ConfigurationError(f"{where} must not be negative, not {raw!r}")
    return value
