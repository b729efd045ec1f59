"""The runner with the Maildir outbox: pre-flight, the send log, resumes."""

from __future__ import annotations

import mailbox
from email import message_from_bytes, policy

import pytest

from commskit.errors import CampaignChangedError, PreflightError, TemplateError
from commskit.send import SendOptions

YES = SendOptions(yes=True)


def outbox_messages(ws):
    box = mailbox.Maildir(ws.path("out/outbox"), create=False)
    return [message_from_bytes(m.as_bytes(), policy=policy.default) for m in box]


def test_send_to_outbox_logs_every_recipient_and_headers(ws, make_runner, people):
    runner = make_runner(people(5))
    report = runner.run(YES)
    assert report.sent == 5
    assert report.counts["sent"] == 5
    msgs = outbox_messages(ws)
    assert len(msgs) == 5
    ids = {str(m["Message-ID"]) for m in msgs}
    assert len(ids) == 5
    assert all(i.startswith("<2026-11-infolettre.") and i.endswith("@example.org>") for i in ids)
    first = msgs[0]
    assert first["List-Unsubscribe"].startswith("<https://lettres.example.org/u?t=tok")
    assert "mailto:desabonnement@example.org" in first["List-Unsubscribe"]
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert first["Feedback-ID"].endswith(":commskit:mobilites")
    # the VERP envelope sender is visible in the outbox's Return-Path line
    assert first["Return-Path"].startswith("<bounces+2026-11-infolettre.")


def test_rerun_sends_nothing_twice(ws, make_runner, people):
    make_runner(people(4)).run(YES)
    report = make_runner(people(6)).run(YES)
    assert report.preflight.already_sent == 4
    assert report.sent == 2
    assert len(outbox_messages(ws)) == 6


def test_message_id_is_deterministic_per_campaign_and_recipient(make_runner, people):
    a = make_runner(people(1))
    b = make_runner(people(1))
    a, b = a.identity, b.identity
    key = a.recipient_key(people(1)[0])
    assert a.message_id(a.token(key)) == b.message_id(b.token(key))
    other = make_runner(people(1), campaign_id="autre").identity
    assert other.message_id(other.token(key)) != a.message_id(a.token(key))


def test_dry_run_writes_nothing(ws, make_runner, people):
    report = make_runner(people(3)).run(SendOptions(dry_run=True))
    assert report.preflight.to_send == 3
    assert report.sent == 0
    assert ws.store.sends.campaign("2026-11-infolettre") is None
    assert ws.store.sends.counts("2026-11-infolettre")["pending"] == 0
    assert not ws.path("out/outbox").exists()


def test_undefined_variable_stops_before_anything_is_sent(ws, make_runner, people, doubles):
    recipients = [*people(3), doubles.Person(99, "sans-prenom@example.net", first_name=None)]
    with pytest.raises(TemplateError, match=r"sans-prenom@example\.net"):
        make_runner(recipients).run(YES)
    assert ws.store.sends.campaign("2026-11-infolettre") is None
    assert not ws.path("out/outbox").exists()


def test_compose_check_errors_stop_the_send(ws, make_runner, people, doubles):
    compiled = doubles.CompiledDouble(
        issues=[doubles.Issue("error", "no-unsubscribe", "no unsubscribe link in the body")]
    )
    with pytest.raises(PreflightError, match="no-unsubscribe"):
        make_runner(people(2), compiled=compiled).run(YES)
    assert ws.store.sends.campaign("2026-11-infolettre") is None


def test_preflight_counts_suppressed_invalid_duplicate(ws, make_runner, people, doubles):
    recipients = [
        *people(3),
        doubles.Person(10, "P1@example.net"),  # same address as contact 1, other case
        doubles.Person(11, "not an address"),
    ]
    runner = make_runner(recipients, suppressed={"p2@example.net": "unsubscribed"})
    report = runner.run(YES)
    pre = report.preflight
    assert (pre.total, pre.to_send, pre.suppressed, pre.invalid, pre.duplicate) == (5, 2, 1, 1, 1)
    counts = report.counts
    assert counts["sent"] == 2
    assert counts["suppressed"] == 1
    assert counts["skipped"] == 2
    assert sum(counts.values()) == 5


def test_bulk_send_needs_confirmation(ws, make_runner, people):
    with pytest.raises(PreflightError, match="--yes"):
        make_runner(people(2)).run(SendOptions())
    assert ws.store.sends.campaign("2026-11-infolettre") is None
    seen = []
    report = make_runner(people(2)).run(SendOptions(), confirm=lambda r: seen.append(r) or False)
    assert seen[0].to_send == 2
    assert report.stopped == "cancelled before sending"
    assert ws.store.sends.campaign("2026-11-infolettre") is None
    # one recipient needs no confirmation
    assert make_runner(people(1)).run(SendOptions()).sent == 1


