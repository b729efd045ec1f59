"""Calendar files clients accept (issue 14 item 2), read back with an independent parser
(vobject; icalendar is the writer) and a strict RFC 5545 line check of our own."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import vobject

from commskit import Workspace
from commskit.app.events import sync_event
from commskit.audience.contacts import Contact
from commskit.events.calendar import CANCEL, build_calendar
from commskit.events.model import CalendarIdentity

from .conftest import EVENT, calendar_part

CAMILLE = Contact(
    id=7, email="camille.martin@example.org", first_name="Camille", last_name="Martin"
)


def strict_lines(data: bytes) -> list[str]:
    """Check RFC 5545 §3.1: CRLF line ends, at most 75 octets a line, folds start with a space;
    return the unfolded content lines."""
    assert data.endswith(b"\r\n")
    raw_lines = data[:-2].split(b"\r\n")
    assert all(b"\n" not in line and b"\r" not in line for line in raw_lines)
    assert all(len(line) <= 75 for line in raw_lines), max(raw_lines, key=len)
    unfolded: list[bytes] = []
    for line in raw_lines:
        if line.startswith(b" "):
            unfolded[-1] += line[1:]
        else:
            unfolded.append(line)
    return [line.decode("utf-8") for line in unfolded]


def invitation(ws: Workspace, campaign: str, contact: Contact, date: dt.datetime) -> Any:
    compiled = ws.compile(ws.campaign(campaign))
    raw = compiled.message_for(
        contact, message_id="<m@example.org>", unsubscribe_url="https://u.example.org", date=date
    )
    message = email.message_from_bytes(raw, policy=email.policy.default)
    return message, compiled


def _campaign(ws: Workspace, event: str = "atelier") -> None:
    ws.path("campaigns/invitation.md").write_text(
        "---\nsubject: Invitation à l'atelier\ntemplate: announcement\nlist: webinaires\n"
        f"event: {event}\n---\nBonjour,\n",
        encoding="utf-8",
    )


def test_personal_invitation_parses_back_with_what_clients_rely_on(
    ws: Workspace, write_event: Callable[..., Path]
) -> None:
    write_event()
    _campaign(ws)
    first_date = dt.datetime(2027, 3, 1, 8, 0, tzinfo=dt.UTC)
    message, compiled = invitation(ws, "invitation", CAMILLE, first_date)
    data, mime_method = calendar_part(message)
    lines = strict_lines(data)
    assert "METHOD:REQUEST" in lines
    calendar = vobject.readOne(data.decode("utf-8"))
    assert calendar.method.value == mime_method == "REQUEST"
    event = calendar.vevent
    assert event.uid.value == "atelier@covoiturage.example.gouv.fr"
    assert int(event.sequence.value) == 0
    # DTSTAMP is when this copy was generated, not the event's start
    assert event.dtstamp.value == first_date
    # local time with its zone, and the right instant (2027-03-27 is still winter time)
    assert any(line.startswith("DTSTART;TZID=Europe/Paris:20270327T100000") for line in lines)
    assert calendar.vtimezone.tzid.value == "Europe/Paris"
    assert event.dtstart.value.astimezone(dt.UTC) == dt.datetime(2027, 3, 27, 9, 0, tzinfo=dt.UTC)
    assert event.dtend.value.astimezone(dt.UTC) == dt.datetime(2027, 3, 27, 10, 30, tzinfo=dt.UTC)
    # ORGANIZER with CN (the file's, comma and accent included), ATTENDEE = this contact
    assert event.organizer.value == "mailto:contact@covoiturage.example.gouv.fr"
    assert event.organizer.params["CN"] == ["Équipe Covoiturage, Paris"]
    [attendee] = event.contents["attendee"]
    assert attendee.value == "mailto:camille.martin@example.org"
    assert attendee.params["CN"] == ["Camille Martin"]
    assert attendee.params["PARTSTAT"] == ["NEEDS-ACTION"]
    assert attendee.params["RSVP"] == ["TRUE"]
    # the join URL is for registrants only
    assert "visio.example.gouv.fr" not in data.decode("utf-8")

    # a second generation for another person, later: same UID, its own DTSTAMP and ATTENDEE,
    # and the campaign's fingerprint (resume, exactly-once) does not move with either
    other = Contact(id=8, email="lea.petit@example.org", first_name="Léa", last_name="Petit")
    second_date = dt.datetime(2027, 3, 2, 9, 30, tzinfo=dt.UTC)
    message2, compiled2 = invitation(ws, "invitation", other, second_date)
    calendar2 = vobject.readOne(calendar_part(message2)[0].decode("utf-8"))
    assert calendar2.vevent.uid.value == event.uid.value
    assert calendar2.vevent.dtstamp.value == second_date
    assert calendar2.vevent.attendee.value == "mailto:lea.petit@example.org"
    assert compiled2.fingerprint == compiled.fingerprint


def test_a_date_after_the_dst_change_gets_summer_time(
    ws: Workspace, write_event: Callable[..., Path]
) -> None:
    write_event(
        "printemps",
        EVENT.replace("2027-03-27T10:00:00", "2027-03-29T10:00:00")
        .replace("2027-03-27T11:30:00", "2027-03-29T11:30:00")
        .replace("2027-03-26T18:00:00", "2027-03-28T18:00:00"),
    )
    _campaign(ws, "printemps")
    message, _ = invitation(ws, "invitation", CAMILLE, dt.datetime(2027, 3, 1, tzinfo=dt.UTC))
    data, _ = calendar_part(message)
    event = vobject.readOne(data.decode("utf-8")).vevent
    assert any(
        line.startswith("DTSTART;TZID=Europe/Paris:20270329T100000") for line in strict_lines(data)
    )
    assert event.dtstart.value.astimezone(dt.UTC) == dt.datetime(2027, 3, 29, 8, 0, tzinfo=dt.UTC)


def test_sequence_grows_when_time_place_or_join_url_change_and_uid_stays(
    ws: Workspace, write_event: Callable[..., Path]
) -> None:
    path = write_event()
    repo = ws.store.events
    first = sync_event(repo, ws.event("atelier"), domain="covoiturage.example.gouv.fr")
    assert (first.uid, first.sequence) == ("atelier@covoiturage.example.gouv.fr", 0)
    # a new title or description moves nothing in anyone's calendar: same SEQUENCE
    path.write_text(EVENT.replace("la preuve de covoiturage", "la preuve"), encoding="utf-8")
    assert sync_event(repo, ws.event("atelier"), domain="other.example").sequence == 0
    changes = [
        ("2027-03-27T10:00:00", "2027-03-27T10:30:00"),  # the start
        ("Salle 3", "Salle 4"),  # the place
        ("visio.example.gouv.fr/atelier", "visio.example.gouv.fr/atelier-2"),  # the join URL
    ]
    text = path.read_text(encoding="utf-8")
    for expected, (old, new) in enumerate(changes, start=1):
        text = text.replace(old, new)
        path.write_text(text, encoding="utf-8")
        record = sync_event(repo, ws.event("atelier"), domain="other.example")
        assert record.sequence == expected
        assert record.uid == first.uid  # never changes, whatever the sender domain becomes
    # and the invitation carries it
    _campaign(ws)
    message, _ = invitation(ws, "invitation", CAMILLE, dt.datetime(2027, 3, 1, tzinfo=dt.UTC))
    event = vobject.readOne(calendar_part(message)[0].decode("utf-8")).vevent
    assert int(event.sequence.value) == 3
    assert event.uid.value == first.uid


def test_cancellation_is_method_cancel_with_the_same_uid(
    ws: Workspace, write_event: Callable[..., Path]
) -> None:
    write_event()
    spec = ws.event("atelier")
    data = build_calendar(
        spec,
        CalendarIdentity("atelier@covoiturage.example.gouv.fr", 4),
        method=CANCEL,
        stamp=dt.datetime(2027, 3, 20, tzinfo=dt.UTC),
    )
    assert "METHOD:CANCEL" in strict_lines(data)
    calendar = vobject.readOne(data.decode("utf-8"))
    assert calendar.method.value == "CANCEL"
    assert calendar.vevent.status.value == "CANCELLED"
    assert calendar.vevent.uid.value == "atelier@covoiturage.example.gouv.fr"
    assert int(calendar.vevent.sequence.value) == 4


def _observances(lines: list[str]) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in lines:
        if line in ("BEGIN:STANDARD", "BEGIN:DAYLIGHT"):
            current = {"kind": line.removeprefix("BEGIN:")}
        elif line in ("END:STANDARD", "END:DAYLIGHT") and current is not None:
            found.append(current)
            current = None
        elif current is not None:
            name, _, value = line.partition(":")
            current[name] = value
    return found


def _offset(text: str) -> dt.timedelta:
    sign = -1 if text.startswith("-") else 1
    return sign * dt.timedelta(hours=int(text[1:3]), minutes=int(text[3:5]))


def test_vtimezone_onsets_are_wall_times_before_each_change(
    write_event: Callable[..., Path], ws: Workspace
) -> None:
    """RFC 5545 §3.6.5: an observance's DTSTART is the local time in TZOFFSETFROM. Read that way,
    each change must fall exactly when zoneinfo changes the offset (spring: 02:00 in Paris)."""
    from zoneinfo import ZoneInfo

    write_event()
    data = build_calendar(ws.event("atelier"), CalendarIdentity("u@example.org"))
    paris = ZoneInfo("Europe/Paris")
    changes = [o for o in _observances(strict_lines(data)) if o["TZOFFSETFROM"] != o["TZOFFSETTO"]]
    assert [(o["kind"], o["DTSTART"]) for o in changes] == [
        ("DAYLIGHT", "20270328T020000"),
        ("STANDARD", "20271031T030000"),
    ]
    for observance in changes:
        onset = dt.datetime.strptime(observance["DTSTART"], "%Y%m%dT%H%M%S")
        instant = (onset - _offset(observance["TZOFFSETFROM"])).replace(tzinfo=dt.UTC)
        before = (instant - dt.timedelta(seconds=1)).astimezone(paris).utcoffset()
        assert before == _offset(observance["TZOFFSETFROM"])
        assert instant.astimezone(paris).utcoffset() == _offset(observance["TZOFFSETTO"])
