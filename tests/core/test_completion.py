"""Shell completion, as docs/getting-started.md documents it (issue 10 item 9), works: the
environment variable prints a script bash accepts, and completing a command name answers."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# what the `commskit` console script runs
COMMSKIT = [sys.executable, "-c", "from commskit.cli import main; main(prog_name='commskit')"]


def completion(env: dict[str, str], **extra: str) -> str:
    proc = subprocess.run(
        COMMSKIT,
        capture_output=True,
        text=True,
        env={**env, **extra},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_bash_source_gives_a_script_bash_accepts(subprocess_env: dict[str, str]) -> None:
    script = completion(subprocess_env, _COMMSKIT_COMPLETE="bash_source")
    assert "_commskit_completion()" in script
    assert "complete -o nosort -F _commskit_completion commskit" in script
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash on this machine")
    proc = subprocess.run(
        [bash, "-c", script + "\ncomplete -p commskit"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "_commskit_completion" in proc.stdout


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_other_shells_get_a_script(shell: str, subprocess_env: dict[str, str]) -> None:
    assert "commskit" in completion(subprocess_env, _COMMSKIT_COMPLETE=f"{shell}_source")


def test_completing_a_command_name(subprocess_env: dict[str, str]) -> None:
    out = completion(
        subprocess_env,
        _COMMSKIT_COMPLETE="bash_complete",
        COMP_WORDS="commskit bou",
        COMP_CWORD="1",
    )
    assert out.split() == ["plain,bounces"]


def test_the_docs_say_how() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "getting-started.md").read_text(encoding="utf-8")
    for shell in ("bash", "zsh", "fish"):
        assert f"_COMMSKIT_COMPLETE={shell}_source commskit" in docs