def test_limit_sends_a_batch_and_the_rest_later(ws, make_runner, people):
    report = make_runner(people(5)).run(SendOptions(yes=True, limit=2))
    assert report.sent == 2
    assert report.counts["pending"] == 3
    assert "--limit 2" in (report.stopped or "")
    report = make_runner(people(5)).run(YES)
    assert report.sent == 3
    assert len(outbox_messages(ws)) == 5


def test_test_address_sends_one_copy_without_touching_the_log(ws, make_runner, people):
    report = make_runner(people(3)).run(SendOptions(test_address="moi@example.org"))
    assert report.sent == 1
    msgs = outbox_messages(ws)
    assert len(msgs) == 1
    assert msgs[0]["Delivered-To"] == "moi@example.org"
    # the partner's data fills the copy, but neither their address nor a working unsubscribe
    assert msgs[0]["To"] == "moi@example.org"
    # the job's sample fills the copy, never the first partner's data (issue 10 item 9)
    assert "Bonjour Dominique" in msgs[0].get_body(("plain",)).get_content()
    assert "Camille" not in msgs[0].as_string()
    assert msgs[0]["Subject"] == "[TEST] Infolettre de novembre"
    assert "t=test-copy" in msgs[0]["List-Unsubscribe"]
    assert ws.store.sends.campaign("2026-11-infolettre") is None


def test_changed_campaign_is_refused_on_resume(ws, make_runner, people, doubles):
    make_runner(people(4)).run(SendOptions(yes=True, limit=2))
    changed = doubles.CompiledDouble(fingerprint="fp-2")
    with pytest.raises(CampaignChangedError, match="--allow-changed"):
        make_runner(people(4), compiled=changed).run(YES)
    assert ws.store.sends.counts("2026-11-infolettre")["pending"] == 2
    report = make_runner(people(4), compiled=changed).run(SendOptions(yes=True, allow_changed=True))
    assert report.sent == 2
    assert ws.store.sends.campaign("2026-11-infolettre").fingerprint == "fp-2"


def test_outbox_resume_is_exactly_once_for_rows_left_sending(ws, make_runner, people):
    """A crash between the Maildir rename and 'sent' leaves 'sending': the resume finds the file."""
    runner = make_runner(people(3))
    runner.run(YES)
    repo = ws.store.sends
    # simulate the crash window for every row: the file is in new/, the log says 'sending'
    ws.store.conn.execute("UPDATE send_log SET status = 'sending', sent_at = NULL")
    report = make_runner(people(3)).run(YES)
    assert report.sent == 3
    assert len(outbox_messages(ws)) == 3
    assert repo.counts("2026-11-infolettre")["sent"] == 3


def test_suppressed_at_dispatch(ws, make_runner, people):
    """Suppression is asked again just before each message, not only at pre-flight."""
    suppressed: dict[str, str] = {}
    runner = make_runner(people(3), suppressed=suppressed)
    original = runner.job.suppression
    calls = []

    def later_unsubscribe(email, list_name):
        calls.append(email)
        if len(calls) == 4:  # pre-flight asked for all three; p1 is being sent, p3 leaves
            suppressed["p3@example.net"] = "unsubscribed"
        return original(email, list_name)

    runner.job.suppression = later_unsubscribe
    report = runner.run(YES)
    assert report.sent == 2
    assert report.suppressed_at_dispatch == 1
    assert {m["To"] for m in outbox_messages(ws)} == {"p1@example.net", "p2@example.net"}


def test_history_for_contacts_show(ws, make_runner, people):
    make_runner(people(2)).run(YES)
    rows = ws.store.sends.history(1)
    assert rows[0].campaign_id == "2026-11-infolettre"
    assert rows[0].status == "sent"
    assert set(rows[0]._fields) == {
        "campaign_id",
        "contact_id",
        "status",
        "sent_at",
        "updated_at",
        "error",
    }


def test_plain_addresses_once_per_period(ws, make_runner):
    """The veille digest goes to [digest] recipients (no contact rows), once per period id."""
    from commskit.send.jobs import address_recipients

    team = address_recipients(["equipe@example.org", " veille@example.org ", ""])
    first = make_runner(team, campaign_id="digest-veille-2026-W47").run(YES)
    assert first.sent == 2
    again = make_runner(team, campaign_id="digest-veille-2026-W47").run(YES)
    assert again.sent == 0
    assert again.preflight.already_sent == 2
    nxt = make_runner(team, campaign_id="digest-veille-2026-W48").run(YES)
    assert nxt.sent == 2
    assert len(outbox_messages(ws)) == 4
