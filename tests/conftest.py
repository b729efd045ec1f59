"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from commskit import Workspace

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
CORPUS = ROOT.parent / "shared" / "corpus"
#: ``COMMSKIT_TEST_NOW=2027-06-01T09:00:00+02:00 pytest tests/events tests/demo`` runs the tests
#: as on another day: commskit's clock is pinned there unless a test pins it itself
TEST_NOW = os.environ.get("COMMSKIT_TEST_NOW", "").strip()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's COMMSKIT_* variables out of every test (COMMSKIT_TEST_NOW aside)."""
    for var in list(os.environ):
        if var.startswith("COMMSKIT_"):
            monkeypatch.delenv(var)
    if TEST_NOW:
        monkeypatch.setenv("COMMSKIT_NOW", TEST_NOW)


def _set_list_setting(config: Path, list_name: str, key: str, value: str | None) -> None:
    """Set ``key = value`` (TOML text; None removes the key) in ``[lists.<list_name>]`` of a
    commskit.toml, editing the table in place when the file has it: TOML refuses a table
    defined twice, and the shipped file already has the shipped lists' tables."""
    lines = config.read_text(encoding="utf-8").splitlines()
    header = f"[lists.{list_name}]"
    if header not in (line.strip() for line in lines):
        lines += ["", header]
    start = next(i for i, line in enumerate(lines) if line.strip() == header) + 1
    end = next(
        (i for i in range(start, len(lines)) if lines[i].lstrip().startswith("[")), len(lines)
    )
    body = [line for line in lines[start:end] if line.split("=", 1)[0].strip() != key]
    if value is not None:
        body.insert(0, f"{key} = {value}")
    config.write_text("\n".join([*lines[:start], *body, *lines[end:]]) + "\n", encoding="utf-8")


@pytest.fixture
def set_list_setting() -> Callable[[Path, str, str, str | None], None]:
    """Return the ``[lists.<name>]`` editor of a commskit.toml (see :func:`_set_list_setting`)."""
    return _set_list_setting


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
    if TEST_NOW:
        env["COMMSKIT_NOW"] = TEST_NOW
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH", "")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def python() -> str:
    return sys.executable
