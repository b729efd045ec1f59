"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from commskit import Workspace

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
CORPUS = ROOT.parent / "shared" / "corpus"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's COMMSKIT_* variables out of every test."""
    for var in list(os.environ):
        if var.startswith("COMMSKIT_"):
            monkeypatch.delenv(var)


@pytest.fixture
def corpus() -> Path:
    """The shared real-world corpus (../shared/corpus), or a skip when it is absent."""
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS} (it exists in CI)")
    return CORPUS


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    """A fresh workspace initialised from the shipped examples in a temporary folder."""
    workspace = Workspace.init(tmp_path / "ws")
    yield workspace
    workspace.close()


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for running `python -m commskit` in a subprocess against this checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMSKIT_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH", "")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def python() -> str:
    return sys.executable
