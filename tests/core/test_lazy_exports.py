"""Package ``__init__`` files export their names lazily (commskit._lazy), and consistently.

Importing ``commskit.feeds`` costs nothing until a name is used; each package's ``_EXPORTS``
table, its ``TYPE_CHECKING`` imports (what type checkers read) and ``__all__`` must agree, and
every public name must still be what it was: the object defined in its submodule.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

PACKAGES = [
    "commskit",
    "commskit.audience",
    "commskit.compose",
    "commskit.feeds",
    "commskit.render",
    "commskit.send",
    "commskit.store",
]


def _declared(package: str) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Return the ``_EXPORTS`` table, the TYPE_CHECKING imports (name → module), ``__all__``."""
    path = SRC / Path(*package.split(".")) / "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    exports: dict[str, str] = {}
    typed: dict[str, str] = {}
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom)
                typed.update({a.name: "." * imp.level + (imp.module or "") for a in imp.names})
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if isinstance(target, ast.Name) and target.id == "_EXPORTS":
                exports = ast.literal_eval(node.value)  # type: ignore[arg-type]
            elif isinstance(target, ast.Name) and target.id == "__all__":
                names = ast.literal_eval(node.value)  # type: ignore[arg-type]
    return exports, typed, names


@pytest.mark.parametrize("package", PACKAGES)
def test_lazy_exports_agree_with_type_checking_imports_and_all(package: str) -> None:
    exports, typed, names = _declared(package)
    assert exports, f"{package} has no _EXPORTS table"
    assert exports == typed, "_EXPORTS and the TYPE_CHECKING imports must name the same things"
    assert set(exports) <= set(names), "every lazy export is public (__all__)"
    module = importlib.import_module(package)
    for name in names:
        value = getattr(module, name)
        if name in exports:
            origin = importlib.import_module(exports[name], package)
            assert value is getattr(origin, name)
        assert name in dir(module)
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018


def _fresh_python(code: str, env: dict[str, str], cwd: Path) -> list[str]:
    """Run ``code`` in a fresh interpreter (nothing imported yet); return its output's words."""
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_lazy_package_still_reaches_its_submodules(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    """``commskit.feeds.fetch`` works after ``import commskit.feeds``, as with the eager imports."""
    code = (
        "import commskit.feeds as f, commskit.send as s; print(f.fetch.__name__, s.runner.__name__)"
    )
    assert _fresh_python(code, subprocess_env, tmp_path) == [
        "commskit.feeds.fetch",
        "commskit.send.runner",
    ]


def test_from_import_of_a_lazy_name(subprocess_env: dict[str, str], tmp_path: Path) -> None:
    code = (
        "from commskit import Workspace; from commskit.feeds import Digest; "
        "print(Workspace.__module__, Digest.__module__)"
    )
    assert _fresh_python(code, subprocess_env, tmp_path) == [
        "commskit.workspace",
        "commskit.feeds.digest",
    ]
