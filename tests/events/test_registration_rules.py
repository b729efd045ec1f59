"""The registration rules (deadline, capacity, a cancelled event), the cancellation page, and
the due-reminder and confirmation catch-up jobs, against the running web app and aiosmtpd."""

from __future__ import annotations

import re

import httpx

from commskit.audience.tokens import make_link_token
from commskit.clock import parse_instant

from .test_registration_loop import _form_value

BEFORE = "2027-03-01T09:00:00+01:00"


def _url(ws, base: str, page: str, contact_id: int, event: str = "hiver") -> str:
    token = make_link_token(ws.secret, "event", contact_id, event)
    return f"{base}/evenements/{event}/{page}/{token}"


def test_full_closed_and_cancelled_events_refuse_with_a_clear_page(loop, monkeypatch) -> None:
    ws, _inbox, base, drain = loop
    monkeypatch.setenv("COMMSKIT_NOW", BEFORE)
    ws.compile(ws.campaign("invitation-hiver"))  # stores the event (capacity 2)
    with httpx.Client(timeout=30) as browser:
        for contact_id in (1, 2):
            url = _url(ws, base, "inscription", contact_id)
            assert browser.post(url, data={"csrf": _form_value(browser, url)}).status_code == 200
        drain()
        third = _url(ws, base, "inscription", 3)
        value = _form_value(browser, third)
        full = browser.post(third, data={"csrf": value})
        assert full.status_code == 409
        assert "Complet" in full.text
        # a registrant gives up their place from the cancellation page: GET shows a button only
        cancel = _url(ws, base, "annulation", 1)
        record = ws.store.events.get("hiver")
        page = browser.get(cancel)
        assert "Annuler mon inscription" in page.text
        assert ws.store.events.status(record.id, 1) == "registered"
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        assert browser.post(cancel, data={"csrf": token}).status_code == 200
        assert browser.post(cancel, data={"csrf": token}).status_code == 200  # idempotent
        assert ws.store.events.status(record.id, 1) == "cancelled"
        # the freed place can be taken
        assert browser.post(third, data={"csrf": value}).status_code == 200
        drain()
        # past the deadline (here: the start) the page says registrations are closed
        monkeypatch.setenv("COMMSKIT_NOW", "2027-03-26T10:30:00+01:00")
        late = _url(ws, base, "inscription", 4)
        assert "closes" in browser.get(late).text or "closed" in browser.get(late).text
        refused = browser.post(late, data={"csrf": value})
        assert refused.status_code == 409
        assert "closes" in refused.text
        # a cancelled event takes nobody
        monkeypatch.setenv("COMMSKIT_NOW", BEFORE)
        ws.event_cancel("hiver", yes=True)
        gone = browser.post(late, data={"csrf": value})
        assert gone.status_code == 410
        assert "annulé" in gone.text
    assert ws.store.events.status(record.id, 4) == ""  # never registered


def test_reminders_go_once_when_due_and_confirmations_catch_up(loop) -> None:
    ws, inbox, _base, _drain = loop
    moment = parse_instant(BEFORE, what="test")
    assert ws.send("invitation-hiver", yes=True).sent == 4  # everyone invited
    assert ws.register_for_event("hiver", 1, now=moment).value == "registered"
    # contact 2 registers then gives the place back; 3 and 4 stay only invited
    assert ws.register_for_event("hiver", 2, now=moment).value == "registered"
    record = ws.store.events.get("hiver")
    assert ws.store.events.cancel_registration(record.id, 2)
    # registered without the web app's notifier (a crash): the catch-up sends it, once
    [report] = ws.send_event_confirmations(now=moment)
    assert (report.job_id, report.sent) == ("event:hiver:confirmation:0", 1)
    assert ws.send_event_confirmations(now=moment) == []
    at = lambda text: parse_instant(text, what="test")  # noqa: E731
    assert ws.send_event_reminders(now=at("2027-03-25T09:00:00+01:00")) == []  # 25 h before
    [day] = ws.send_event_reminders(now=at("2027-03-25T12:00:00+01:00"))
    assert (day.job_id, day.sent) == ("event:hiver:reminder:P1D", 1)
    assert ws.send_event_reminders(now=at("2027-03-25T13:00:00+01:00"))[0].sent == 0
    [hour] = ws.send_event_reminders(now=at("2027-03-26T09:30:00+01:00"))
    assert (hour.job_id, hour.sent) == ("event:hiver:reminder:PT1H", 1)
    assert ws.send_event_reminders(now=at("2027-03-26T10:00:00+01:00")) == []  # started
    subjects = [str(m["Subject"]) for m in inbox.to("personne1@aom1.example.org")]
    assert sum(s.startswith("Inscription confirmée") for s in subjects) == 1
    assert sum(s.startswith("Rappel") for s in subjects) == 2
    for other in ("personne2@aom2", "personne3@aom3", "personne4@aom4"):  # registrants only
        assert [str(m["Subject"]) for m in inbox.to(other)] == ["Invitation hiver"], other
    # the partner's history lists them
    history = ws.send_history(1)
    kinds = {
        row["campaign_id"].split(":")[2]
        for row in history
        if row["campaign_id"].startswith("event:")
    }
    assert kinds == {"confirmation", "reminder"}


