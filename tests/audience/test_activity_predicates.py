"""Activity predicates in segments: received, replied, bounced, unsubscribed, stage_changed,
with their windows, over a real workspace (rows written through the store's own functions)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from commskit.audience.segments import compile_segment
from commskit.errors import SegmentError

NOW = datetime(2026, 12, 15, 9, 0, tzinfo=UTC)


@pytest.fixture
def people(ws):
    ws.contacts.import_file(ws.path("contacts/partenaires-demo.csv"))
    contacts = sorted(ws.segment("all", include_suppressed=True), key=lambda c: c.id)
    return ws, contacts


def emails(ws, expression):
    return {c.email for c in ws.contacts.segment(expression, include_suppressed=True, now=NOW)}


def reply(ws, contact, campaign, when, key):
    ws.store.activity.record_message(
        message_key=key,
        kind="reply",
        contact_id=contact.id,
        campaign_id=campaign,
        received_at=when,
    )


def test_replied_any_campaign_one_and_window(people):
    ws, c = people
    reply(ws, c[0], "2026-11-infolettre", "2026-12-10T10:00:00+00:00", "m1")
    reply(ws, c[1], "2026-12-webinaire", "2026-10-01T10:00:00+00:00", "m2")
    ws.store.activity.record_message(
        message_key="m3",
        kind="auto_reply",
        contact_id=c[2].id,
        campaign_id="2026-11-infolettre",
        received_at="2026-12-14T10:00:00+00:00",
    )
    assert emails(ws, "replied") == {c[0].email, c[1].email}
    assert emails(ws, 'replied("2026-11-infolettre")') == {c[0].email}
    assert emails(ws, "replied within 30d") == {c[0].email}
    assert emails(ws, "replied since 2026-09-01") == {c[0].email, c[1].email}
    assert emails(ws, 'replied("2026-12-webinaire") since "2026-11-01"') == set()
    # a reply the inbox matched to nobody must not hide everyone from "not replied"
    ws.store.activity.record_message(
        message_key="m4",
        kind="reply",
        contact_id=None,
        campaign_id=None,
        received_at="2026-12-14T10:00:00+00:00",
    )
    everyone = emails(ws, "all")
    assert emails(ws, "not replied") == everyone - {c[0].email, c[1].email}
    assert emails(ws, "not replied within 30d") == everyone - {c[0].email}
    # a recorded message is recorded once
    assert not ws.store.activity.record_message(
        message_key="m1", kind="reply", contact_id=c[3].id, campaign_id=None, received_at="x"
    )


def test_stage_changed_unsubscribed_bounced(people):
    ws, c = people
    ws.store.activity.record_change(
        c[0].id, "stage", "invited", "joined", changed_at="2026-12-01T08:00:00+00:00"
    )
    ws.store.activity.record_change(
        c[1].id, "stage", "", "invited", changed_at="2026-06-01T08:00:00+00:00"
    )
    assert emails(ws, "stage_changed") == {c[0].email, c[1].email}
    assert emails(ws, "stage_changed within 30d") == {c[0].email}
    assert emails(ws, 'stage_changed("joined")') == {c[0].email}
    ws.contacts.unsubscribe(c[2].email, "infolettre", source="test")
    ws.contacts.suppress(c[3].email, "unsubscribed", source="test")  # every list
    assert emails(ws, 'unsubscribed("infolettre")') == {c[2].email, c[3].email}
    assert emails(ws, 'unsubscribed("webinaires")') == {c[3].email}
    assert emails(ws, "unsubscribed") == {c[2].email, c[3].email}
    with ws.store.transaction():
        ws.store.sends.record_bounce(
            message_key="b1",
            email_hash=ws.contacts.hash(c[4].email),
            matched=True,
            kind="hard",
            status="5.1.1",
            diagnostic=None,
            campaign_id="2026-11-infolettre",
        )
    assert emails(ws, "bounced") == {c[4].email}
    assert emails(ws, 'bounced("2026-11-infolettre") and not replied') == {c[4].email}


def test_received_reads_the_send_log(people):
    ws, _ = people
    report = ws.send("2026-11-infolettre", yes=True)
    assert report.sent > 0
    sent = {r["email"] for r in ws.send_report("2026-11-infolettre") if r["status"] == "sent"}
    assert emails(ws, 'received("2026-11-infolettre")') == sent
    # sent_at is the real time of the send: windows around the real now
    real = datetime.now(UTC)
    recent = ws.contacts.segment("received within 1d", include_suppressed=True, now=real)
    assert {p.email for p in recent} == sent
    assert emails(ws, "received since 2099-01-01") == set()
    assert emails(ws, 'received("2026-12-webinaire")') == set()


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ('replyed("x")', 'unknown predicate "replyed(…)"'),
        ("replied within 7 jours", 'expected a duration after "within"'),
        ("replied within 2026-11-01", 'expected a duration after "within"'),
        ("received since demain", 'expected a date or duration after "since"'),
    ],
)
def test_bad_activity_expressions_are_one_line_errors(expression, message):
    with pytest.raises(SegmentError) as err:
        compile_segment(expression, now=NOW)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_windows_count_back_from_the_clock(monkeypatch):
    monkeypatch.setenv("COMMSKIT_NOW", "2026-12-15T09:00:00+01:00")
    compiled = compile_segment("replied within 10d")
    assert compiled.params == ("2026-12-05T08:00:00+00:00",)
