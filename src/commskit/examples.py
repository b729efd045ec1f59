"""Where the shipped examples (workspace files, templates, sample feeds) live.

In a wheel they are package data under ``commskit/_examples``; in a source checkout (including an
editable install) they are the repository root, which is itself a workspace.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from .errors import CommskitError

EXAMPLE_DIRS = ("feeds", "templates", "campaigns", "contacts", "events", "sequences")


@cache
def examples_root() -> Path:
    """Return the folder holding the shipped ``commskit.toml``, feeds, templates, campaigns."""
    here = Path(__file__).resolve().parent
    packaged = here / "_examples"
    if (packaged / "commskit.toml").is_file():
        return packaged
    checkout = here.parent.parent
    if (checkout / "commskit.toml").is_file() and (checkout / "templates").is_dir():
        return checkout
    raise CommskitError(
        "the shipped examples are missing from this installation",
        hint="Reinstall commskit (pip install --force-reinstall commskit)",
    )


def shipped_templates() -> Path:
    """Return the folder of the built-in templates (a workspace's own override them by name)."""
    return examples_root() / "templates"


# Names reserved for documentation and tests (RFC 2606, RFC 6761): no one's real mailbox.
_RESERVED_TLDS = frozenset({"example", "invalid", "test", "localhost"})


def is_example_address(address: str) -> bool:
    """Return whether an address is a placeholder like the shipped sender's, not a real one.

    True when its domain has an ``example`` label (``covoiturage.example.gouv.fr``,
    ``example.org``) or ends in a reserved top-level name (``.test``, ``.invalid``, ...).
    """
    domain = address.rpartition("@")[2].strip().rstrip(">").lower().rstrip(".")
    labels = domain.split(".")
    return "example" in labels or labels[-1] in _RESERVED_TLDS
