"""The layers of CONTRIBUTING.md hold: `lint-imports` (import-linter) checks pyproject's contracts.

The contracts live in ``[tool.importlinter]`` of pyproject.toml; imports under ``TYPE_CHECKING``
count. The back-edge test proves the check can fail: it adds a type-only import of the Workspace to
a stage in a copy of the package and expects lint-imports to name that very import.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"


def _lint_imports() -> str:
    found = Path(sys.executable).with_name("lint-imports")
    if found.is_file():
        return str(found)
    on_path = shutil.which("lint-imports")
    if on_path is None:
        pytest.fail("lint-imports is not installed: pip install -e '.[test]' (import-linter)")
    return on_path


def _run(
    project: Path, src: Path, *contracts: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run lint-imports with ``project``'s pyproject.toml against the package under ``src``."""
    argv = [_lint_imports(), "--no-cache", "--no-logo"]
    for contract in contracts:
        argv += ["--contract", contract]
    child_env = {**env, "PYTHONPATH": str(src)}
    return subprocess.run(
        argv, cwd=project, env=child_env, capture_output=True, text=True, timeout=240, check=False
    )


def test_foundation_imports_no_stage(subprocess_env: dict[str, str]) -> None:
    # config read the legal bases from audience and the `since` grammar from feeds (a back edge)
    result = _run(ROOT, SRC, "foundation", env=subprocess_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 1 kept, 0 broken." in result.stdout


def test_every_layers_contract_is_kept(subprocess_env: dict[str, str]) -> None:
    result = _run(ROOT, SRC, env=subprocess_env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_type_only_back_edge_fails_the_contract_and_is_named(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    project = tmp_path / "project"
    package = project / "src" / "commskit"
    shutil.copytree(SRC / "commskit", package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", project / "pyproject.toml")
    edge = "commskit.feeds.fetch -> commskit.workspace"

    before = _run(project, project / "src", "layers", env=subprocess_env)
    assert edge not in before.stdout, before.stdout

    stage = package / "feeds" / "fetch.py"
    text = stage.read_text(encoding="utf-8")
    back_edge = "    from ..workspace import Workspace"
    text += f"\nimport typing\n\nif typing.TYPE_CHECKING:\n{back_edge}\n"
    stage.write_text(text, encoding="utf-8")
    line = text.splitlines().index(back_edge) + 1

    after = _run(project, project / "src", "layers", env=subprocess_env)
    assert after.returncode != 0, after.stdout
    assert "BROKEN" in after.stdout
    # the report names the importing module, the imported one and the line of the import
    assert f"{edge} (l.{line})" in after.stdout, after.stdout


def _contracts() -> dict[str, dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    importlinter = config["tool"]["importlinter"]
    assert importlinter["exclude_type_checking_imports"] is False  # type-only imports count
    return {c["id"]: c for c in importlinter["contracts"]}


def _diagram(doc: Path) -> tuple[list[str], list[str]]:
    """Return the layers (top first) and the foundation modules drawn in ``doc``'s diagram."""
    text = doc.read_text(encoding="utf-8")
    block = re.search(r"```\n(commskit\.cli .*?)```", text, re.DOTALL)
    assert block, f"{doc.name} has no layer diagram"
    layers: list[str] = []
    foundation: list[str] = []
    for line in block.group(1).splitlines():
        left = re.split(r"\s{2,}", line.strip(), maxsplit=1)
        if line.startswith("commskit."):
            layers.append(left[0])
        elif line.startswith("foundation"):
            foundation += left[1].replace(",", " ").split()
        elif foundation and line.strip():
            foundation += line.replace(",", " ").split()
    return layers, foundation


@pytest.mark.parametrize("doc", ["CONTRIBUTING.md", "docs/concepts.md"])
def test_the_documented_layers_are_the_checked_ones(doc: str) -> None:
    contracts = _contracts()
    layers, foundation = _diagram(ROOT / doc)
    assert layers[:-1] == contracts["layers"]["layers"]
    assert layers[-1] == "commskit.store"
    assert contracts["store"]["source_modules"] == ["commskit.store"]
    sources = contracts["foundation"]["source_modules"]
    assert [f"commskit.{name}" for name in foundation] == sources


def test_the_changelog_has_an_unreleased_section() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    sections = re.findall(r"^## (.+)$", text, re.MULTILINE)
    assert sections[0] == "[Unreleased]"
    assert len(sections) >= 2
