"""The webinar loop end to end (issue 14 items 3-5): an invitation through aiosmtpd, a
registration POSTed to the production web server with the token of the received message, the
confirmation with its personal .ics, then `events update` and `events cancel` to registrants only.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from email.message import EmailMessage

import httpx
import vobject

from commskit.audience.tokens import make_link_token

from .conftest import WINTER, calendar_part


def _register_link(message: EmailMessage) -> str:
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    return re.search(r"http://127\.0\.0\.1:\d+/evenements/\S+/inscription/[\w-]+", text).group(0)  # type: ignore[union-attr]


def _form_value(client: httpx.Client, url: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(url).text)
    return found.group(1) if found else ""


def _post(client: httpx.Client, url: str) -> httpx.Response:
    return client.post(url, data={"csrf": _form_value(client, url)})


def _vevent(message: EmailMessage) -> tuple[object, str]:
    data, method = calendar_part(message)
    return vobject.readOne(data.decode("utf-8")), method


def test_invitation_registration_confirmation_update_cancel(loop, monkeypatch) -> None:
    ws, inbox, _base, drain = loop
    monkeypatch.setenv("COMMSKIT_NOW", "2027-03-01T09:00:00+01:00")
    for name in ("hiver", "ete"):
        ws.send(f"invitation-{name}", yes=True)
    inbox.wait(8)
    me = "personne1@aom1.example.org"
    [invitation] = inbox.to(me, "Invitation hiver")
    link = _register_link(invitation)
    with httpx.Client(timeout=30) as browser:
        # GET never registers
        assert browser.get(link).status_code == 200
        assert browser.head(link).status_code == 200
        record = ws.store.events.get("hiver")
        assert ws.store.events.status(record.id, 1) == "invited"
        value = _form_value(browser, link)
        first = browser.post(link, data={"csrf": value})
        assert first.status_code == 200
        assert "inscrit" in first.text
        drain()
        stored = ws.store.events.registrations(record.id)
        history = ws.send_history(1)
        time.sleep(1.1)  # the store's times are to the second: a re-registration would show
        second = browser.post(link, data={"csrf": value})  # the form again: nothing changes
        assert second.status_code == 200
        assert second.text == first.text
        drain()
        assert ws.store.events.registrations(record.id) == stored  # same row, same times
        assert ws.send_history(1) == history  # no second confirmation queued or sent
        # another person registers for the summer event
        [summer] = inbox.to("personne2@aom2.example.org", "Invitation ete")
        assert _post(browser, _register_link(summer)).status_code == 200
        drain()
    inbox.wait(10)
    [confirmation] = inbox.to(me, "Inscription confirmée")
    calendar, method = _vevent(confirmation)
    assert method == "REQUEST"
    assert calendar.method.value == "REQUEST"
    event = calendar.vevent
    assert event.attendee.value == f"mailto:{me}"
    assert event.organizer.params["CN"] == ["Équipe Covoiturage"]
    assert b"DTSTART;TZID=Europe/Paris:20270326T100000" in calendar_part(confirmation)[0]
    assert b"BEGIN:VTIMEZONE" in calendar_part(confirmation)[0]
    assert event.dtstart.value.astimezone(dt.UTC) == dt.datetime(2027, 3, 26, 9, tzinfo=dt.UTC)
    body = confirmation.get_body(("plain",)).get_content()
    assert "https://visio.example.org/hiver" in body
    assert "/annulation/" in body
    # the English contact got the English text, and the summer instant is UTC+2
    [english] = inbox.to("personne2@aom2.example.org", "Registration confirmed")
    summer_event = _vevent(english)[0].vevent
    assert summer_event.dtstart.value.astimezone(dt.UTC) == dt.datetime(
        2027, 3, 30, 8, tzinfo=dt.UTC
    )
    assert len(inbox.to(me, "Inscription confirmée")) == 1  # once, after two POSTs
    assert ws.store.events.status(record.id, 1) == "registered"
    # the registrant gives their place back from the link in their confirmation mail
    text = english.get_body(("plain",)).get_content()
    cancel_link = re.search(r"http://127\.0\.0\.1:\d+/evenements/ete/annulation/[\w-]+", text)
    assert cancel_link is not None
    summer_record = ws.store.events.get("ete")
    with httpx.Client(timeout=30) as browser:
        assert browser.get(cancel_link.group(0)).status_code == 200  # GET cancels nothing
        assert ws.store.events.status(summer_record.id, 2) == "registered"
        assert _post(browser, cancel_link.group(0)).status_code == 200
    assert ws.store.events.status(summer_record.id, 2) == "cancelled"

    # a compile never moves the SEQUENCE; `events update` does, and mails registrants only
    path = ws.path("events/hiver.toml")
    path.write_text(WINTER.replace("T10:00", "T10:30"), encoding="utf-8")
    ws.compile(ws.campaign("invitation-hiver"))
    assert ws.store.events.get("hiver").sequence == 0
    assert ws.events()[0].changes or ws.events()[1].changes
    before = len(inbox.messages)
    report = ws.event_update("hiver", yes=True)
    assert (report.sent, report.job_id) == (1, "event:hiver:update:1")
    inbox.wait(before + 1)
    [update] = inbox.to(me, "Changement")
    assert int(_vevent(update)[0].vevent.sequence.value) == 1
    assert len(inbox.messages) == before + 1  # nobody only invited got it
    assert ws.event_update("hiver", yes=True).sent == 0  # nothing more to announce

    report = ws.event_cancel("hiver", note="Reporté en mai.", yes=True)
    inbox.wait(before + 2)
    [cancel] = inbox.to(me, "Annulé")
    calendar, method = _vevent(cancel)
    assert method == "CANCEL"
    assert calendar.method.value == "CANCEL"
    assert int(calendar.vevent.sequence.value) == 2
    assert "Reporté en mai." in cancel.get_body(("plain",)).get_content()
    assert ws.event_cancel("hiver", yes=True).sent == 0  # again: nothing more
    assert len(inbox.messages) == before + 2


def test_forged_and_other_event_tokens_get_400(loop) -> None:
    ws, _inbox, base, _drain = loop
    ws.compile(ws.campaign("invitation-hiver"))  # stores the event
    secret = ws.secret
    good = make_link_token(secret, "event", 1, "hiver")
    other = make_link_token(secret, "event", 1, "ete")
    forged = make_link_token(b"another key of sixteen+", "event", 1, "hiver")
    with httpx.Client(timeout=30) as client:
        assert client.get(f"{base}/evenements/hiver/inscription/{good}").status_code == 200
        other_purpose = make_link_token(secret, "preferences", 1)
        for token in (other, forged, good[:-3] + "AAA", other_purpose):
            for page in ("inscription", "annulation"):
                url = f"{base}/evenements/hiver/{page}/{token}"
                assert client.get(url).status_code == 400, (page, token)
                assert client.post(url, data={"csrf": "x"}).status_code == 400, (page, token)
        unknown = make_link_token(secret, "event", 1, "nope")
        assert client.get(f"{base}/evenements/nope/inscription/{unknown}").status_code == 400
        # a POST without the page's CSRF field registers nobody
        assert client.post(f"{base}/evenements/hiver/inscription/{good}").status_code == 400
    record = ws.store.events.get("hiver")
    assert ws.store.events.registered_ids(record.id) == []
