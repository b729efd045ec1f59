"""Hostile bounce mailboxes (issue 11 item 8): forged reports never suppress, one message never
stops the run, and an address we never mailed is never stored in clear.

Every test sends a real campaign to the Maildir outbox first, with a VERP envelope sender, so the
send log holds the deterministic Message-IDs and VERP addresses a genuine report quotes.
"""

from __future__ import annotations

import email
import email.policy
import mailbox
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from commskit.cli import main
from commskit.workspace import Workspace

VERP = "bounces+{campaign}.{token}@bounce.example.org"


@dataclass(frozen=True)
class Sent:
    rcpt: str
    mail_from: str
    message_id: str


@dataclass
class SentCampaign:
    ws: Workspace
    messages: list[Sent]

    def state_bytes(self) -> bytes:
        """Return the bytes of state.db and its WAL (after closing, so nothing is in memory)."""
        self.ws.close()
        state = self.ws.state_dir
        return b"".join(
            p.read_bytes() for p in (state / "state.db", state / "state.db-wal") if p.exists()
        )


@pytest.fixture
def sent(ws: Workspace) -> Iterator[SentCampaign]:
    """The demo partners imported and the November newsletter sent to the outbox (VERP on)."""
    ws.contacts.import_file(ws.path("contacts/partenaires-demo.csv"))
    ws.close()
    verp = Workspace.open(ws.root, overrides={"sender": {"envelope_from": VERP}})
    verp.send("2026-11-infolettre", yes=True)
    messages = []
    for path in sorted((verp.state_dir / "outbox" / "new").iterdir()):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
        messages.append(
            Sent(
                rcpt=str(msg["Delivered-To"]),
                mail_from=str(msg["Return-Path"]).strip("<>"),
                message_id=str(msg["Message-ID"]),
            )
        )
    assert len(messages) >= 10
    assert messages[0].mail_from.startswith("bounces+2026-11-infolettre.")
    yield SentCampaign(verp, messages)
    verp.close()


def dsn(
    recipients: list[str],
    *,
    to: str = "infolettre@covoiturage.example.gouv.fr",
    status: str = "5.1.1",
    quoted_message_id: str | None = None,
    tag: str = "1",
) -> bytes:
    """Build an RFC 3464 report failing ``recipients`` (optionally quoting the original)."""
    blocks = "".join(
        f"Final-Recipient: rfc822; {r}\r\nAction: failed\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; 550 {status} <{r}>: user unknown\r\n\r\n"
        for r in recipients
    )
    quoted = ""
    if quoted_message_id is not None:
        quoted = (
            "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
            "From: infolettre@covoiturage.example.gouv.fr\r\n"
            f"To: {recipients[0] if recipients else 'x@example.net'}\r\n"
            f"Message-ID: {quoted_message_id}\r\nSubject: Infolettre\r\n\r\n"
        )
    return (
        f"From: MAILER-DAEMON@mx.example.net\r\nTo: {to}\r\nSubject: Undelivered Mail\r\n"
        f"Message-ID: <dsn-{tag}@mx.example.net>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"{blocks}{quoted}--b--\r\n"
    ).encode()


def arf(victim: str, message_id: str, tag: str = "1") -> bytes:
    """Build an ARF (RFC 5965) complaint about ``victim`` quoting an original ``message_id``."""
    return (
        "From: fbl@mx.example.net\r\nTo: abuse@covoiturage.example.gouv.fr\r\n"
        f"Subject: Abuse report\r\nMessage-ID: <arf-{tag}@mx.example.net>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nThis is an abuse report.\r\n"
        "--b\r\nContent-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\nUser-Agent: fbl/1.0\r\nVersion: 1\r\n"
        f"Original-Rcpt-To: {victim}\r\n\r\n"
        "--b\r\nContent-Type: message/rfc822\r\n\r\n"
        f"From: infolettre@covoiturage.example.gouv.fr\r\nTo: {victim}\r\n"
        f"Message-ID: {message_id}\r\nSubject: Infolettre\r\n\r\nBonjour\r\n--b--\r\n"
    ).encode()


def nested_rfc822(depth: int) -> bytes:
    """A message made of ``depth`` message/rfc822 parts, each enclosing the next."""
    raw = b"Content-Type: text/plain\r\n\r\nhello\r\n"
    for _ in range(depth):
        raw = b"From: a@example.net\r\nContent-Type: message/rfc822\r\n\r\n" + raw
    return raw


