"""An invitation sent after its event's registrations closed, or after it started, is sent (a
replay may name a past event on purpose) but with a warning before anything goes out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from commskit import Workspace
from commskit.cli import main

# the conftest's EVENT: deadline 2027-03-26 18:00, start 2027-03-27 10:00 (Paris, UTC+1)
OPEN = "2027-03-26T17:00:00+01:00"
CLOSED = "2027-03-26T18:00:00+01:00"
STARTED = "2027-03-27T10:00:00+01:00"


def _event_warnings(warnings: list[str]) -> list[str]:
    return [w for w in warnings if w.startswith("event 'atelier'")]


@pytest.mark.parametrize(
    ("now", "expected"),
    [(OPEN, None), (CLOSED, "registrations closed on 2027-03-26 18:00"), (STARTED, "past event")],
)
def test_a_late_invitation_warns_before_sending_and_still_sends(
    ws: Workspace,
    write_event: Callable[..., Path],
    write_campaign: Callable[..., Path],
    people: Callable[[int], list[str]],
    monkeypatch: pytest.MonkeyPatch,
    now: str,
    expected: str | None,
) -> None:
    monkeypatch.setenv("COMMSKIT_NOW", now)
    people(2)
    write_event()
    write_campaign("invitation", audience='kind = "AOM"')
    warned: list[str] = []
    seen_by_confirm: list[str] = []

    def confirm(report: object) -> bool:
        seen_by_confirm.extend(report.warnings)  # type: ignore[attr-defined]
        return True

    report = ws.send("invitation", warn=warned.append, confirm=confirm)
    assert report.sent == 2
    found = _event_warnings(report.preflight.warnings)
    if expected is None:
        assert found == []
        assert _event_warnings(warned) == []
        return
    [line] = found
    assert expected in line
    assert "events/atelier.toml" in line
    assert _event_warnings(warned) == [line]  # said before pre-flight starts
    assert _event_warnings(seen_by_confirm) == [line]  # and shown with the confirmation


def test_the_command_line_says_it_once_on_a_dry_run(
    ws: Workspace,
    write_event: Callable[..., Path],
    write_campaign: Callable[..., Path],
    people: Callable[[int], list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COMMSKIT_NOW", STARTED)
    people(2)
    write_event()
    write_campaign("invitation", audience='kind = "AOM"')
    result = CliRunner().invoke(main, ["-C", str(ws.root), "send", "invitation", "--dry-run"])
    assert result.exit_code == 0, result.output
    lines = [x for x in result.stderr.splitlines() if "event 'atelier'" in x]
    assert len(lines) == 1
    assert "past event" in lines[0]
    assert "nothing was sent" in result.output
