"""Helpers for the audience tests: files written like real spreadsheet exports, CLI runs."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from commskit import Workspace
from commskit.cli import main

WriteExport = Callable[..., Path]
RunCli = Callable[..., Result]


def export_bytes(
    rows: Sequence[Sequence[str]],
    *,
    delimiter: str = ";",
    encoding: str = "utf-8",
    bom: bool = False,
) -> bytes:
    """Return CSV bytes as a spreadsheet writes them (CRLF line ends, quoted when needed)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerows(rows)
    data = buffer.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


@pytest.fixture
def write_export(tmp_path: Path) -> WriteExport:
    """Write rows to a file in tmp_path and return its path (see export_bytes for options)."""

    def write(name: str, rows: Sequence[Sequence[str]], **options: object) -> Path:
        path = tmp_path / name
        path.write_bytes(export_bytes(rows, **options))  # type: ignore[arg-type]
        return path

    return write


@pytest.fixture
def run_cli(ws: Workspace) -> RunCli:
    """Run `commskit -C <ws> ARGS…` in-process; return click's Result (stdout and stderr)."""

    def run(*args: str, input: str | None = None) -> Result:
        # a fresh workspace object per command, as a real invocation would have
        ws.close()
        return CliRunner().invoke(main, ["-C", str(ws.root), *args], input=input)

    return run


@pytest.fixture
def rows_in(ws: Workspace) -> Callable[[str], int]:
    """Count the rows of a table through a separate SQLite connection (what is really stored)."""

    def count(table: str) -> int:
        ws.store  # noqa: B018 (make sure the database exists and is migrated)
        conn = sqlite3.connect(ws.state_dir / "state.db")
        try:
            return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608
        finally:
            conn.close()

    return count
