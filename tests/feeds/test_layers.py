"""The veille stage's structure (issue 12): feeds/ never sees the workspace nor the application
layer, Workspace veille methods are one application call each, one TOML reader, no `from None`,
no `**options: Any`, every function under the complexity cap. Read from the source, so a back
edge or a new re-implementation fails the suite."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import shutil
import subprocess
import typing
from pathlib import Path

import pytest

import commskit.feeds
from commskit import Workspace

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "commskit"
FEEDS = SRC / "feeds"

VEILLE_METHODS = (
    "feed_rules",
    "feed_lists",
    "feed_status",
    "fetch",
    "digest",
    "mark_digest",
    "add_feed",
    "remove_feed",
    "reset_feed",
    "import_opml",
    "export_opml",
    "try_rules",
)


def _modules(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def _imported(tree: ast.AST, package: str) -> set[str]:
    """Every module an AST imports (relative imports resolved against ``package``)."""
    out: set[str] = set()
    for node in ast.walk(tree):  # walks TYPE_CHECKING blocks and function bodies too
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            out.add(module)
            out.update(f"{module}.{alias.name}" for alias in node.names)
    return out


def test_no_feeds_module_imports_workspace_or_app() -> None:
    offenders = []
    for path in _modules(FEEDS):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for module in _imported(tree, "commskit.feeds"):
            if module.startswith(("commskit.workspace", "commskit.app")):
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not offenders, offenders


def test_the_layer_check_sees_a_back_edge_under_type_checking() -> None:
    """The check above would catch the very import feeds/veille.py used to have."""
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from ..workspace import Workspace\n"
    )
    assert "commskit.workspace" in _imported(tree, "commskit.feeds")


def _method(tree: ast.Module, name: str) -> ast.FunctionDef:
    [cls] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Workspace"]
    [found] = [n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == name]
    return found


def test_workspace_veille_methods_are_one_app_call_each() -> None:
    tree = ast.parse((SRC / "workspace.py").read_text(encoding="utf-8"))
    for name in VEILLE_METHODS:
        method = _method(tree, name)
        body = [
            stmt
            for stmt in method.body
            if not isinstance(stmt, ast.Import | ast.ImportFrom)
            and not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant))
        ]
        imports = {
            f"{'.' * n.level}{n.module}" for n in method.body if isinstance(n, ast.ImportFrom)
        }
        assert len(body) == 1, f"Workspace.{name} does more than one call"
        [stmt] = body
        assert isinstance(stmt, ast.Return), name
        assert isinstance(stmt.value, ast.Call), name
        func = stmt.value.func
        assert isinstance(func, ast.Attribute), name
        assert isinstance(func.value, ast.Name), name
        assert func.value.id == "veille", name
        assert imports == {".app"}, (name, imports)


def _public_functions() -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    names = [m.name for m in pkgutil.iter_modules(commskit.feeds.__path__)]
    modules = [f"commskit.feeds.{n}" for n in names if not n.startswith("_")]
    for module_name in [*modules, "commskit.app.veille"]:
        module = importlib.import_module(module_name)
        for name, value in vars(module).items():
            if name.startswith("_") or getattr(value, "__module__", None) != module_name:
                continue
            if inspect.isfunction(value):
                found.append((f"{module_name}.{name}", value))
            elif inspect.isclass(value):
                for attr, member in vars(value).items():
                    if inspect.isfunction(member) and not attr.startswith("_"):
                        found.append((f"{module_name}.{name}.{attr}", member))
    return found


def test_no_keyword_catch_alls_in_the_veille_api() -> None:
    offenders = [
        name
        for name, func in _public_functions()
        if any(
            p.kind is p.VAR_KEYWORD
            for p in inspect.signature(func).parameters.values()  # type: ignore[arg-type]
        )
    ]
    for name in VEILLE_METHODS:
        params = inspect.signature(getattr(Workspace, name)).parameters.values()
        if any(p.kind is p.VAR_KEYWORD for p in params):
            offenders.append(f"Workspace.{name}")
    assert not offenders, offenders


def test_add_feed_takes_explicit_typed_keywords() -> None:
    params = inspect.signature(Workspace.add_feed).parameters
    assert list(params) == ["self", "url", "name", "topics", "tags", "weight", "to"]
    assert all(params[k].kind is inspect.Parameter.KEYWORD_ONLY for k in list(params)[2:])
    # annotations stay strings: workspace.py imports its types under TYPE_CHECKING (start-up)
    annotations = {k: params[k].annotation for k in list(params)[1:]}
    assert all(a not in ("Any", inspect.Parameter.empty) for a in annotations.values())
    assert "Any" not in " ".join(annotations.values()), annotations


def test_digest_and_items_are_typed_in_feeds_signatures() -> None:
    offenders = []
    for name, func in _public_functions():
        try:
            hints = typing.get_type_hints(func)
        except NameError as exc:  # an annotation that names nothing importable
            offenders.append(f"{name}: {exc}")
            continue
        for param in ("digest", "item", "row", "state", "workspace", "renderer"):
            if hints.get(param, None) is typing.Any:
                offenders.append(f"{name}({param}: Any)")
    assert not offenders, offenders


def _calls(tree: ast.AST) -> list[str]:
    out = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
        ):
            out.append(f"{node.func.value.id}.{node.func.attr}")
    return out


def test_toml_is_parsed_in_one_place() -> None:
    """config.py reads and re-checks TOML; nothing else calls tomllib itself."""
    offenders = []
    for path in _modules(SRC):
        if path == SRC / "config.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call in _calls(tree):
            if call in {"tomllib.loads", "tomllib.load"}:
                offenders.append(f"{path.relative_to(ROOT)}: {call}")
    assert not offenders, offenders


def test_feeds_keeps_exception_causes() -> None:
    """`raise X(...) from None` hides the cause even from COMMSKIT_DEBUG=1."""
    offenders = []
    for path in _modules(FEEDS):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and isinstance(node.cause, ast.Constant):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders


def test_feeds_functions_stay_under_the_complexity_cap() -> None:
    if shutil.which("ruff") is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    targets = [str(FEEDS), str(SRC / "app" / "veille.py"), str(SRC / "store" / "feeds.py")]
    result = subprocess.run(
        [
            "ruff",
            "check",
            "--select",
            "C901",
            "--config",
            "lint.mccabe.max-complexity=12",
            *targets,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_sqlite_rows_in_feeds() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in [*_modules(FEEDS), SRC / "app" / "veille.py"]
        if path.exists()
        and "sqlite3" in _imported(ast.parse(path.read_text(encoding="utf-8")), "commskit.feeds")
    ]
    assert not offenders, offenders
