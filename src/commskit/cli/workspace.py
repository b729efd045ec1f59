"""`commskit init` and `commskit demo`."""

from __future__ import annotations

from pathlib import Path

import click

from ..workspace import Workspace
from ._common import echo


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Add missing example files to an existing workspace.")
def init(directory: Path, force: bool) -> None:
    """Create a workspace in DIRECTORY (default: here) from the shipped examples.

    Writes commskit.toml, feeds/, templates/, campaigns/ and contacts/ with working French
    examples, a .gitignore, and a random secret in .commskit/secret (never commit it; back it up).
    Existing files are never overwritten.
    """
    ws = Workspace.init(directory, force=force)
    echo(f"Created a commskit workspace in {ws.root}")
    echo(
        "Next: edit commskit.toml (sender, feeds), then run `commskit fetch` and `commskit digest`."
    )


def register(main: click.Group) -> None:
    """Attach this module's commands to the root group."""
    main.add_command(init)
