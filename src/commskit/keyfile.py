"""The workspace secret: the key that signs unsubscribe tokens and hashes erased addresses.

It comes from ``COMMSKIT_SECRET`` when set, else from ``.commskit/secret`` (created by
``commskit init``, never committed: ``.commskit/`` is git-ignored). Losing it invalidates every
unsubscribe link already sent and makes the erased-address list unusable for matching; back it up
with the state database.
"""

from __future__ import annotations

import os
import secrets as _secrets
from pathlib import Path

from .errors import SecretError
from .filemodes import private_dir

SECRET_ENV = "COMMSKIT_SECRET"  # noqa: S105 (the variable's name, not a secret)
SECRET_FILE = "secret"  # noqa: S105 (a file name)
_MIN_BYTES = 16


def create_secret_file(state_dir: Path) -> Path:
    """Write a new random secret to ``state_dir/secret`` (mode 0600) unless one exists."""
    private_dir(state_dir)
    path = state_dir / SECRET_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(_secrets.token_urlsafe(32) + "\n")
    return path


def load_secret(state_dir: Path, environ: dict[str, str] | None = None) -> bytes:
    """Return the workspace secret as bytes, from the environment or the secret file."""
    env = os.environ if environ is None else environ
    value = env.get(SECRET_ENV)
    source = SECRET_ENV
    if not value:
        path = state_dir / SECRET_FILE
        if not path.exists():
            # A workspace cloned from git has no secret yet: make one rather than fail, since
            # nothing has been signed with another key in this copy.
            create_secret_file(state_dir)
        try:
            value = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretError(
                f"cannot read the workspace secret: {exc}",
                path=path,
                hint=f"Restore it from your backup or set {SECRET_ENV}",
            ) from exc
        source = str(path)
    if len(value.encode()) < _MIN_BYTES:
        raise SecretError(
            f"the workspace secret from {source} is shorter than {_MIN_BYTES} bytes",
            hint="Use a long random value, e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`",
        )
    return value.encode()
