"""Start-up imports only what a command runs (issue 12 item 7).

Each probe runs the CLI's ``main`` in a fresh interpreter and lists the modules loaded by the
time it returns: a heavy library imported again at start-up (say, a command module importing a
stage module at its top) fails here. The work is bounded, not timed: no duration is asserted;
bench/startup.py measures the time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from commskit import Workspace

#: Libraries none of `--help`, `status`, `segment` and `contacts list` runs.
HEAVY = frozenset(
    {
        "httpx",
        "feedparser",
        "email_validator",
        "rapidfuzz",
        "mjml",
        "jinja2",
        "css_inline",
        "aiosmtplib",
        "openpyxl",
        "python_calamine",
        "lxml",
        "yaml",
        "markdown_it",
        "html2text",
        "flufl",
        # commskit.web's, imported by `serve` only
        "werkzeug",
        "waitress",
    }
)
#: What `status` still loads through send.api → send.runner → send.transports on this branch.
SEND_ENGINE = frozenset({"aiosmtplib", "email_validator"})

_PROBE = """
import json, sys
from commskit.cli import main
try:
    main(sys.argv[1:], prog_name="commskit")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
sys.stdout.flush()
print("\\n" + json.dumps({"exit": code, "modules": sorted(sys.modules)}))
"""


def _loaded(
    args: list[str], cwd: Path, env: dict[str, str], script: str = _PROBE
) -> tuple[int, str, set[str]]:
    """Run the CLI with ``args`` in a fresh interpreter: (exit status, output, modules loaded)."""
    proc = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output, _, last = proc.stdout.rstrip("\n").rpartition("\n")
    assert last.startswith("{"), proc.stdout + proc.stderr
    result = json.loads(last)
    return result["exit"] or 0, output + proc.stderr, set(result["modules"])


def _top(modules: set[str]) -> set[str]:
    return {name.partition(".")[0] for name in modules}


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    """A fresh workspace with the demo partners imported."""
    ws = Workspace.init(tmp_path / "ws")
    ws.contacts.import_file(ws.root / "contacts" / "partenaires-demo.csv", basis="public-mission")
    ws.close()
    return ws.root


def test_help_imports_only_click_and_the_cli(fresh: Path, subprocess_env: dict[str, str]) -> None:
    code, output, modules = _loaded(["--help"], fresh, subprocess_env)
    assert code == 0
    assert "Veille digests, newsletters" in output
    assert "contacts" in output
    assert not HEAVY & _top(modules)
    # nor rich (help is click's), the settings, the workspace or any stage behind it
    assert "rich" not in _top(modules)
    assert not {"commskit.config", "commskit.workspace"} & modules
    assert not {m for m in modules if m.startswith(("commskit.send.", "commskit.render."))}


def test_status_imports_no_heavy_library(fresh: Path, subprocess_env: dict[str, str]) -> None:
    code, output, modules = _loaded(["status"], fresh, subprocess_env)
    assert (code, output.strip()) == (0, "No campaign has been sent yet.")
    assert not (HEAVY - SEND_ENGINE) & _top(modules)
    assert not {m for m in modules if m.startswith(("commskit.compose.", "commskit.feeds.fetch"))}


def test_status_imports_no_sending_engine(fresh: Path, subprocess_env: dict[str, str]) -> None:
    code, _, modules = _loaded(["status"], fresh, subprocess_env)
    assert code == 0
    assert not SEND_ENGINE & _top(modules)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["contacts", "list"], "contact(s)"),
        (["segment", 'region = "Bretagne"'], "contact(s)"),
    ],
)
def test_contact_listings_import_no_heavy_library(
    fresh: Path, subprocess_env: dict[str, str], args: list[str], expected: str
) -> None:
    code, output, modules = _loaded(args, fresh, subprocess_env)
    assert code == 0, output
    assert expected in output
    assert "@" in output  # it did list contacts
    assert not HEAVY & _top(modules)


def test_import_commskit_is_cheap(subprocess_env: dict[str, str], tmp_path: Path) -> None:
    script = "import commskit, json, sys; print(json.dumps({'exit': 0, 'modules': [*sys.modules]}))"
    _, _, modules = _loaded([], tmp_path, subprocess_env, script=script)
    assert not HEAVY & _top(modules)
    assert not {"click", "rich", "sqlite3"} & _top(modules)
    assert not {"commskit.config", "commskit.workspace"} & modules


def test_the_probe_sees_a_heavy_import(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    """The probe is not blind: a command that does load jinja2 is seen doing it."""
    code, _, modules = _loaded(
        ["render", "2026-11-infolettre", "-o", str(tmp_path / "out")],
        Workspace.init(tmp_path / "ws").root,
        subprocess_env,
    )
    assert code == 0
    assert {"jinja2", "mjml"} <= _top(modules)
