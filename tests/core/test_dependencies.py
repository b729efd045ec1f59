"""Installing commskit installs what it runs, not the tools that test or measure it."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]

# test runners and benchmark peers: never needed to run commskit
NOT_AT_RUNTIME = {"pytest", "pytest-timeout", "premailer", "mailmerge", "aiosmtpd", "hypothesis"}


def _names(requirements: list[str]) -> set[str]:
    return {Requirement(r).name.lower() for r in requirements}


def test_runtime_dependencies_hold_no_test_or_bench_tool() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = _names(project["dependencies"])
    assert runtime.isdisjoint(NOT_AT_RUNTIME), runtime & NOT_AT_RUNTIME
    extras = project["optional-dependencies"]
    assert "pytest" in _names(extras["test"])
    # premailer is the peer css-inline is measured against: where the benchmark runs
    assert "premailer" in _names(extras["bench"])
    assert "premailer" in _names(extras["test"])  # the render bench's smoke test runs it


def test_the_library_never_imports_a_test_or_bench_tool() -> None:
    offenders = []
    for path in sorted((ROOT / "src" / "commskit").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            words = line.split()
            if len(words) >= 2 and words[0] in ("import", "from"):
                top = words[1].split(".")[0]
                if top in {"pytest", "premailer", "mailmerge", "aiosmtpd", "hypothesis"}:
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, offenders
