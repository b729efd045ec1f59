"""commskit inbox over Maildir and mbox: each class, matching, idempotence, the timeline, CLI."""

from __future__ import annotations

import json
import mailbox
from pathlib import Path

import pytest
from click.testing import CliRunner

from commskit.cli import main
from commskit.errors import InboxError

from .conftest import PEOPLE, SIX, Sent, six_messages


def _maildir(path: Path, *raws: bytes) -> Path:
    box = mailbox.Maildir(path, create=True)
    for raw in raws:
        box.add(raw)
    box.close()
    return path


def _classes(report) -> dict[str, tuple[str, str, str]]:
    """{contact: (class, campaign, detail)} of the messages read now."""
    return {
        line.contact: (line.kind, line.campaign, line.detail) for line in report.read if line.new
    }


def test_maildir_classifies_each_message_and_rereading_records_nothing(sent: Sent, tmp_path):
    ws = sent.ws
    box = _maildir(tmp_path / "Maildir", *six_messages(sent))
    report = ws.read_inbox(box)
    got = _classes(report)
    assert {address: got[address][0] for _m, address, _k in SIX} == {
        address: kind for _m, address, kind in SIX
    }
    # the quoted reply by its In-Reply-To, the other by From + "RE:" (the latest send to them)
    assert got[PEOPLE[0]][1] == "nouvelles"
    assert got[PEOPLE[1]][1] == "atelier-invitation"
    assert got[PEOPLE[2]] == ("auto_reply", "nouvelles", "back 2027-01-04")
    assert got[PEOPLE[3]][2] == "accepted atelier → registered"
    assert report.problems == []
    # the bounce code path acted: the hard bounce and the unsubscribe are suppressions
    assert ws.contacts.suppression(PEOPLE[4]) == "bounced"
    assert ws.contacts.suppression(PEOPLE[5], "webinaires") == "unsubscribed"
    statuses = {
        r.contact_id: r.status
        for r in ws.store.events.registrations(ws.store.events.get("atelier").id)
    }
    assert statuses[ws.contacts.get(PEOPLE[3]).id] == "registered"

    again = ws.read_inbox(box)
    assert (again.messages, again.already_read, again.counts) == (6, 6, {})
    assert again.bounces.hard == 0
    assert again.bounces.unsubscribes == 0
    # nothing is ever deleted from the mailbox
    assert len(mailbox.Maildir(box, create=False)) == 6


def test_reply_excerpt_and_timeline(sent: Sent, tmp_path):
    ws = sent.ws
    ws.read_inbox(_maildir(tmp_path / "m", *six_messages(sent)))
    [row] = [r for r in ws.store.inbox.messages(ws.contacts.get(PEOPLE[0]).id)]
    assert row.excerpt == (
        "Merci pour ces nouvelles : nous voulons lancer une ligne l'an prochain.\n"
        "Pouvez-vous m'appeler la semaine prochaine ?"
    )
    timeline = ws.contacts.show(PEOPLE[0]).timeline
    kinds = [t["kind"] for t in timeline]
    # the sends and the invitation share their second; the reply came minutes later
    assert sorted(kinds[:3]) == ["invited", "sent", "sent"]
    assert kinds[3:] == ["reply"]
    assert timeline[-1]["summary"].startswith("Merci pour ces nouvelles")
    assert [t["at"] for t in timeline] == sorted(t["at"] for t in timeline)
    assert "auto_reply" in [t["kind"] for t in ws.contacts.show(PEOPLE[2]).timeline]
    assert "registered" in [t["kind"] for t in ws.contacts.show(PEOPLE[3]).timeline]
    assert "hard bounce" in [t["kind"] for t in ws.contacts.show(PEOPLE[4]).timeline]
    assert "unsubscribed" in [t["kind"] for t in ws.contacts.show(PEOPLE[5]).timeline]
    everyone = ws.timeline(since="1d")
    assert {r["email"] for r in everyone if r["kind"] == "reply"} == {PEOPLE[0], PEOPLE[1]}
    assert ws.timeline(since="2000-01-01") == everyone


def test_mbox_dry_run_changes_nothing(sent: Sent, tmp_path):
    ws = sent.ws
    path = tmp_path / "inbox.mbox"
    box = mailbox.mbox(path)
    for raw in six_messages(sent):
        box.add(raw)
    box.close()
    report = ws.read_inbox(path, dry_run=True)
    assert sorted(line.kind for line in report.read) == sorted(kind for _m, _a, kind in SIX)
    assert ws.contacts.suppression(PEOPLE[4]) is None
    assert ws.contacts.suppression(PEOPLE[5], "webinaires") is None
    assert ws.store.inbox.messages(ws.contacts.get(PEOPLE[0]).id) == []
    real = ws.read_inbox(path)
    assert sum(real.counts.values()) == 6


