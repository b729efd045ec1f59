"""Invitations recorded (item 3), attendance import (issue 14 item 6), commands (item 7) and
the segment predicates (item 8), through real sends to the outbox."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from commskit import Workspace
from commskit.cli import main
from commskit.errors import ContactImportError
from commskit.store.events import Registration

from .conftest import EVENT, clear_outbox, outbox


def people_of(ws: Workspace, event: str = "atelier") -> list[Registration]:
    record = ws.store.events.get(event)
    assert record is not None
    return ws.store.events.registrations(record.id)


def run(ws: Workspace, *args: str):
    return CliRunner().invoke(main, ["-C", str(ws.root), *args])


def recipients(ws: Workspace) -> set[str]:
    return {str(m["To"].addresses[0].addr_spec) for m in outbox(ws)}


@pytest.fixture
def invited(
    ws: Workspace,
    write_event: Callable[..., Path],
    write_campaign: Callable[..., Path],
    people: Callable[[int], list[str]],
) -> list[str]:
    """Five contacts invited to `atelier` by a real send; the first three register."""
    addresses = people(5)
    write_event()
    write_campaign("invitation", audience='kind = "AOM"')
    report = ws.send("invitation", yes=True)
    assert report.sent == 5
    record = ws.store.events.get("atelier")
    assert record is not None
    for address in addresses[:3]:
        contact = ws.contacts.get(address)
        assert contact is not None
        assert ws.store.events.register(record.id, contact.id, source="web")
    clear_outbox(ws)
    return addresses


def test_sending_an_invitation_records_everyone_invited_in_their_history(
    ws: Workspace, invited: list[str]
) -> None:
    people = people_of(ws)
    assert [p.email for p in people] == invited
    assert all(p.invited_at and p.source == "campaign:invitation" for p in people)
    assert [p.status for p in people] == ["registered"] * 3 + ["invited"] * 2
    # re-running the send (nothing left to send) keeps the statuses and times
    ws.send("invitation", yes=True)
    assert people_of(ws) == people
    # `contacts show` lists it
    result = run(ws, "contacts", "show", invited[0])
    assert result.exit_code == 0, result.output
    assert "Events" in result.output
    assert "atelier" in result.output
    assert "registered" in result.output
    shown = json.loads(run(ws, "contacts", "show", invited[4], "--json").output)
    [event] = shown["events"]
    assert (event["event"], event["status"]) == ("atelier", "invited")
    assert event["invited_at"]


def _attendance_file(ws: Workspace, invited: list[str]) -> Path:
    path = ws.path("presents.csv")
    # a webinar tool's export: its own columns, someone who joined twice, a walk-in contact,
    # a stranger and a broken row
    path.write_text(
        "Nom complet,Adresse e-mail,Durée (minutes)\n"
        f"P1,{invited[0]},55\n"
        f"P2,{invited[1].upper()},40\n"
        f"P1,{invited[0]},5\n"
        f"P4,{invited[3]},60\n"
        "Inconnu,inconnu@ailleurs.example.org,30\n"
        "Cassé,pas-une-adresse,10\n",
        encoding="utf-8",
    )
    return path


def test_attendance_import_marks_attended_no_show_and_walk_ins_idempotently(
    ws: Workspace, invited: list[str]
) -> None:
    path = _attendance_file(ws, invited)
    report = ws.import_attendance("atelier", path)
    assert (report.attended, report.no_show) == (3, 1)
    assert report.walk_ins == [invited[3]]
    assert report.unknown == ["inconnu@ailleurs.example.org"]
    assert [(row, address) for row, address, _ in report.skipped] == [(7, "pas-une-adresse")]
    record = ws.store.events.get("atelier")
    assert record is not None
    status = {p.email: p.status for p in ws.store.events.registrations(record.id)}
    assert status == {
        invited[0]: "attended",
        invited[1]: "attended",
        invited[2]: "no-show",
        invited[3]: "attended",  # walk-in: came without registering
        invited[4]: "invited",
    }
    assert ws.contacts.get("inconnu@ailleurs.example.org") is None  # a stranger is not added
    before = ws.store.events.registrations(record.id)
    again = ws.import_attendance("atelier", path)
    assert (again.attended, again.no_show) == (3, 1)
    after = ws.store.events.registrations(record.id)
    assert [(p.status, p.attended_at) for p in after] == [(p.status, p.attended_at) for p in before]
    # the CLI says the same in a few lines, the skipped row with its file and line
    result = run(ws, "events", "attendance", "atelier", str(path))
    assert result.exit_code == 0, result.output
    assert "atelier: 3 attended, 1 no-show." in result.output
    assert f"{path}:7: skipped pas-une-adresse" in result.stderr


def test_attendance_file_without_an_address_column_stores_nothing(
    ws: Workspace, invited: list[str]
) -> None:
    before = people_of(ws)
    path = ws.path("presents.csv")
    path.write_text("Nom,Durée\nP1,55\n", encoding="utf-8")
    with pytest.raises(ContactImportError) as info:
        ws.import_attendance("atelier", path)
    assert info.value.path == str(path)
    result = run(ws, "events", "attendance", "atelier", str(path))
    assert result.exit_code == 1
    [line] = [x for x in result.stderr.splitlines() if x.strip()]
    assert str(path) in line
    assert "no email column" in line
    assert people_of(ws) == before
    # the hint's way out works here too: name the address column
    path.write_text(f"Nom,Participant\nP1,{invited[0]}\n", encoding="utf-8")
    result = run(ws, "events", "attendance", "atelier", str(path), "--map", "Participant=email")
    assert result.exit_code == 0, result.output
    assert "atelier: 1 attended, 2 no-show." in result.output


def test_segments_reach_exactly_attended_and_registered_but_absent(
    ws: Workspace, invited: list[str], write_campaign: Callable[..., Path]
) -> None:
    ws.import_attendance("atelier", _attendance_file(ws, invited))
    assert ws.contacts.segment('invited("atelier")').count() == 5
    assert ws.contacts.segment('registered("atelier")').count() == 3
    assert ws.contacts.segment('registered("other-event")').count() == 0
    write_campaign("replay", event="", audience='attended("atelier")')
    assert ws.send("replay", yes=True).sent == 3
    assert recipients(ws) == {invited[0], invited[1], invited[3]}
    clear_outbox(ws)
    write_campaign("desole", event="", audience='registered("atelier") and not attended("atelier")')
    assert ws.send("desole", yes=True).sent == 1
    assert recipients(ws) == {invited[2]}


def test_events_list_and_show(
    ws: Workspace, invited: list[str], write_event: Callable[..., Path]
) -> None:
    # dates far from today whenever the suite runs
    write_event("ancien", EVENT.replace("2027-03-2", "2020-03-2"))
    write_event("futur", EVENT.replace("2027-03-2", "2099-03-2"))
    write_event("casse", EVENT.replace("end = 2027-03-27T11:30:00", "end = 2027-03-27T09:00:00"))
    listed = run(ws, "events", "list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    # upcoming first, then past; a broken file is listed with its error, the others still shown
    mine = [(r["name"], r["upcoming"]) for r in rows if r["name"] in ("futur", "ancien")]
    assert mine == [("futur", True), ("ancien", False)]
    [broken] = [r for r in rows if r["error"]]
    assert broken["name"] == "casse"
    assert "end is not after start" in broken["error"]
    [row] = [r for r in rows if r["name"] == "atelier"]
    assert (row["invited"], row["registered"], row["capacity"], row["attended"]) == (5, 3, 30, 0)
    table = run(ws, "events", "list")
    assert "atelier" in table.output
    assert "upcoming" in table.output
    shown = json.loads(run(ws, "events", "show", "atelier", "--json").output)
    assert shown["uid"] == "atelier@covoiturage.example.gouv.fr"
    assert shown["sequence"] == 0
    assert [p["status"] for p in shown["people"]] == ["registered"] * 3 + ["invited"] * 2
    as_csv = run(ws, "events", "show", "atelier", "--csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.output)))
    assert [r["email"] for r in rows] == invited
    assert rows[0]["status"] == "registered"
    assert "Prénom1" in as_csv.output
    text = run(ws, "events", "show", "atelier")
    assert text.exit_code == 0
    assert invited[4] in text.output


def test_erasing_a_contact_erases_their_event_history(ws: Workspace, invited: list[str]) -> None:
    ws.contacts.forget(invited[0])
    assert [p.email for p in people_of(ws)] == invited[1:]
    assert ws.contacts.segment('registered("atelier")').count() == 2


def test_an_invitation_send_resumes_exactly_once_though_each_ics_is_stamped_anew(
    ws: Workspace,
    write_event: Callable[..., Path],
    write_campaign: Callable[..., Path],
    people: Callable[[int], list[str]],
) -> None:
    addresses = people(5)
    write_event()
    write_campaign("invitation", audience='kind = "AOM"')
    assert ws.send("invitation", limit=2, yes=True).sent == 2
    assert len(people_of(ws)) == 2  # the stopped part is recorded already
    # a later compile stamps new DTSTAMPs: the fingerprint must not see it, the rest goes out
    assert ws.send("invitation", yes=True).sent == 3
    sent = [str(m["To"].addresses[0].addr_spec) for m in outbox(ws)]
    assert sorted(sent) == sorted(addresses)  # each person exactly once
    assert [p.email for p in people_of(ws)] == addresses
