"""Files mnemos creates are private: 0600 files in 0700 directories.

Stores, their write-ahead logs, exports and checkpoint databases hold what users
told their agents; nobody else on the machine should read them. Existing files and
directories keep the permissions they have.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DIR_MODE", "FILE_MODE", "make_private_dirs", "open_private"]

FILE_MODE = 0o600
DIR_MODE = 0o700


def make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and missing parents, each 0700 (umask notwithstanding)."""
    missing = []
    current = directory
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(path, DIR_MODE)


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_TRUNC) -> int:
    """``os.open`` creating the file 0600 (the umask can only remove bits; an existing
    file keeps its mode)."""
    return os.open(path, flags, FILE_MODE)