def test_stage_and_tag_changes_on_import_reach_the_timeline(sent: Sent):
    ws = sent.ws
    path = ws.path("contacts/update.csv")
    path.write_text(
        f"Courriel;Étape;Étiquettes\n{PEOPLE[0]};joined;atelier-2027\n{PEOPLE[1]};prospect;\n",
        encoding="utf-8",
    )
    ws.contacts.import_file(path)
    lines = {(t["kind"], t["summary"]) for t in ws.contacts.show(PEOPLE[0]).timeline}
    assert ("stage", "prospect → joined") in lines
    assert ("tags", " → atelier-2027") in lines
    # an unchanged value records nothing
    assert not [t for t in ws.contacts.show(PEOPLE[1]).timeline if t["kind"] in {"stage", "tags"}]
    ws.contacts.import_file(path)
    assert len([t for t in ws.contacts.show(PEOPLE[0]).timeline if t["kind"] == "stage"]) == 1


def test_a_bad_message_is_reported_and_skipped(sent: Sent, tmp_path):
    ws = sent.ws
    box = _maildir(tmp_path / "m", b"\x00\xff garbage", six_messages(sent)[0])
    report = ws.read_inbox(box)
    assert report.counts.get("reply") == 1
    assert report.counts.get("other") == 1  # bytes that are no mail at all: nobody's, recorded


def test_cli_inbox_json_and_timeline(sent: Sent, tmp_path):
    root = str(sent.ws.root)
    sent.ws.close()
    box = _maildir(tmp_path / "m", *six_messages(sent))
    runner = CliRunner()
    dry = runner.invoke(main, ["-C", root, "inbox", str(box), "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    data = json.loads(dry.stdout)
    assert {(r["contact"], r["kind"]) for r in data["read"]} == {(a, k) for _m, a, k in SIX}
    result = runner.invoke(main, ["-C", root, "inbox", str(box)])
    assert result.exit_code == 0, result.output
    assert "2 reply, 1 auto_reply, 1 calendar_reply, 1 bounce" in result.stdout
    shown = runner.invoke(main, ["-C", root, "contacts", "show", PEOPLE[0]])
    assert "Timeline" in shown.stdout
    assert "Merci pour ces nouvelles" in shown.stdout
    listed = runner.invoke(main, ["-C", root, "contacts", "timeline", "--since", "30d", "--json"])
    assert listed.exit_code == 0, listed.output
    assert {r["kind"] for r in json.loads(listed.stdout)} >= {"sent", "reply", "auto_reply"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{tmp}/nowhere", "mailbox not found"),
        ("{tmp}", "is a folder but not a Maildir"),
        ("imap://equipe@mail.example.org/INBOX", "plain imap:// to mail.example.org"),
        ("imaps://equipe@127.0.0.1:9/INBOX", "no IMAP password"),
        ("pop3://equipe@mail.example.org/", "unknown mailbox scheme"),
    ],
)
def test_bad_mailboxes_are_one_line(ws, tmp_path, monkeypatch, spec, message):
    monkeypatch.delenv("COMMSKIT_IMAP_PASSWORD", raising=False)
    with pytest.raises(InboxError, match=message):
        ws.read_inbox(spec.format(tmp=tmp_path))
    result = CliRunner().invoke(main, ["-C", str(ws.root), "inbox", spec.format(tmp=tmp_path)])
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2


def test_unreadable_maildir_is_one_line(ws, tmp_path):
    box = _maildir(tmp_path / "locked")
    (box / "cur").chmod(0)
    try:
        if (box / "cur").stat().st_mode and __import__("os").access(
            box / "cur", __import__("os").R_OK
        ):
            pytest.skip("running as root: permissions do not stop reading")
        result = CliRunner().invoke(main, ["-C", str(ws.root), "inbox", str(box)])
        assert result.exit_code == 1
        assert "cannot read the mailbox" in result.stderr
    finally:
        (box / "cur").chmod(0o700)


def test_a_reply_delivered_to_the_verp_address_is_matched_by_its_token(sent: Sent, tmp_path):
    """An auto-responder answering the envelope sender: no In-Reply-To, a From we do not know,
    but the VERP token of the address it reached names the send."""
    ws = sent.ws
    original = sent.message("nouvelles", PEOPLE[6])
    [row] = ws.store.sends.sent_rows(message_ids=[str(original["Message-ID"])])
    raw = (
        f"Delivered-To: bounces+nouvelles.{row.token}@bounce.example.org\r\n"
        "From: accueil@autre.example.org\r\nSubject: Votre message\r\n"
        "Message-ID: <verp-7@autre.example.org>\r\n\r\nNous transmettons au service.\r\n"
    ).encode()
    report = ws.read_inbox(_maildir(tmp_path / "m", raw))
    assert [(r.kind, r.contact, r.campaign) for r in report.read] == [
        ("reply", PEOPLE[6], "nouvelles")
    ]


def test_timeline_since_must_be_understood(ws):
    result = CliRunner().invoke(
        main, ["-C", str(ws.root), "contacts", "timeline", "--since", "7 jours"]
    )
    assert result.exit_code == 1
    assert "cannot understand --since '7 jours'" in result.stderr
    assert "Traceback" not in result.stderr
