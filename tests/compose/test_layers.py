"""compose and render each do their own job: no cycle, no workspace, no database read inside.

Read from the source (AST), so imports under ``TYPE_CHECKING`` and inside functions count.
"""

from __future__ import annotations

import ast
import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from commskit import Workspace

SRC = Path(__file__).resolve().parents[2] / "src" / "commskit"


def _imports(package: str, src: Path = SRC) -> list[tuple[str, str]]:
    """Return (file, absolute module imported) for every import of a package's modules."""
    found = []
    for path in sorted((src / package).rglob("*.py")):
        parts = ["commskit", *path.relative_to(src).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        here = parts if path.name == "__init__.py" else parts[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[: len(here) - node.level + 1]
                    module = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    module = node.module or ""
                names = [f"{module}.{a.name}" for a in node.names]
                found += [(path.name, m) for m in [module, *names]]
            elif isinstance(node, ast.Import):
                found += [(path.name, a.name) for a in node.names]
    return found


def _reaching(package: str, *targets: str, src: Path = SRC) -> list[tuple[str, str]]:
    return [
        (file, module)
        for file, module in _imports(package, src)
        if any(module == t or module.startswith(f"{t}.") for t in targets)
    ]


@pytest.mark.parametrize("package", ["compose", "render"])
def test_no_stage_imports_the_workspace_or_the_app_layer(package: str) -> None:
    assert _reaching(package, "commskit.workspace", "commskit.app") == []


def test_compose_never_imports_render() -> None:
    assert _reaching("compose", "commskit.render") == []


def test_the_import_check_sees_a_back_edge(tmp_path: Path) -> None:
    # the check above must fail on the imports it forbids, TYPE_CHECKING ones included
    copy = tmp_path / "commskit"
    shutil.copytree(SRC / "compose", copy / "compose")
    (copy / "compose" / "bad.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from ..workspace import Workspace\nfrom ..render import compiled\n",
        encoding="utf-8",
    )
    assert ("bad.py", "commskit.workspace") in _reaching("compose", "commskit.workspace", src=copy)
    assert ("bad.py", "commskit.render") in _reaching("compose", "commskit.render", src=copy)


def test_no_ws_parameter_in_compose_or_render() -> None:
    offenders = []
    for package in ("compose", "render"):
        for path in sorted((SRC / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    names = [a.arg for a in (*node.args.args, *node.args.kwonlyargs)]
                    if "ws" in names or "workspace" in names:
                        offenders.append(f"{path.name}:{node.name}")
    assert offenders == []


def test_compose_and_render_functions_stay_simple() -> None:
    # issue 12: mccabe C901 capped at 12 (an accepted exception carries a commented noqa)
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run(
        [
            str(ruff),
            "check",
            "--select",
            "C901",
            "--config",
            "lint.mccabe.max-complexity=12",
            str(SRC / "compose"),
            str(SRC / "render"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout


def test_compile_reads_no_database(ws: Workspace, make_digest: Any) -> None:
    """The veille section comes from the digest passed in: render reads no store."""
    from commskit.render.compiled import compile_campaign

    campaign = ws.campaign("2026-11-infolettre")
    shutil.rmtree(ws.state_dir)  # no database, no secret: nothing to read behind our back
    settings = ws.settings
    compiled = compile_campaign(
        campaign,
        templates=ws.path(settings.paths.templates),
        sender=settings.sender,
        unsubscribe_url=settings.unsubscribe.url,
        digest=make_digest(3),
    )
    assert compiled.veille_count == 3
    assert not ws.state_dir.exists()
    parts = compiled.render(_contact(), unsubscribe_url="u")
    assert "Article de veille numéro 1" in parts.html


def _contact() -> Any:
    from commskit.compose.sample import sample_contact

    return sample_contact()


@pytest.mark.parametrize(
    ("language", "zone", "when"),
    [
        ("fr", "Europe/Paris", "jeudi 3 décembre 2026, 10h00 – 11h30 (heure de Paris)"),
        ("en", "Europe/Paris", "Thursday 3 December 2026, 10:00 – 11:30 (Paris time)"),
        ("fr", "America/Guadeloupe", "jeudi 3 décembre 2026, 10h00 – 11h30 (heure de Guadeloupe)"),
        # a bare offset names no city: the reader gets the offset
        ("fr", "+01:00", "jeudi 3 décembre 2026, 10h00 – 11h30 (UTC+01:00)"),
        ("en", "UTC", "Thursday 3 December 2026, 10:00 – 11:30 (UTC+00:00)"),
    ],
)
def test_event_view_is_layout_context_in_compose(language: str, zone: str, when: str) -> None:
    from zoneinfo import ZoneInfo

    from commskit.compose.campaign import Campaign, Event
    from commskit.compose.layout import event_view

    tz: dt.tzinfo = dt.timezone(dt.timedelta(hours=1)) if zone.startswith("+") else ZoneInfo(zone)
    event = Event(
        start=dt.datetime(2026, 12, 3, 10, tzinfo=tz),
        end=dt.datetime(2026, 12, 3, 11, 30, tzinfo=tz),
    )
    campaign = Campaign(
        id="w", path=Path("w.md"), subject="Webinaire", body="", body_line=1, event=event
    )
    view = event_view(campaign, language)
    assert view is not None
    assert view["when"] == when
    assert view["title"] == "Webinaire"