def maildir(path: Path, *messages: bytes) -> Path:
    box = mailbox.Maildir(path, create=True)
    for raw in messages:
        box.add(raw)
    box.close()
    return path


def test_forged_reports_suppress_nobody(sent: SentCampaign, tmp_path: Path) -> None:
    ws = sent.ws
    contacts = [c.email for c in ws.contacts.list()]
    mailed = {m.rcpt for m in sent.messages}
    strangers = [f"stranger{i}@elsewhere.example" for i in range(350)]
    victim = sent.messages[0]
    local, _, domain = victim.mail_from.partition("@")
    forged_verp = f"{local[:-16]}{'0' * 16}@{domain}"
    box = maildir(
        tmp_path / "forged",
        # one report naming every contact and 350 addresses never mailed (500 recipients)
        dsn(contacts + strangers, tag="wipe"),
        # a well-formed VERP address with a token we never issued
        dsn([victim.rcpt], to=forged_verp, tag="verp"),
        # a complaint quoting a Message-ID of our form that we never sent
        arf(victim.rcpt, victim.message_id.replace("@", "0@"), tag="arf"),
        # a report for an address we never mailed at all
        dsn(["never-mailed@elsewhere.example"], tag="never"),
        # a genuine Message-ID of ours, quoted in a report about two other people
        dsn(
            [sent.messages[1].rcpt, sent.messages[2].rcpt],
            quoted_message_id=victim.message_id,
            tag="m",
        ),
    )
    report = ws.read_bounces(box)
    assert report.messages == 5
    assert report.suppressed == []
    assert (report.hard, report.soft, report.complaints) == (0, 0, 0)
    assert report.unmatched == 5
    assert all(ws.contacts.suppression(e) is None for e in contacts)
    assert mailed <= set(contacts)
    # recorded (so a re-read counts nothing twice), but never in clear
    again = ws.read_bounces(box)
    assert (again.already_read, again.unmatched) == (5, 0)
    data = sent.state_bytes()
    for address in [*strangers, "never-mailed@elsewhere.example"]:
        assert address.encode() not in data, address


def test_a_report_is_matched_by_the_message_id_we_sent(sent: SentCampaign, tmp_path: Path) -> None:
    """No VERP on the bounce (sent to the From address): the quoted Message-ID proves it."""
    ws = sent.ws
    target, other = sent.messages[3], sent.messages[4]
    box = maildir(
        tmp_path / "mid",
        # the report also names 499 other addresses (one of them a contact we mailed): only the
        # recipient of the quoted message is ours to act on
        dsn(
            [target.rcpt, other.rcpt, *(f"n{i}@elsewhere.example" for i in range(498))],
            quoted_message_id=target.message_id,
        ),
    )
    report = ws.read_bounces(box)
    assert report.suppressed == [target.rcpt]
    assert report.hard == 1
    assert ws.contacts.suppression(target.rcpt) == "bounced"
    assert ws.contacts.suppression(other.rcpt) is None


def test_a_genuine_verp_report_names_only_its_recipient(sent: SentCampaign, tmp_path: Path) -> None:
    ws = sent.ws
    target = sent.messages[5]
    others = [m.rcpt for m in sent.messages if m != target]
    box = maildir(tmp_path / "verp", dsn([*others, target.rcpt], to=target.mail_from))
    report = ws.read_bounces(box)
    assert report.suppressed == [target.rcpt]
    assert all(ws.contacts.suppression(e) is None for e in others)


def test_a_complaint_quoting_our_message_suppresses_its_recipient(
    sent: SentCampaign, tmp_path: Path
) -> None:
    ws = sent.ws
    target = sent.messages[6]
    # the feedback loop redacted the address: the Message-ID still says who it was
    box = maildir(tmp_path / "arf", arf("redacted@example.net", target.message_id))
    report = ws.read_bounces(box)
    assert report.complaints == 1
    assert report.suppressed == [target.rcpt]
    assert ws.contacts.suppression(target.rcpt) == "complained"


