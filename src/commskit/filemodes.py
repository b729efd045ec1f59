"""Create files and folders that hold personal data or keys as their owner's only.

State database, secret, outbox and exports are created 0600 (files) and 0700 (folders) whatever
the umask: a shared server's default umask (022, or 000 in some containers) would make them
readable by every account. The mode is given at creation (``os.open``/``mkdir``), so there is no
moment when the file is more open; the umask can only narrow it further.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, TextIO, cast

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: Path) -> Path:
    """Create the folder ``path`` as 0700 unless it exists (its missing parents as usual)."""
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=PRIVATE_DIR, exist_ok=True)
    return path


def create_private_file(path: Path) -> None:
    """Create ``path`` empty as 0600 unless it exists (an existing file keeps its mode)."""
    if path.exists():  # never open an existing file for writing: it may be on a read-only disk
        return
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))


def open_private(
    path: str | os.PathLike[str], *, encoding: str = "utf-8", newline: str | None = None
) -> TextIO:
    """Open ``path`` for writing text (truncated), creating it as 0600; like ``open(path, "w")``."""
    return cast(TextIO, os.fdopen(_create(path), "w", encoding=encoding, newline=newline))


def open_private_binary(path: str | os.PathLike[str]) -> BinaryIO:
    """Open ``path`` for writing bytes (truncated), creating it as 0600 (``open(path, "wb")``)."""
    return cast(BinaryIO, os.fdopen(_create(path), "wb"))


def _create(path: str | os.PathLike[str]) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
