"""The commskit command line: a thin skin over :class:`commskit.Workspace`.

Nothing outside this package imports click. Each module registers one group of commands; this one
only builds the root group and turns library errors into one-line messages and exit statuses
(0 success, 1 a failure the user must act on, 2 usage error).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click
from rich.markup import escape

from ..errors import CommskitError
from . import audience, compose, feeds, send, workspace
from ._common import AppContext, error_console, printable


class CommskitGroup(click.Group):
    """Root group: maps CommskitError to `Error: …` + exit 1, and hides tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CommskitError as exc:
            # the message is data (file names, feed titles): escape it so [brackets] survive
            error_console().print(
                f"[bold red]Error:[/] {escape(printable(str(exc)))}", highlight=False
            )
            details = getattr(exc, "details", "")  # e.g. a forked sending process's traceback
            if details and os.environ.get("COMMSKIT_DEBUG"):
                error_console().print(escape(details), highlight=False)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            error_console().print(
                "Interrupted. Nothing half-done was kept; re-run the same command to go on."
            )
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:
            # a fault of the state database met while reading rows (a damaged page) still gets
            # its one line, like the ones the store names itself
            known = _store_fault(ctx, exc)
            if known is not None:
                error_console().print(f"[bold red]Error:[/] {escape(str(known))}", highlight=False)
                sys.exit(known.exit_code)
            if os.environ.get("COMMSKIT_DEBUG"):
                raise
            detail = escape(printable(str(exc)))
            error_console().print(
                f"[bold red]Internal error:[/] {type(exc).__name__}: {detail}. "
                "This is a bug in commskit; run again with COMMSKIT_DEBUG=1 for the traceback "
                "and report it.",
                highlight=False,
            )
            sys.exit(1)


def _store_fault(ctx: click.Context, exc: Exception) -> CommskitError | None:
    workspace = getattr(ctx.obj, "_workspace", None)
    store = None if workspace is None else workspace.__dict__.get("store")
    return None if store is None else store.describe_error(exc)


@click.group(cls=CommskitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-C",
    "--workspace",
    "workspace_dir",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    help="Run in this workspace folder (default: the one containing the current folder).",
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=str),
    default=None,
    envvar="COMMSKIT_CONFIG",
    help="Use this settings file instead of the workspace's commskit.toml.",
)
@click.version_option(package_name="commskit")
@click.pass_context
def main(ctx: click.Context, workspace_dir: str | None, config: str | None) -> None:
    """Veille digests, newsletters and safe campaign sends for small public-service teams.

    Start with `commskit demo` to see the whole pipeline on sample data, or
    `commskit init DIR` to create a workspace.
    """
    ctx.obj = AppContext(workspace_dir=workspace_dir, config=config)
    ctx.call_on_close(ctx.obj.close)


for _module in (workspace, feeds, compose, audience, send):
    _module.register(main)
