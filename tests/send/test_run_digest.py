"""`commskit run` sends the veille digest once its `[digest] schedule` has come, once a period."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from commskit import Workspace
from commskit.app.run import digest_moment
from commskit.demo import shift_sample_dates
from commskit.errors import ConfigError

MONDAY_9 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # 09:00 in Paris
EARLY = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)  # 07:00 in Paris, the same Monday


@pytest.fixture
def team(tmp_path) -> Workspace:  # type: ignore[no-untyped-def]
    ws = Workspace.init(tmp_path / "ws")
    config = ws.path("commskit.toml")
    text = config.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^sources\s*=.*$", 'sources = ["feeds/samples/*.toml"]', text, count=1)
    text = text.replace("[digest]\n", '[digest]\nschedule = "lundi 08:00"\n', 1)
    config.write_text(text, encoding="utf-8")
    ws.close()
    shift_sample_dates(tmp_path / "ws" / "feeds" / "samples", MONDAY_9)
    return Workspace.open(tmp_path / "ws")


def _digests(ws: Workspace) -> list[str]:
    folder = ws.path(".commskit/outbox/new")
    return [p.name for p in folder.iterdir()] if folder.exists() else []


def test_the_digest_goes_once_when_its_schedule_has_come(team: Workspace) -> None:
    plan = team.run(now=EARLY, until=MONDAY_9, dry_run=True)
    assert any(note.startswith("digest: veille-2026-W50 due at") for note in plan.notes)
    assert team.run(now=EARLY).sent == 0  # not yet: Monday 08:00 in Paris
    assert _digests(team) == []
    assert team.run(now=MONDAY_9).sent == 1
    assert len(_digests(team)) == 1
    # every later run of the week: already done, nothing fetched or sent again
    assert team.run(now=MONDAY_9.replace(hour=15)).sent == 0
    assert len(_digests(team)) == 1
    assert not any(n.startswith("digest:") for n in team.run(now=MONDAY_9, dry_run=True).notes)


def test_schedules_are_read_for_their_period() -> None:
    paris = "Europe/Paris"
    assert digest_moment("monday 08:00", "week", MONDAY_9, paris) == MONDAY_9.replace(hour=7)
    assert digest_moment("08:00", "day", EARLY, paris) == EARLY.replace(hour=7)
    assert digest_moment("1 08:00", "month", EARLY, paris) == datetime(
        2026, 12, 1, 7, 0, tzinfo=UTC
    )
    for wrong, period in (("monday 08:00", "day"), ("8h", "week"), ("jeudi", "week")):
        with pytest.raises(ConfigError, match=r"\[digest\] schedule"):
            digest_moment(wrong, period, EARLY, paris)
