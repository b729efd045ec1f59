"""Stages never look up: no module of send/, audience/ or store/ imports the workspace or app.

Every import statement counts, lazy ones inside functions and ``if TYPE_CHECKING:`` ones too
(issue 12 item 1): a stage takes what it uses as parameters.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "commskit"
STAGES = ("send", "audience", "store")
FORBIDDEN = ("commskit.workspace", "commskit.app")


def _imported(path: Path, root: Path = SRC) -> set[str]:
    """Return the absolute names every import statement of ``path`` (under ``root``) brings in."""
    package = ".".join(("commskit", *path.relative_to(root).parent.parts))
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _back_edges(path: Path, root: Path = SRC) -> list[str]:
    return sorted(
        name
        for name in _imported(path, root)
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)
    )


@pytest.mark.parametrize("stage", STAGES)
def test_stage_modules_never_import_workspace_or_app(stage: str) -> None:
    found = {
        str(path.relative_to(SRC)): edges
        for path in sorted((SRC / stage).rglob("*.py"))
        if (edges := _back_edges(path))
    }
    assert found == {}


def test_the_scan_sees_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    # the check itself must be able to fail: a stage module with each kind of back edge
    (tmp_path / "send").mkdir()
    module = tmp_path / "send" / "probe.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ..workspace import Workspace\n"
        "def f():\n    from ..app import sending\n    import commskit.app.audience\n",
        encoding="utf-8",
    )
    assert _back_edges(module, tmp_path) == [
        "commskit.app",
        "commskit.app.audience",
        "commskit.app.sending",
        "commskit.workspace",
        "commskit.workspace.Workspace",
    ]
