"""The docs stay true: every command is documented, and the runnable examples run.

A ``sh`` or ``python`` code block preceded by the line ``<!-- runnable -->`` in README.md or
docs/*.md is executed (bash with ``set -euo pipefail``, or this Python) in a fresh temporary
folder, with ``commskit`` on PATH running this checkout. Blocks run in order per file and share
that file's folder, so a later block can use what an earlier one made.
"""

from __future__ import annotations

import importlib.util
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import click
import pytest

from commskit.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"<!-- runnable -->\s*\n```(sh|bash|python)\n(.*?)```", re.S)


def _commands(group: click.Group, prefix: str = "commskit") -> list[tuple[str, click.Command]]:
    found = []
    for name, cmd in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        found.append((path, cmd))
        if isinstance(cmd, click.Group):
            found.extend(_commands(cmd, path))
    return found


def test_every_command_has_help_and_a_section_in_the_reference() -> None:
    reference = (ROOT / "docs" / "commands.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^#{2,4} `(commskit[^`]*)`", reference, re.M))
    missing_help = [path for path, cmd in _commands(main) if not (cmd.help or "").strip()]
    assert not missing_help, f"commands without help: {missing_help}"
    undocumented = [path for path, _ in _commands(main) if path not in headings]
    assert not undocumented, f"commands missing from docs/commands.md: {undocumented}"
    stale = sorted(headings - {path for path, _ in _commands(main)} - {"commskit"})
    assert not stale, f"docs/commands.md documents commands that do not exist: {stale}"


def test_command_reference_is_current() -> None:
    spec = importlib.util.spec_from_file_location(
        "gen_commands_doc", ROOT / "scripts" / "gen_commands_doc.py"
    )
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    current = (ROOT / "docs" / "commands.md").read_text(encoding="utf-8")
    assert current == module.render(), (
        "docs/commands.md is stale: run python scripts/gen_commands_doc.py"
    )


def test_every_option_is_mentioned_in_the_reference() -> None:
    reference = (ROOT / "docs" / "commands.md").read_text(encoding="utf-8")
    sections = re.split(r"^#{2,4} `(commskit[^`]*)`", reference, flags=re.M)
    text_of = {sections[i]: sections[i + 1] for i in range(1, len(sections) - 1, 2)}
    missing = []
    for path, cmd in _commands(main):
        for param in cmd.params:
            if not isinstance(param, click.Option) or param.hidden:
                continue
            longest = max(param.opts, key=len)
            if longest in {"--help"}:
                continue
            if longest not in text_of.get(path, ""):
                missing.append(f"{path} {longest}")
    assert not missing, f"options missing from docs/commands.md: {missing}"


def test_docs_link_to_existing_files() -> None:
    broken = []
    for doc in DOC_FILES:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(ROOT)} -> {target}")
    assert not broken, broken


def _blocks() -> list[tuple[Path, list[tuple[str, str]]]]:
    found = []
    for doc in DOC_FILES:
        blocks = _BLOCK.findall(doc.read_text(encoding="utf-8"))
        if blocks:
            found.append((doc, blocks))
    return found


def test_there_are_runnable_examples() -> None:
    count = sum(len(blocks) for _, blocks in _blocks())
    assert count >= 5, f"only {count} runnable blocks: the docs test would prove little"


@pytest.mark.parametrize(
    ("doc", "blocks"), _blocks(), ids=[str(d.relative_to(ROOT)) for d, _ in _blocks()]
)
def test_runnable_blocks_run(doc: Path, blocks: list[tuple[str, str]], tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "commskit"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m commskit "$@"\n', encoding="utf-8")
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMSKIT_")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT / "src")
    work = tmp_path / "work"
    work.mkdir()
    for number, (language, block) in enumerate(blocks, 1):
        if language == "python":
            argv = [sys.executable, "-c", block]
        else:
            argv = ["bash", "-c", "set -euo pipefail\n" + block]
        proc = subprocess.run(
            argv,
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert proc.returncode == 0, (
            f"{doc.name} runnable block {number} failed ({proc.returncode}):\n{block}\n"
            f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
        )
