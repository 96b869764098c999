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
require a user          ``MNEMOS_REQUIRE_USER``  off: a run with no user is user ``default``
======================  ====================  ==================================

``config.toml`` takes the same settings as top-level keys: ``store``,
``model``, ``embedder``, ``require_user`` (a boolean).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from mnemos.exceptions import ConfigurationError

__all__ = [
    "REQUIRE_USER_ENV",
    "config_value",
    "default_store_path",
    "load_config_file",
    "mnemos_home",
    "require_user",
]

_ENV = {"store": "MNEMOS_STORE", "model": "MNEMOS_MODEL", "embedder": "MNEMOS_EMBEDDER"}
_DEFAULTS = {"model": "offline", "embedder": "hashing"}

REQUIRE_USER_ENV = "MNEMOS_REQUIRE_USER"
"""Set to 1/true/yes/on in multi-user deployments: a run that names no user is refused."""
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


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


def require_user() -> bool:
    """Whether every run must name its user (``MNEMOS_REQUIRE_USER``, else ``require_user`` in config.toml)."""
    raw: object = os.environ.get(REQUIRE_USER_ENV)
    where = REQUIRE_USER_ENV
    if raw is None:
        raw = load_config_file().get("require_user", False)
        where = "config.toml: require_user"
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigurationError(f"{where} is a boolean (1/0, true/false), got {raw!r}")
