from __future__ import annotations

import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from commskit import Workspace
from commskit.cli import main


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, cmd in group.commands.items():
        found.append((f"{prefix}{name}", cmd))
        if isinstance(cmd, click.Group):
            found.extend(_commands(cmd, f"{prefix}{name} "))
    return found


def test_every_command_has_help() -> None:
    runner = CliRunner()
    for name, cmd in _commands(main):
        assert cmd.help, f"`commskit {name}` has no help text"
        result = runner.invoke(main, [*name.split(), "--help"])
        assert result.exit_code == 0, (name, result.output)


def test_init_then_error_is_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["init", str(tmp_path / "w")])
    assert result.exit_code == 0, result.output
    again = runner.invoke(main, ["init", str(tmp_path / "w")])
    assert again.exit_code == 1
    assert again.output.count("\n") == 1
    assert "Traceback" not in again.output
    assert "already a commskit workspace" in again.output


def test_broken_config_is_one_line_error(
    tmp_path: Path, subprocess_env: dict[str, str], python: str
) -> None:
    (tmp_path / "commskit.toml").write_text("[feeds\n", encoding="utf-8")
    proc = subprocess.run(
        [python, "-m", "commskit", "-C", str(tmp_path), "init", "--force", str(tmp_path)],
        capture_output=True,
        text=True,
        env=subprocess_env,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "commskit.toml:1: invalid TOML" in proc.stderr


def test_brackets_in_errors_and_tables_survive(tmp_path: Path) -> None:
    from commskit.cli._common import print_table

    runner = CliRunner()
    result = runner.invoke(main, ["-C", str(tmp_path / "[nowhere]"), "feeds", "list"])
    assert result.exit_code == 1
    assert "[nowhere]" in result.output

    @click.command()
    def show() -> None:
        print_table(["title"], [["[/b] crash? [bold]no[/bold]"]])

    out = runner.invoke(show, [])
    assert out.exit_code == 0, out.output
    assert "[/b] crash? [bold]no[/bold]" in out.output


@pytest.mark.parametrize(
    "args",
    [["events", "list"], ["events", "show", "webinaire-tableau-de-bord", "--csv"], ["status"]],
)
def test_a_closed_pipe_is_no_internal_error(
    tmp_path: Path, python: str, subprocess_env: dict[str, str], args: list[str]
) -> None:
    """`commskit events show NAME --csv | head`: the reader closed the pipe, which is not a bug
    in commskit (it said "Internal error: BrokenPipeError ... report it")."""
    Workspace.init(tmp_path / "ws").close()
    proc = subprocess.Popen(
        [python, "-m", "commskit", "-C", str(tmp_path / "ws"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=subprocess_env,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.close()  # no reader left: the first write meets EPIPE
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 1, err  # as click exits on a closed pipe: silently, 1
    assert err == ""
