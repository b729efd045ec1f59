"""Wrong input as a new user types it: one clear line, the right exit status, nothing changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from commskit import Workspace
from commskit.cli import main


@pytest.fixture
def root(tmp_path: Path) -> Path:
    Workspace.init(tmp_path / "ws").close()
    return tmp_path / "ws"


@pytest.mark.parametrize(
    ("args", "status", "expected"),
    [
        (["fetch", "--concurrency", "0"], 1, "concurrency must be greater than 0"),
        (["feeds", "add", "notaurl"], 1, "neither a web address nor an existing file"),
        (["digest", "--format", "pdf"], 1, "Use one of: markdown"),
        (["digest", "--since", "yesterday"], 1, "cannot understand --since"),
        (["render", "nope"], 1, "Known campaigns: 2026-11-infolettre"),
        (["send", "2026-11-infolettre"], 1, "selects nobody"),
        (["segment", "kind = "], 1, "column 8"),
        (["contacts", "import", "nothere.csv"], 1, "cannot read the file"),
        (["status", "nope"], 1, "has never been sent"),
    ],
)
def test_one_line_error(root: Path, args: list[str], status: int, expected: str) -> None:
    config_before = (root / "commskit.toml").read_bytes()
    lists_before = (root / "feeds" / "veille.toml").read_bytes()
    result = CliRunner().invoke(main, ["-C", str(root), *args])
    assert result.exit_code == status, result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    if status == 1:
        assert result.output.count("\n") == 1, result.output
    assert (root / "commskit.toml").read_bytes() == config_before
    assert (root / "feeds" / "veille.toml").read_bytes() == lists_before


def test_readme_is_not_a_campaign(root: Path) -> None:
    result = CliRunner().invoke(main, ["-C", str(root), "send", "README", "--dry-run"])
    assert result.exit_code == 1
    assert "campaign 'README' not found" in result.output
    assert "README" not in result.output.split("Known")[-1]
