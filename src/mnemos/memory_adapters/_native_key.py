"""Keys of encrypted native stores: from an argument, a key file or an environment variable.

A key is 32 raw bytes, 64 hex digits, or a passphrase. A passphrase is stretched
once per process (PBKDF2-HMAC-SHA256, 200,000 rounds) into a raw key, which
SQLCipher then uses as is: opening a store costs no key derivation each time.
"""

from __future__ import annotations

import functools
import hashlib
import os
import string
from pathlib import Path

from mnemos.exceptions import ConfigurationError

__all__ = ["KEY_ENV", "resolve_key"]

KEY_ENV = "MNEMOS_STORE_KEY"
"""The environment variable holding the key when none is given otherwise."""
_SALT = b"mnemos native store key v1"
_ROUNDS = 200_000


@functools.lru_cache(maxsize=8)
def _stretch(passphrase: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", passphrase, _SALT, _ROUNDS)


def _raw(value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        if len(value) == 32:
            return value
        value = value.decode("utf-8", errors="strict")
    text = value.strip()
    if not text:
        raise ConfigurationError("an encryption key is empty")
    if len(text) == 64 and all(c in string.hexdigits for c in text):
        return bytes.fromhex(text)
    return _stretch(text.encode("utf-8"))


def resolve_key(
    key: str | bytes | None = None, *, key_file: str | Path | None = None, key_env: str | None = None
) -> bytes | None:
    """The raw 32-byte key, or None for a store that is not encrypted.

    Tried in order: ``key``, the file ``key_file``, the variable ``key_env``, then
    ``MNEMOS_STORE_KEY`` if set.
    """
    given = [k for k in (key, key_file, key_env) if k is not None]
    if len(given) > 1:
        raise ConfigurationError("give the encryption key one way: key, key_file or key_env")
    if key is not None:
        if not isinstance(key, (str, bytes)):
            raise ConfigurationError(f"an encryption key is text or bytes, not {type(key).__name__}")
        return _raw(key)
    if key_file is not None:
        try:
            return _raw(Path(key_file).expanduser().read_bytes())
        except OSError as exc:
            raise ConfigurationError(f"cannot read the key file {key_file}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ConfigurationError(f"the key file {key_file} holds neither 32 raw bytes nor text") from None
    if key_env is not None:
        value = os.environ.get(key_env)
        if not value:
            raise ConfigurationError(f"the environment variable {key_env} holding the store's key is not set")
        return _raw(value)
    value = os.environ.get(KEY_ENV)
    return _raw(value) if value else None