def test_an_unreadable_message_is_recorded_skipped_and_not_reread(
    sent: SentCampaign, tmp_path: Path
) -> None:
    ws = sent.ws
    target = sent.messages[7]
    box = maildir(
        tmp_path / "nested",
        nested_rfc822(300),
        dsn([target.rcpt], to=target.mail_from, tag="ok"),
        nested_rfc822(1000),
    )
    report = ws.read_bounces(box)
    assert report.messages == 3
    assert report.unreadable == 2
    assert len(report.problems) == 2
    assert all("recorded and skipped" in p for p in report.problems)
    assert report.suppressed == [target.rcpt]
    again = ws.read_bounces(box)
    assert (again.already_read, again.unreadable, again.problems) == (3, 0, [])


def test_dry_run_records_nothing(sent: SentCampaign, tmp_path: Path) -> None:
    ws = sent.ws
    target = sent.messages[8]
    box = maildir(
        tmp_path / "dry", nested_rfc822(400), dsn([target.rcpt], to=target.mail_from, tag="d")
    )
    dry = ws.read_bounces(box, dry_run=True)
    assert (dry.hard, dry.unreadable, dry.suppressed) == (1, 1, [])
    assert ws.contacts.suppression(target.rcpt) is None
    real = ws.read_bounces(box)
    assert (real.already_read, real.hard, real.unreadable) == (0, 1, 1)


def test_soft_bounces_count_only_when_matched(sent: SentCampaign, tmp_path: Path) -> None:
    ws = sent.ws
    target = sent.messages[9]
    forged = [dsn([target.rcpt], status="4.2.2", tag=f"forged{i}") for i in range(5)]
    report = ws.read_bounces(maildir(tmp_path / "soft-forged", *forged))
    assert (report.soft, report.unmatched) == (0, 5)
    assert ws.contacts.suppression(target.rcpt) is None
    genuine = [
        dsn([target.rcpt], status="4.2.2", to=target.mail_from, tag=f"real{i}") for i in range(3)
    ]
    report = ws.read_bounces(maildir(tmp_path / "soft-real", *genuine))
    assert report.soft == 3
    assert ws.contacts.suppression(target.rcpt) == "bounced"


def test_erasure_removes_an_unmatched_report(sent: SentCampaign, tmp_path: Path) -> None:
    ws = sent.ws
    address = "someone@elsewhere.example"
    ws.read_bounces(maildir(tmp_path / "b", dsn([address], tag="e")))
    db = ws.state_dir / "state.db"

    def events() -> int:
        with closing(sqlite3.connect(db)) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM bounce_events").fetchone()[0])

    assert events() == 1
    ws.contacts.forget(address)
    assert events() == 0


def test_cli_says_what_was_not_matched_or_read(sent: SentCampaign, tmp_path: Path) -> None:
    box = maildir(tmp_path / "cli", nested_rfc822(500), dsn(["nobody@elsewhere.example"]))
    sent.ws.close()
    result = CliRunner().invoke(main, ["-C", str(sent.ws.root), "bounces", str(box)])
    assert result.exit_code == 0, result.output
    assert "1 unmatched, 1 unreadable, 0 already read" in result.stdout
    assert "Suppressed 0 address(es)." in result.stdout
    assert "cannot be read (parts nested too deep): recorded and skipped" in result.stderr
    assert "set [sender] envelope_from" in result.stderr
    assert "Traceback" not in result.output


def test_addresses_stored_before_migration_0009_are_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from commskit.store import db

    every = db._migrations
    monkeypatch.setattr(db, "_migrations", lambda: [m for m in every() if m[0] < 9])
    old = Workspace.init(tmp_path / "old")
    old.store.conn.execute(
        "INSERT INTO bounce_events (message_key, email, kind, received_at)"
        " VALUES ('k', 'stranger@elsewhere.example', 'hard', '2026-01-01')"
    )
    old.close()
    monkeypatch.setattr(db, "_migrations", every)
    ws = Workspace.open(tmp_path / "old")
    report = ws.read_bounces(maildir(tmp_path / "empty"))
    assert report.messages == 0
    ws.close()
    state = ws.state_dir
    data = b"".join(p.read_bytes() for p in state.iterdir() if p.name.startswith("state.db"))
    assert b"stranger@elsewhere.example" not in data
    db_path = state / "state.db"
    with closing(sqlite3.connect(db_path)) as conn:
        row = conn.execute("SELECT email, email_hash, matched FROM bounce_events").fetchone()
    assert row == (None, ws.contacts.hash("stranger@elsewhere.example"), 1)
    ws.contacts.forget("stranger@elsewhere.example")  # erasure still finds the hashed row
    with closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM bounce_events").fetchone()[0] == 0
    ws.close()
