"""The commskit command line: a thin skin over :class:`commskit.Workspace`.

Nothing outside this package imports click. Each module registers one group of commands; this one
only builds the root group and turns library errors into one-line messages and exit statuses
(0 success, 1 a failure the user must act on, 2 usage error).
"""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

import click

from ..errors import CommskitError

# Each command module imports only click and ._common at its top, and its stage modules inside
# the command functions: `commskit --help` (which reads every command's help) stays cheap.
from . import audience, compose, dkim, doctor, feeds, inbox, run, send, signup, workspace
from . import events as events_commands
from ._common import AppContext, error_console, printable

#: Set (to any non-empty value) to see the traceback and the causes behind a one-line error.
DEBUG_ENV = "COMMSKIT_DEBUG"


def debug_enabled() -> bool:
    """Say whether COMMSKIT_DEBUG asks for tracebacks and causes."""
    return bool(os.environ.get(DEBUG_ENV))


class CommskitGroup(click.Group):
    """Root group: maps CommskitError to `Error: …` + exit 1, and hides tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CommskitError as exc:
            _fail(exc, exc)
        except KeyboardInterrupt:
            error_console().print(
                "Interrupted. Nothing half-done was kept; re-run the same command to go on."
            )
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except BrokenPipeError:
            # `commskit events show NAME --csv | head` closed the pipe: not a bug, nothing to
            # say; exit 1 silently as click does for the same, stdout on /dev/null so the exit's
            # flush cannot fail again
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(1)
        except Exception as exc:
            # a fault of the state database met while reading rows (a damaged page) still gets
            # its one line, like the ones the store names itself
            known = _store_fault(ctx, exc)
            if known is not None:
                _fail(known, exc)
            if debug_enabled():
                raise
            from rich.markup import escape

            detail = escape(printable(str(exc)))
            error_console().print(
                f"[bold red]Internal error:[/] {type(exc).__name__}: {detail}. "
                "This is a bug in commskit; run again with COMMSKIT_DEBUG=1 for the traceback "
                "and report it.",
                highlight=False,
            )
            sys.exit(1)


def _fail(error: CommskitError, raised: BaseException) -> NoReturn:
    """Print ``error`` as one line (with COMMSKIT_DEBUG, then what led to it) and exit."""
    from rich.markup import escape

    # the message is data (file names, feed titles): escape it so [brackets] survive
    error_console().print(f"[bold red]Error:[/] {escape(printable(str(error)))}", highlight=False)
    if debug_enabled():
        error_console().print(printable(debug_report(raised)), markup=False, highlight=False)
    sys.exit(error.exit_code)


def debug_report(exc: BaseException) -> str:
    """Return the traceback of ``exc`` with its chain of causes, then each ``details`` text.

    ``details`` is what an error carries beyond its one line, e.g. the traceback of the forked
    sending process that failed; it is shown for every error of the chain that has one.
    """
    import traceback

    parts = ["".join(traceback.format_exception(exc)).rstrip()]
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        # the contract with raisers: an optional `details` text attribute (not every exception
        # of the chain is a CommskitError, so it is looked up, not assumed)
        details = getattr(current, "details", None)
        if details:
            parts.append(f"Details of {type(current).__name__}:\n{str(details).rstrip()}")
        current = current.__cause__ or current.__context__
    return "\n\n".join(parts) + "\n"


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


for _module in (
    workspace,
    feeds,
    compose,
    audience,
    send,
    inbox,
    run,
    dkim,
    doctor,
    events_commands,
    signup,
):
    _module.register(main)
