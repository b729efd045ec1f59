"""ws.send with the real compose and audience stages, over a real SMTP server."""

from __future__ import annotations

import email
import email.policy

import pytest

from commskit.errors import PreflightError
from commskit.workspace import Workspace

CAMPAIGN = "2026-11-infolettre"
# a sender of our own: the shipped example one is refused outside the outbox (issue 10)
SENDER = "Équipe Covoiturage du quotidien <infolettre@mobilites-territoires.fr>"


def smtp_ws(ws: Workspace, url: str, **transport: object) -> Workspace:
    return Workspace.open(
        ws.root, overrides={"transport": {"url": url, **transport}, "sender": {"from": SENDER}}
    )


def test_send_campaign_end_to_end(partners, smtp_server):
    server = smtp_server()
    ws = smtp_ws(partners, server.url)
    expected = {c.email for c in ws.segment("aom-bretagne")}
    report = ws.send(CAMPAIGN, yes=True)
    assert report.sent == len(expected) == 17
    got = server.handler.by_rcpt()
    assert set(got) == expected
    msg = email.message_from_bytes(got[sorted(expected)[0]][0].data, policy=email.policy.default)
    # the one-click URL carries an audience token that verifies for this contact and list
    from commskit.audience.tokens import verify_token

    header = str(msg["List-Unsubscribe"])
    token = header.split("?t=", 1)[1].split(">", 1)[0]
    contact_id, list_name = verify_token(ws.secret, token)
    assert list_name == "infolettre"
    assert ws.contacts.get_by_id(contact_id).email == msg["To"].addresses[0].addr_spec
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert str(msg["Message-ID"]).startswith(f"<{CAMPAIGN}.")
    # contacts show reads the history from the send log
    history = ws.send_history(contact_id)
    assert history[0]["campaign_id"] == CAMPAIGN
    assert history[0]["status"] == "sent"
    status = ws.send_status(CAMPAIGN)[0]
    assert status["sent"] == 17
    assert status["total"] == 17
    ws.close()


def test_unsubscribe_mid_campaign_stops_later_sends(partners, smtp_server, doubles):
    ws = partners
    recipients = [c.email for c in ws.segment("aom-bretagne")]
    last = recipients[-1]
    other = Workspace.open(ws.root)  # a second connection, as `commskit serve` would have

    def on_first_rcpt(address, n):
        if address == recipients[0]:
            other.contacts.unsubscribe(last, "infolettre", source="test")
        return None

    server = smtp_server(doubles.Script(rcpt=on_first_rcpt))
    sender = smtp_ws(ws, server.url)
    # one connection, so the first recipient is handled before the last is dispatched
    sender_settings = smtp_ws(ws, server.url, concurrency=1)
    report = sender_settings.send(CAMPAIGN, yes=True)
    assert last not in server.handler.by_rcpt()
    assert report.suppressed_at_dispatch == 1
    assert report.counts["suppressed"] == 1
    assert report.counts["sent"] == len(recipients) - 1
    for w in (other, sender, sender_settings):
        w.close()


def test_suppressed_contacts_are_counted_not_sent(partners, smtp_server):
    ws = partners
    first = next(iter(ws.segment("aom-bretagne")))
    ws.contacts.suppress(first.email, "bounced", source="test")
    server = smtp_server()
    report = smtp_ws(ws, server.url).send(CAMPAIGN, yes=True)
    assert report.preflight.suppressed == 1
    assert first.email not in server.handler.by_rcpt()
    assert report.counts["suppressed"] == 1


def test_hard_bounce_suppresses_the_contact(partners, smtp_server, doubles):
    ws = partners
    victim = next(iter(ws.segment("aom-bretagne"))).email
    script = doubles.Script(rcpt=lambda a, n: "550 5.1.1 user unknown" if a == victim else None)
    server = smtp_server(script)
    smtp_ws(ws, server.url).send(CAMPAIGN, yes=True)
    assert ws.contacts.suppression(victim) == "bounced"


def test_empty_audience_is_refused(partners):
    with pytest.raises(PreflightError, match="selects nobody"):
        partners.send(CAMPAIGN, yes=True, audience='region = "Nulle-part"')
    assert partners.send_status() == []


def test_progress_reports_total_and_every_message(partners, smtp_server):
    server = smtp_server()
    calls = []

    def progress(n=1, total=None, description=None):
        calls.append((n, total, description))

    report = smtp_ws(partners, server.url).send(CAMPAIGN, yes=True, progress=progress)
    assert calls[0] == (0, 17, f"Sending {CAMPAIGN}")
    assert sum(n for n, _t, _d in calls) == report.sent == 17


def test_contacts_show_lists_the_campaigns(partners, smtp_server):
    from click.testing import CliRunner

    from commskit.cli import main

    server = smtp_server()
    smtp_ws(partners, server.url).send(CAMPAIGN, yes=True)
    email_address = next(iter(partners.segment("aom-bretagne"))).email
    result = CliRunner().invoke(
        main, ["-C", str(partners.root), "contacts", "show", email_address, "--json"]
    )
    assert result.exit_code == 0, result.output
    assert CAMPAIGN in result.stdout
    assert '"sent"' in result.stdout
