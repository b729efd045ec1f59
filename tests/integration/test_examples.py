"""The scripts in examples/ run as documented, on a real workspace."""

from __future__ import annotations

import subprocess
from pathlib import Path

from commskit import Workspace

ROOT = Path(__file__).resolve().parents[2]


def _workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    Workspace.init(root).close()
    return root


def _run(python: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


def test_weekly_digest_example(tmp_path: Path, python: str, subprocess_env: dict[str, str]) -> None:
    root = _workspace(tmp_path)
    env = {**subprocess_env, "COMMSKIT_FEEDS_SOURCES": "feeds/samples/*.toml"}
    script = str(ROOT / "examples" / "weekly_digest.py")
    first = _run(python, env, script, str(root))
    assert first.returncode == 0, first.stderr
    assert "emailed to 1 people" in first.stdout
    written = list((root / "out").glob("veille-*.md"))
    assert len(written) == 1
    assert written[0].read_text(encoding="utf-8").startswith("#")
    outbox = root / ".commskit" / "outbox" / "new"
    assert len(list(outbox.iterdir())) == 1

    again = _run(python, env, script, str(root))
    assert again.returncode == 0, again.stderr
    assert "Nothing new since the last digest." in again.stdout
    assert len(list(outbox.iterdir())) == 1


def test_segmented_send_example(
    tmp_path: Path, python: str, subprocess_env: dict[str, str]
) -> None:
    root = _workspace(tmp_path)
    expression = 'kind = "AOM" and region in ("Bretagne", "Normandie") and stage != "joined"'
    argv = [
        str(ROOT / "examples" / "segmented_send.py"),
        str(root),
        str(root / "contacts" / "partenaires-demo.csv"),
        "2026-11-infolettre",
        expression,
    ]
    first = _run(python, subprocess_env, *argv)
    assert first.returncode == 0, first.stderr
    with Workspace.open(root) as ws:
        expected = ws.segment(expression, list_name="infolettre").count()
    assert expected > 0
    assert f"segment: {expected} contacts" in first.stdout
    assert f"sent {expected} " in first.stdout
    outbox = root / ".commskit" / "outbox" / "new"
    assert len(list(outbox.iterdir())) == expected

    again = _run(python, subprocess_env, *argv)
    assert again.returncode == 0, again.stderr
    assert "sent 0 " in again.stdout
    assert f"{expected} already sent" in again.stdout
    assert len(list(outbox.iterdir())) == expected


def test_segmented_send_example_usage(python: str, subprocess_env: dict[str, str]) -> None:
    result = _run(python, subprocess_env, str(ROOT / "examples" / "segmented_send.py"))
    assert result.returncode == 2
    assert "Segmented send" in result.stderr
