"""Helpers shared by the command modules: workspace access, output, progress."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

import click

# Start-up (issue 12): `commskit --help` imports click and the command modules only. rich and the
# Workspace (and through it the stages) are imported by the helpers that use them, when they run;
# tests/core/test_startup.py fails when a heavy module is imported at start-up again.
if TYPE_CHECKING:
    from rich.console import Console

    from ..workspace import Workspace

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class AppContext:
    """What the root group hands to every command."""

    workspace_dir: str | None = None
    config: str | None = None
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    _workspace: Workspace | None = None

    def workspace(self, **overrides: dict[str, Any]) -> Workspace:
        """Open the workspace once (flags given as overrides win over file and environment)."""
        if self._workspace is None:
            from ..workspace import Workspace

            merged = {k: dict(v) for k, v in self.overrides.items()}
            for section, values in overrides.items():
                merged.setdefault(section, {}).update(
                    {k: v for k, v in values.items() if v is not None}
                )
            self._workspace = Workspace.open(
                self.workspace_dir or ".", config=self.config, overrides=merged
            )
        return self._workspace

    def close(self) -> None:
        if self._workspace is not None:
            self._workspace.close()


pass_app = click.make_pass_decorator(AppContext)


# Terminal control sequences in data (feed titles, contact names, a server's reply) could retitle
# the terminal, hide or fake text: everything the CLI prints goes through printable() (issue 11).
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI … final byte
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"  # OSC, DCS…
    r"|\x1b[ -/]*[0-~]?"  # any other ESC sequence
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 but \t \n, DEL, C1
_JSON_CONTROL = re.compile(r"[\x7f-\x9f]")  # json.dumps escapes C0 itself


def printable(text: str) -> str:
    """Return ``text`` without terminal control sequences or control characters (keeps \\n, \\t)."""
    return _CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", text))


# Piped output (cron mail, `| less`, files) must not be wrapped at rich's default 80 columns,
# which would fold e-mail addresses and URLs in tables; tables still take only the width they need.
_PIPE_WIDTH = 1000


@cache
def console() -> Console:
    """Console for results (stdout); colour only on a terminal, NO_COLOR honoured."""
    from rich.console import Console

    width = None if sys.stdout.isatty() else _PIPE_WIDTH
    return Console(highlight=False, soft_wrap=True, width=width, emoji=False)


@cache
def error_console() -> Console:
    """Console for errors, warnings and progress (stderr)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def json_option(func: F) -> F:
    """Add `--json` to a listing or reporting command."""
    return click.option(
        "--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of a table."
    )(func)


class LazyHelpOption(click.Option):
    """An option whose help text is built when first shown, from ``help_text()``.

    For help naming values a stage module defines (the digest formats): importing that module
    when the command module loads would make every `commskit --help` pay for it.
    """

    def __init__(self, *args: Any, help_text: Callable[[], str], **kwargs: Any) -> None:
        self._help_text = help_text
        self._help: str | None = None
        super().__init__(*args, **kwargs)

    @property
    def help(self) -> str | None:
        if self._help is None:
            self._help = self._help_text()
        return self._help

    @help.setter
    def help(self, value: str | None) -> None:
        self._help = value


def print_json(data: Any) -> None:
    """Write JSON to stdout (UTF-8, not ASCII-escaped, stable key order as given)."""
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    # only inside strings (JSON's own syntax is ASCII): escaped, the data stays exactly as it is
    click.echo(_JSON_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


def print_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    title: str | None = None,
    justify: dict[str, str] | None = None,
) -> None:
    """Print rows as a table with the same look in every command."""
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=Text(printable(title)) if title is not None else None,
        title_justify="left",
        header_style="bold",
        box=None,
        pad_edge=False,
    )
    for name in columns:
        table.add_column(name, justify=(justify or {}).get(name, "left"), overflow="fold")  # type: ignore[arg-type]
    for row in rows:
        # cells are data (feed titles, names): never interpret them as rich markup
        table.add_row(*(Text("" if v is None else printable(str(v))) for v in row))
    console().print(table)


