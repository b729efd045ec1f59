"""Commands of the audience stage."""

from __future__ import annotations

import click


def register(main: click.Group) -> None:
    """Attach this module's commands to the root group."""
