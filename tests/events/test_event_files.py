"""Events as data (issue 14 item 1): events/NAME.toml with local times and a time zone; bad
input is one line naming the file, the line and the field, and nothing is stored."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from commskit import Workspace
from commskit.audience.contacts import Contact
from commskit.cli import main
from commskit.errors import CommskitError, EventError

from .conftest import EVENT


def _with(line_start: str, replacement: str) -> str:
    """Return EVENT with the line starting ``line_start`` replaced (or removed when empty)."""
    out = []
    for line in EVENT.splitlines():
        if line.startswith(line_start):
            if replacement:
                out.append(replacement)
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def test_local_times_are_localised_with_the_zone_on_both_sides_of_the_dst_change(
    ws: Workspace, write_event: Callable[..., Path]
) -> None:
    write_event("before", EVENT)
    write_event(
        "after",
        _with("start", "start = 2027-03-29T10:00:00")
        .replace("end = 2027-03-27T11:30:00", "end = 2027-03-29T11:30:00")
        .replace("2027-03-26T18:00:00", "2027-03-28T18:00:00"),
    )
    before, after = ws.event("before"), ws.event("after")
    assert before.timezone == "Europe/Paris"  # [events] timezone's default
    assert before.start.astimezone(dt.UTC) == dt.datetime(2027, 3, 27, 9, 0, tzinfo=dt.UTC)
    assert after.start.astimezone(dt.UTC) == dt.datetime(2027, 3, 29, 8, 0, tzinfo=dt.UTC)
    assert before.reminders == (dt.timedelta(days=1), dt.timedelta(hours=1))
    assert before.organizer_mailbox() == (
        "Équipe Covoiturage, Paris",
        "contact@covoiturage.example.gouv.fr",
    )


def test_the_workspace_timezone_setting_is_the_default(
    ws: Workspace, write_event: Callable[..., Path]
) -> None:
    config = ws.path("commskit.toml")
    config.write_text(
        config.read_text(encoding="utf-8") + '\n[events]\ntimezone = "America/Cayenne"\n',
        encoding="utf-8",
    )
    write_event()
    event = Workspace.open(ws.root).event("atelier")
    assert event.timezone == "America/Cayenne"
    assert event.start.astimezone(dt.UTC).hour == 13  # UTC-3


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (_with("start", 'start = "le 27 mars"'), 2, "start 'le 27 mars' is not a date and time"),
        (_with("start", "start = 2027-03-28T02:30:00"), 2, "does not exist in Europe/Paris"),
        (
            _with("start", "start = 2027-10-31T02:30:00").replace(
                "end = 2027-03-27T11:30:00", "end = 2027-10-31T04:00:00"
            ),
            2,
            "happens twice in Europe/Paris",
        ),
        (_with("start", "start = 2027-03-27T10:00:00+01:00"), 2, "start has a UTC offset"),
        (_with("end", "end = 2027-03-27T09:00:00"), 3, "end is not after start"),
        (EVENT + 'timezone = "Europe/Pariss"\n', 10, "timezone 'Europe/Pariss' is not a known"),
        (
            _with("registration_deadline", "registration_deadline = 2027-03-27T10:30:00"),
            8,
            "registration_deadline is after start",
        ),
        (_with("reminders", 'reminders = ["1 jour"]'), 9, "reminder '1 jour' is not an ISO 8601"),
        (_with("reminders", 'reminders = ["-P1D"]'), 9, "must be a positive duration"),
        (_with("title", ""), None, "title is missing"),
        (_with("capacity", 'capacity = "trente"'), 7, "capacity must be a whole number"),
        (_with("organizer", 'organizer = "Équipe"'), 6, "organizer 'Équipe' has no valid address"),
        (
            _with("join_url", 'join_url = "visio.example.gouv.fr/atelier"'),
            5,
            "join_url 'visio.example.gouv.fr/atelier' is not a web address",
        ),
        (EVENT + 'url = "www.example.org"\n', 10, "url 'www.example.org' is not a web address"),
        (EVENT + 'colour = "red"\n', 10, "unknown key 'colour'"),
        (EVENT + "title = 'twice'\n", 10, "invalid TOML"),
    ],
)
def test_bad_event_file_is_one_line_naming_file_line_and_field_and_nothing_is_stored(
    ws: Workspace,
    write_event: Callable[..., Path],
    text: str,
    line: int | None,
    message: str,
) -> None:
    path = write_event("atelier", text)
    with pytest.raises(EventError) as info:
        ws.event("atelier")
    error = info.value
    assert message in str(error)
    assert error.path == str(path)
    assert error.line == line
    assert "\n" not in str(error)
    # through a campaign: the same error, and no event row is written by compiling
    ws.path("campaigns/invitation.md").write_text(
        "---\nsubject: Invitation\ntemplate: announcement\nevent: atelier\n---\nB\n",
        encoding="utf-8",
    )
    with pytest.raises(CommskitError, match=message.split("'")[0]):
        ws.compile(ws.campaign("invitation"))
    assert ws.store.events.all() == []
    # and the command line: one line on stderr, exit 1
    result = CliRunner().invoke(main, ["-C", str(ws.root), "events", "show", "atelier"])
    assert result.exit_code == 1
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert len(lines) == 1
    assert str(path) in lines[0]
    assert message in lines[0]


def test_an_unknown_event_names_the_known_ones(
    ws: Workspace, write_event: Callable[..., Path]
) -> None:
    write_event()
    with pytest.raises(EventError, match=r"event .atelir. not found.*known events: .*atelier"):
        ws.event("atelir")


def test_a_campaign_names_its_event_file(ws: Workspace) -> None:
    campaign = ws.campaign("2026-12-webinaire")
    assert campaign.event is not None
    assert campaign.event.name == "webinaire-tableau-de-bord"
    assert campaign.event.join_url  # kept for registrants ...
    raw = ws.compile(campaign).message_for(
        Contact(id=1, email="camille@example.org"), message_id="<a@b>", unsubscribe_url="https://u"
    )
    # ... never in the invitation (its text, its HTML or its .ics)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    for part in message.walk():
        if not part.is_multipart():
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            assert b"visio.example.gouv.fr" not in payload
