"""`events update / cancel / remind` on bad input: one line naming the file or event, exit 1,
nothing stored; and their dry runs change nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from commskit import Workspace
from commskit.cli import main

from .conftest import EVENT


def _run(ws: Workspace, *args: str) -> tuple[int, list[str], str]:
    result = CliRunner().invoke(main, ["-C", str(ws.root), "events", *args])
    return result.exit_code, [x for x in result.stderr.splitlines() if x.strip()], result.stdout


@pytest.mark.parametrize("command", ["update", "cancel", "remind"])
def test_unknown_or_broken_event_is_one_line(
    ws: Workspace, write_event: Callable[..., Path], command: str
) -> None:
    code, lines, _ = _run(ws, command, "inconnu", "--yes" if command != "remind" else "--dry-run")
    assert code == 1
    assert len(lines) == 1
    assert "event 'inconnu' not found" in lines[0]
    path = write_event(
        "atelier", EVENT.replace("end = 2027-03-27T11:30:00", "end = 2027-03-27T09:00:00")
    )
    code, lines, _ = _run(ws, command, "atelier", "--yes" if command != "remind" else "--dry-run")
    assert code == 1
    assert len(lines) == 1
    assert str(path) in lines[0]
    assert "end is not after start" in lines[0]
    assert ws.store.events.all() == []


def test_dry_runs_change_nothing_and_a_cancelled_event_cannot_be_updated(
    ws: Workspace, write_event: Callable[..., Path]
) -> None:
    path = write_event()
    ws.event_update("atelier", yes=True)  # stores it; nobody registered: nothing to mail
    path.write_text(EVENT.replace("Salle 3", "Salle 4"), encoding="utf-8")
    code, _lines, out = _run(ws, "update", "atelier", "--dry-run")
    assert code == 0
    assert ws.store.events.get("atelier").sequence == 0
    assert "atelier" in out
    code, _lines, _ = _run(ws, "cancel", "atelier", "--dry-run")
    assert code == 0
    assert ws.store.events.get("atelier").cancelled_at == ""
    assert _run(ws, "cancel", "atelier", "--yes")[0] == 0
    code, lines, _ = _run(ws, "update", "atelier", "--yes")
    assert code == 1
    assert len(lines) == 1
    assert "was cancelled" in lines[0]
    code, _lines, out = _run(ws, "list")
    assert "atelier" in out
