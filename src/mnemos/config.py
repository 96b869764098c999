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
``model``, ``embedder``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from mnemos.exceptions import ConfigurationError

__all__ = ["config_value", "default_store_path", "load_config_file", "mnemos_home"]

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
    if value is not None:
        if not isinstance(value, str):
            raise ConfigurationError(f"config.toml: {key!r} must be a string")
        return value
    return _DEFAULTS.get(key)