def echo(message: str = "") -> None:
    """Print a plain line of result text to stdout.

    A plain line needs no rich console (no markup, no wrapping): click writes it, so a command
    that only prints lines (``status`` with nothing sent, ``segment``) never loads rich.
    """
    click.echo(printable(message))


def note(message: str) -> None:
    """Print a side remark (stderr), so stdout stays clean for pipes."""
    click.echo(printable(message), err=True)


def print_text(text: str) -> None:
    """Write a document (a digest, a post, OPML) to stdout as it is, control sequences removed."""
    click.echo(printable(text), nl=False)


@contextmanager
def progress_bar(
    label: str, total: int | None = None, *, lines: bool = False
) -> Iterator[Callable[..., None]]:
    """Yield an ``advance(n=1, total=None, description=None)`` callback drawing a bar on stderr.

    Nothing is drawn when stderr is not a terminal (cron, pipes, CI), so logs stay clean; with
    ``lines``, a progress line is written there every few seconds instead (long sends, whose
    log must show they are alive).
    """
    if not sys.stderr.isatty() and lines:
        yield ProgressLines(label, total, note)
        return
    if not sys.stderr.isatty():

        def silent(n: int = 1, total: int | None = None, description: str | None = None) -> None:
            return None

        yield silent
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = [
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=error_console(), transient=True) as bar:
        task = bar.add_task(printable(label), total=total, rate="")

        def advance(n: int = 1, total: int | None = None, description: str | None = None) -> None:
            kwargs: dict[str, Any] = {}
            if total is not None:
                kwargs["total"] = total
            if description is not None:
                kwargs["description"] = printable(description)
            bar.update(task, advance=n, **kwargs)
            elapsed = bar.tasks[0].elapsed or 0.0
            done = bar.tasks[0].completed
            if elapsed > 0.5 and done:
                bar.update(task, rate=f"{done / elapsed:,.0f}/s")

        yield advance


def raw_option(func: F) -> F:
    """Add `--raw` to a command writing CSV: cells exactly as stored, no formula guard."""
    return click.option(
        "--raw",
        is_flag=True,
        help="Write CSV cells exactly as stored, without the ' that keeps spreadsheets from "
        "running cells starting with = + - @ as formulas.",
    )(func)


#: Seconds between two progress lines off a terminal (COMMSKIT_PROGRESS_INTERVAL overrides it).
PROGRESS_INTERVAL = 5.0


class ProgressLines:
    """A progress callback that writes ``label: done/total (rate/s)`` every few seconds.

    The first call and the last (``done == total``) always write a line; in between, one line
    per ``interval`` seconds at most, however many calls come.
    """

    def __init__(
        self,
        label: str,
        total: int | None,
        write: Callable[[str], None],
        *,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.total = total
        self.write = write
        self.interval = _progress_interval() if interval is None else interval
        self.clock = clock
        self.done = 0
        self.started = clock()
        self.last: float | None = None

    def __call__(
        self, n: int = 1, total: int | None = None, description: str | None = None
    ) -> None:
        if total is not None:
            self.total = total
        if description is not None:
            self.label = description
        self.done += n
        now = self.clock()
        finished = self.total is not None and self.done >= self.total and n > 0
        if self.last is not None and now - self.last < self.interval and not finished:
            return
        self.last = now
        elapsed = now - self.started
        rate = f", {self.done / elapsed:,.0f}/s" if elapsed > 0 and self.done else ""
        of = f"/{self.total}" if self.total is not None else ""
        self.write(f"{self.label}: {self.done}{of}{rate}")


def _progress_interval() -> float:
    try:
        return max(0.0, float(os.environ.get("COMMSKIT_PROGRESS_INTERVAL", PROGRESS_INTERVAL)))
    except ValueError:
        return PROGRESS_INTERVAL