def test_commskit_run_sends_the_confirmations_owed_and_the_reminders_due(loop) -> None:
    """The one cron line covers event mails: a registration the web app could not confirm, and
    the reminder once its offset is reached; a second run at the same moment sends nothing."""
    ws, inbox, _base, _drain = loop
    at = lambda text: parse_instant(text, what="test")  # noqa: E731
    ws.compile(ws.campaign("invitation-hiver"))
    assert ws.register_for_event("hiver", 1, now=at(BEFORE)).value == "registered"
    plan = ws.run(now=at(BEFORE), dry_run=True)
    assert any("confirmation event:hiver:confirmation:0: would send 1" in n for n in plan.notes)
    assert ws.run(now=at(BEFORE)).sent == 1  # the confirmation
    assert ws.run(now=at(BEFORE)).sent == 0
    eve = at("2027-03-25T12:00:00+01:00")
    assert ws.run(now=eve).sent == 1  # the P1D reminder
    assert ws.run(now=eve).sent == 0
    subjects = [str(m["Subject"]) for m in inbox.to("personne1@aom1.example.org")]
    assert sum(s.startswith("Inscription confirmée") for s in subjects) == 1
    assert sum(s.startswith("Rappel") for s in subjects) == 1


def test_a_dry_run_until_a_date_foresees_the_reminders_falling_due_by_then(loop) -> None:
    """`run --dry-run --until` lists each reminder whose offset falls in the window, with its
    moment and today's registrants; one already sent or outside the window is not listed."""
    ws, _inbox, _base, _drain = loop
    at = lambda text: parse_instant(text, what="test")  # noqa: E731
    ws.compile(ws.campaign("invitation-hiver"))
    assert ws.register_for_event("hiver", 1, now=at(BEFORE)).value == "registered"
    assert ws.register_for_event("hiver", 3, now=at(BEFORE)).value == "registered"

    def reminders(now: str, until: str) -> list[str]:
        plan = ws.run(now=at(now), until=at(until), dry_run=True)
        return sorted(n for n in plan.notes if n.startswith("event reminders: "))

    # the event starts 2027-03-26 10:00 in Paris (+01:00): P1D falls due at 09:00 UTC the day
    # before, PT1H at 08:00 UTC on the day
    assert reminders(BEFORE, "2027-03-26T12:00:00+01:00") == [
        "event reminders: reminder event:hiver:reminder:P1D: would send 2 at 2027-03-25 09:00"
        " UTC (to today's registrants)",
        "event reminders: reminder event:hiver:reminder:PT1H: would send 2 at 2027-03-26 08:00"
        " UTC (to today's registrants)",
    ]
    plan = ws.run(now=at(BEFORE), until=at("2027-03-26T12:00:00+01:00"), dry_run=True)
    assert (plan.foreseen, plan.sent) == (2 + 2 + 2, 0)  # 2 confirmations owed, 2 × 2 reminders
    assert reminders(BEFORE, "2027-03-25T09:59:00+01:00") == []  # a minute short of P1D
    assert ws.run(now=at(BEFORE)).sent == 2  # the two confirmations; nothing sent by the plans
    eve = at("2027-03-25T12:00:00+01:00")
    assert ws.run(now=eve).sent == 2  # the P1D reminder, really sent now
    assert reminders("2027-03-25T12:00:00+01:00", "2027-03-26T12:00:00+01:00") == [
        "event reminders: reminder event:hiver:reminder:PT1H: would send 2 at 2027-03-26 08:00"
        " UTC (to today's registrants)",
    ]
