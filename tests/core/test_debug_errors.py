"""COMMSKIT_DEBUG=1 shows what led to an error (issue 12 item 6); without it, one line only.

The causes are the ``raise … from exc`` chain; ``details`` is the text an error carries beyond its
one line (a forked sending child's traceback, for one).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from commskit import Workspace

COMMSKIT = [sys.executable, "-c", "from commskit.cli import main; main(prog_name='commskit')"]


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMSKIT, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def corrupted(tmp_path: Path) -> Path:
    """A workspace whose state database is not a database (raised with `from exc`)."""
    ws = Workspace.init(tmp_path / "ws")
    ws.close()
    (ws.root / ".commskit" / "state.db").write_bytes(b"not a database, " * 256)
    return ws.root


def test_without_debug_an_error_is_one_line(
    corrupted: Path, subprocess_env: dict[str, str]
) -> None:
    proc = _run(["status"], corrupted, subprocess_env)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("Error: ")
    assert "state database is corrupted" in lines[0]
    assert "Traceback" not in proc.stderr
    assert "DatabaseError" not in proc.stderr


def test_debug_shows_the_chain_of_causes(corrupted: Path, subprocess_env: dict[str, str]) -> None:
    plain = _run(["status"], corrupted, subprocess_env)
    proc = _run(["status"], corrupted, {**subprocess_env, "COMMSKIT_DEBUG": "1"})
    assert proc.returncode == 1
    first, _, rest = proc.stderr.partition("\n")
    assert first == plain.stderr.strip()  # the same one line comes first
    assert "sqlite3.DatabaseError: file is not a database" in rest  # the cause
    assert "The above exception was the direct cause of the following exception" in rest
    assert "commskit.errors.StoreCorruptError" in rest


# a group with the CLI's own error handling, whose command fails as a forked sending child's
# error arrives: a CommskitError caused by another, carrying the child's traceback as `details`
_FAILING = """
import click
from commskit.cli import CommskitGroup
from commskit.errors import SendError

@click.group(cls=CommskitGroup)
def main():
    pass

@main.command()
def boom():
    try:
        raise ValueError("the transport's send raised")
    except ValueError as exc:
        error = SendError("a sending process failed: ValueError: the transport's send raised")
        error.details = 'Traceback of the child:\\n  File "child.py", line 7\\nValueError: deep'
        raise error from exc

main(prog_name="commskit")
"""


def _boom(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _FAILING, "boom"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_debug_shows_details_and_causes(subprocess_env: dict[str, str], tmp_path: Path) -> None:
    plain = _boom(subprocess_env, tmp_path)
    assert plain.returncode == 1
    assert plain.stderr == (
        "Error: a sending process failed: ValueError: the transport's send raised\n"
    )
    proc = _boom({**subprocess_env, "COMMSKIT_DEBUG": "1"}, tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.startswith(plain.stderr)
    assert "ValueError: the transport's send raised" in proc.stderr.removeprefix(plain.stderr)
    assert "direct cause" in proc.stderr
    assert (
        'Details of SendError:\nTraceback of the child:\n  File "child.py", line 7\n'
        "ValueError: deep" in proc.stderr
    )
